"""``--workers N``: analyse several files in parallel processes, commit them from this one.

DuckDB has one writer per file, so workers never touch it: each returns its tables (pickled
DataFrames) and the parent commits job by job. A Ray executor can replace the pool on the
same ``run_job`` seam.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from pipeline.analysis import AnalysisParams, JobResult
from pipeline.emotion.classifier import shared_classifier
from pipeline.errors import ReactionError
from pipeline.ingest import (
    IngestSummary,
    JobSpec,
    Target,
    finish_job,
    prepare_job,
    record_failure,
    run_job,
)
from pipeline.store import jobs


def _worker_init() -> None:
    # Each worker gets one intra-op thread: N processes x 1 thread fills N cores without
    # oversubscription.
    os.environ["EMOTION_THREADS"] = "1"
    os.environ["EMOTION_FILE_WORKERS"] = "1"


def _run(spec: JobSpec) -> tuple[JobResult, float]:
    started = time.perf_counter()
    return run_job(spec), time.perf_counter() - started


def ingest_parallel(
    paths: list[Path],
    targets: list[Target],
    params: AnalysisParams,
    workers: int,
    db_path: Path | None = None,
    force: bool = False,
) -> list[IngestSummary]:
    """Prepare every file (validation, idempotency) here, analyse in a pool, commit here."""
    version = shared_classifier().version
    summaries: list[IngestSummary] = []
    specs: list[JobSpec] = []
    for path, target in zip(paths, targets, strict=True):
        try:
            prepared = prepare_job("video", path, target, params, version, db_path, force)
        except ReactionError as error:
            summaries.append(IngestSummary(path.name, "failed", None, message=error.message))
            continue
        if isinstance(prepared, IngestSummary):
            summaries.append(prepared)
        else:
            specs.append(prepared)
    with (
        jobs.heartbeat(db_path, [spec.job_id for spec in specs]),
        ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool,
    ):
        futures = {pool.submit(_run, spec): spec for spec in specs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="files", unit="file"):
            spec = futures[future]
            try:
                result, seconds = future.result()
                stored = finish_job(spec, result, db_path)
            except Exception as error:  # one bad file must not lose the others
                record_failure(spec.job_id, error, db_path)
                message = error.message if isinstance(error, ReactionError) else str(error)
                summaries.append(
                    IngestSummary(spec.path.name, "failed", spec.job_id, message=message)
                )
                continue
            if not stored:
                summaries.append(
                    IngestSummary(
                        spec.path.name, "skipped", spec.job_id, message="already ingested"
                    )
                )
                continue
            summaries.append(
                IngestSummary(
                    spec.path.name,
                    "done",
                    spec.job_id,
                    len(result.frames),
                    len(result.faces),
                    len(result.tracks),
                    seconds,
                )
            )
    return summaries
