"""The ``camera URL`` command: periodic grabs committed in small batches (jobs).

A live camera never ends, so its frames are committed every ``--batch`` snapshots: a crash
loses at most one batch, and the dashboard sees data within minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from urllib.parse import urlparse

from pipeline.analysis import AnalysisParams, analyse_frames
from pipeline.emotion.classifier import shared_classifier
from pipeline.faces import FaceFinder
from pipeline.sources import SampledFrame
from pipeline.sources.camera import iter_camera_frames
from pipeline.store import catalog, jobs
from pipeline.store.database import connect


def run_camera(args: argparse.Namespace, params: AnalysisParams) -> int:
    classifier = shared_classifier()
    finder = FaceFinder(params.detector, params.margin, min_face_px=params.min_face_px)
    camera = args.camera or urlparse(args.url).hostname or "camera"
    with connect(args.db) as con:
        campaign = catalog.get_campaign(con, args.campaign)
        stimulus = catalog.ensure_stimulus(con, campaign, args.stimulus, args.kind or "display")
        source = catalog.ensure_source(con, stimulus, "camera", camera)
    frames = iter_camera_frames(
        args.url,
        args.every,
        open_timeout_s=args.timeout,
        retries=args.retries,
        max_frames=args.max_frames,
    )
    batch: list[SampledFrame] = []
    total = 0

    def commit(chunk: list[SampledFrame]) -> int:
        digest = hashlib.sha256(f"{args.url}|{chunk[0].timestamp}|{len(chunk)}".encode())
        key = jobs.JobKey(source.source_id, digest.hexdigest(), params.digest(classifier.version))
        first = chunk[0].offset_s
        rebased = [
            SampledFrame(i, f.offset_s - first, f.timestamp, f.image, f.source_name)
            for i, f in enumerate(chunk)
        ]
        result = analyse_frames(
            rebased,
            finder,
            classifier,
            AnalysisParams(
                **{**params.__dict__, "min_track_hits": 1, "sample_fps": 1.0 / args.every}
            ),
        )
        with connect(args.db) as con:
            job_id = jobs.start_job(
                con,
                key,
                f"{camera} {chunk[0].timestamp:%Y-%m-%d %H:%M:%S}",
                params.as_json(),
                classifier.version,
                params.detector,
            )
            jobs.commit_job(con, job_id, source, result)
        print(
            f"{camera}: {len(chunk)} snapshots, {len(result.faces)} faces (job {job_id})",
            flush=True,
        )
        return len(result.faces)

    started = time.perf_counter()
    for frame in frames:
        batch.append(frame)
        if len(batch) >= args.batch:
            total += commit(batch)
            batch = []
    if batch:
        total += commit(batch)
    print(f"done: {total} faces in {time.perf_counter() - started:.0f} s")
    return 0
