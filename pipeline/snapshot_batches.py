"""A snapshot folder on several cores or machines: runs of its images analysed apart.

A camera's folder can hold thousands of snapshots; analysed as one part it kept one core (or
one Ray actor) busy while the rest waited. Every snapshot is detected on its own (nothing is
followed from one snapshot to the next), so a run of them needs nothing from its neighbours.

The folder is listed and time-sorted once, headers only, when the job claims its snapshots
(pipeline/ingest.py, prepare_job: the same listing decides which are new), and each batch
carries its own files: a worker never lists a folder again (a camera may still be
writing to it), so the batches always cover the listing exactly once. Frames are numbered by
their place in that listing; once the batches are back, ``renumber`` numbers them as one pass
over the whole folder would (a snapshot that failed to decode leaves no gap, offsets count
from the first decoded one), and people are tracked across batches afterwards
(pipeline/assemble.py). So any batch size, worker count or executor stores the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.assemble import FaceRows
from pipeline.errors import InputError
from pipeline.sources import SampledFrame, read_image

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotBatch:
    """Consecutive snapshots of a folder's time-sorted listing."""

    files: tuple[tuple[datetime, Path], ...]
    """(capture time, path) of each snapshot, oldest first."""
    first_index: int
    """Place of the first of them in the folder's listing."""


def plan_batches(files: Sequence[tuple[datetime, Path]], size: int) -> list[SnapshotBatch]:
    """The snapshots of a folder's listing (``scan_image_folder(folder).files``, or the part of
    it a job claimed: the ones not stored yet) in batches of ``size`` (0: one batch); always
    at least one batch, so an empty folder is still analysed (as a job of no frames)."""
    step = size if size > 0 else max(len(files), 1)
    return [
        SnapshotBatch(tuple(files[start : start + step]), start)
        for start in range(0, max(len(files), 1), step)
    ]


def batch_frames(batch: SnapshotBatch) -> Iterator[SampledFrame]:
    """Decode the batch's snapshots in order, skipping (and logging) those that fail.

    ``index`` is the snapshot's place in the folder's listing and ``offset_s`` counts from
    the batch's first snapshot; ``renumber`` makes both whole-folder.
    """
    for position, (timestamp, path) in enumerate(batch.files):
        try:
            image = read_image(path)
        except InputError as error:
            _log.warning("Skipping %s: %s", path, error.message)
            continue
        yield SampledFrame(
            index=batch.first_index + position,
            offset_s=(timestamp - batch.files[0][0]).total_seconds(),
            timestamp=timestamp,
            image=image,
            source_name=path.name,
        )


def renumber(parts: list[FaceRows]) -> None:
    """Number the frames of a folder's batches (in listing order) 0, 1, 2... and time them
    from the first decoded snapshot, in place: the numbers one pass over the folder gives."""
    listed = [row for part in parts for row in part.frames]
    if not listed:
        return
    first_ts = listed[0][2]
    index = {old: new for new, (old, *_) in enumerate(listed)}

    def offset(ts: object, old: float) -> float:
        if isinstance(ts, datetime) and isinstance(first_ts, datetime):
            return (ts - first_ts).total_seconds()
        return old

    for part in parts:
        part.frames = [(index[i], offset(ts, off), ts, n) for i, off, ts, n in part.frames]
        for row in part.faces:
            row["frame_index"] = index[row["frame_index"]]  # type: ignore[index]
            row["offset_s"] = offset(row["ts"], row["offset_s"])  # type: ignore[arg-type]
