"""``--workers N``: analyse several files in parallel processes, commit them from this one.

DuckDB has one writer per file, so workers never touch it: each returns its tables (pickled
DataFrames) and the parent commits job by job. The Ray executor (pipeline/ray_executor.py)
does the same across machines, chunk by chunk.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from pipeline.analysis import AnalysisParams, JobResult
from pipeline.ingest import (
    IngestSummary,
    JobSpec,
    Target,
    commit_summary,
    failed_summary,
    prepare_jobs,
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
    summaries, specs = prepare_jobs("video", paths, targets, params, db_path, force)
    with (
        jobs.heartbeat(db_path, [spec.job_id for spec in specs]),
        ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool,
    ):
        futures = {pool.submit(_run, spec): spec for spec in specs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="files", unit="file"):
            spec = futures[future]
            try:
                result, seconds = future.result()
            except Exception as error:  # one bad file must not lose the others
                summaries.append(failed_summary(spec, error, db_path))
                continue
            summaries.append(commit_summary(spec, result, seconds, db_path))
    return summaries
