"""One long video on several cores: time-range chunks analysed at once, joined afterwards.

Chunk boundaries depend only on the file and the analysis parameters (never on how many
workers run them): they sit on multiples of ``chunk_s`` rounded to whole detection periods
(``detect_every`` sampled frames), so every chunk starts on a detection frame and frame
numbers, detections and followed faces are the same as in one pass over the whole file. Each
chunk also detects on the first frame after its end, to follow faces up to its last frame;
people are linked across chunks afterwards (pipeline/assemble.py).

On one machine the chunks run on threads: decoding (FFmpeg), resizing (OpenCV) and inference
(onnxruntime) release the GIL, and threads share the loaded models instead of loading them once
per process. With ``--executor ray`` each chunk is one call to a Ray actor
(pipeline/ray_executor.py), so one long file spreads over a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from pipeline.analysis import AnalysisParams, FramePass
from pipeline.assemble import FaceRows
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.faces import FaceFinder
from pipeline.sources.frames import SampledFrame

PartT = TypeVar("PartT")

FrameSource = Callable[[float, float | None], Iterator[SampledFrame]]
"""frames(start_s, end_s): sampled frames of the file in [start_s, end_s)."""


@dataclass(frozen=True)
class Chunk:
    start_s: float
    end_s: float | None
    """None: to the end of the file."""
    emit_until: int | None
    """First sampling slot that belongs to the next chunk (None for the last chunk)."""


def plan_chunks(params: AnalysisParams, duration_s: float, chunk_s: float) -> list[Chunk]:
    """Chunks covering [params.start_s, params.end_s or the end of the file)."""
    end = duration_s if params.end_s is None else min(params.end_s, duration_s)
    if params.sample_fps <= 0 or chunk_s <= 0 or not math.isfinite(end):
        return [Chunk(params.start_s, params.end_s, None)]
    period = max(1, params.detect_every) / params.sample_fps  # seconds per detection frame
    length = max(1, round(chunk_s / period)) * period
    first = math.floor(params.start_s / length + 1e-9) + 1
    bounds = [k * length for k in range(first, math.ceil(end / length + 1e-9))]
    bounds = [b for b in bounds if params.start_s < b < end - 1e-9]
    starts = [params.start_s, *bounds]
    chunks = []
    for i, start in enumerate(starts):
        if i + 1 < len(starts):
            stop = starts[i + 1]
            chunks.append(Chunk(start, stop, round(stop * params.sample_fps)))
        else:
            chunks.append(Chunk(start, params.end_s, None))
    return chunks


def analyse_chunk(
    frames: FrameSource,
    chunk: Chunk,
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    params: AnalysisParams,
    on_frame: Callable[[SampledFrame, int], None] | None = None,
) -> FaceRows:
    """One chunk's rows, from any process that can read the file (a thread here, a Ray
    actor elsewhere): the same rows wherever it runs."""
    period = max(1, params.detect_every) / max(params.sample_fps, 1e-9)
    frame_pass = FramePass(finder, classifier, params, on_frame, chunk.emit_until)
    # Read one detection period past the end: the look-ahead frame lies in it.
    stop = chunk.end_s if chunk.emit_until is None else chunk.end_s + period  # type: ignore[operator]
    for frame in frames(chunk.start_s, stop):
        frame_pass.add(frame)
        if frame_pass.finished:
            break
    return frame_pass.close()


def run_chunks(
    analyse: Callable[[PartT], FaceRows], chunks: list[PartT], workers: int
) -> list[FaceRows]:
    """Each part's rows, in order (video chunks or snapshot batches); ``workers`` parts at a
    time on threads."""
    if workers <= 1 or len(chunks) == 1:
        return [analyse(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk") as pool:
        futures = [pool.submit(analyse, chunk) for chunk in chunks]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # A part failed (or Ctrl-C): the file fails, so the parts not started yet never
            # start; leaving the pool waits only for those already running.
            for future in futures:
                future.cancel()
            raise
