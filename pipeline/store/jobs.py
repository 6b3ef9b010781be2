"""Ingest jobs: the idempotency check, progress, and the one-transaction commit of results.

A job's rows appear all at once or not at all: face rows, frames, tracks and series are
inserted and the job marked done inside one transaction, so a crash (even SIGKILL) mid-file
leaves no partial rows, and the same file can simply be ingested again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipeline.analysis import JobResult
from pipeline.store.catalog import Source
from pipeline.store.database import transaction
from pipeline.store.series import SERIES_COLUMNS, series_select


@dataclass(frozen=True)
class JobKey:
    """What makes two ingestions the same: the source, the file's bytes and the parameters."""

    source_id: int
    content_hash: str
    params_hash: str


@dataclass(frozen=True)
class JobRecord:
    job_id: int
    source_id: int
    input_name: str
    status: str
    progress: float
    frames: int
    faces: int
    tracks: int
    error_title: str | None
    error_message: str | None
    warnings: str
    created_at: dt.datetime
    updated_at: dt.datetime


_JOB_COLUMNS = (
    "job_id, source_id, input_name, status, progress, frames, faces, tracks, "
    "error_title, error_message, warnings, created_at, updated_at"
)


def find_done_job(con: duckdb.DuckDBPyConnection, key: JobKey) -> JobRecord | None:
    row = con.execute(
        f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE source_id = ? AND content_hash = ? "
        "AND params_hash = ? AND status = 'done' ORDER BY job_id DESC LIMIT 1",
        [key.source_id, key.content_hash, key.params_hash],
    ).fetchone()
    return JobRecord(*row) if row else None


def queued_job_inputs(con: duckdb.DuckDBPyConnection, job_id: int) -> tuple[str, str, int]:
    """(input_path, params JSON, source_id) of a queued job, for the process that runs it."""
    row = con.execute(
        "SELECT input_path, params, source_id FROM ingest_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    if row is None:
        from pipeline.errors import UnknownEntityError

        raise UnknownEntityError("Unknown job", f"No ingest job with id {job_id}.")
    return row[0], row[1], int(row[2])


def get_job(con: duckdb.DuckDBPyConnection, job_id: int) -> JobRecord | None:
    row = con.execute(
        f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    return JobRecord(*row) if row else None


def start_job(
    con: duckdb.DuckDBPyConnection,
    key: JobKey,
    input_name: str,
    params_json: str,
    model_version: str,
    detector: str,
    status: str = "running",
    input_path: str = "",
) -> int:
    """Record a job as running (or queued); earlier unfinished runs of the same key are
    marked failed, since only a crashed process leaves a job running."""
    con.execute(
        "UPDATE ingest_jobs SET status = 'failed', error_title = 'Interrupted', "
        "error_message = 'The process stopped before the job finished; nothing was stored.', "
        "updated_at = current_timestamp WHERE source_id = ? AND content_hash = ? "
        "AND params_hash = ? AND status IN ('running', 'queued')",
        [key.source_id, key.content_hash, key.params_hash],
    )
    row = con.execute(
        "INSERT INTO ingest_jobs (source_id, input_name, input_path, content_hash, params_hash, "
        "params, model_version, detector, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING job_id",
        [
            key.source_id,
            input_name,
            input_path,
            key.content_hash,
            key.params_hash,
            params_json,
            model_version,
            detector,
            status,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_progress(
    con: duckdb.DuckDBPyConnection, job_id: int, progress: float, frames: int, faces: int
) -> None:
    con.execute(
        "UPDATE ingest_jobs SET status = 'running', progress = ?, frames = ?, faces = ?, "
        "updated_at = current_timestamp WHERE job_id = ?",
        [min(max(progress, 0.0), 1.0), frames, faces, job_id],
    )


def fail_job(con: duckdb.DuckDBPyConnection, job_id: int, title: str, message: str) -> None:
    con.execute(
        "UPDATE ingest_jobs SET status = 'failed', error_title = ?, error_message = ?, "
        "updated_at = current_timestamp, finished_at = current_timestamp WHERE job_id = ?",
        [title, message, job_id],
    )


def commit_job(
    con: duckdb.DuckDBPyConnection,
    job_id: int,
    source: Source,
    result: JobResult,
    bucket_s: float,
    by_clock: bool,
    replace_job_ids: list[int] | None = None,
) -> None:
    """Insert everything the job produced and mark it done, atomically.

    ``replace_job_ids``: earlier jobs of the same key whose rows ``--force`` replaces, deleted in
    the same transaction so that a failure keeps the old rows.
    """
    faces = result.faces.copy()
    faces.insert(0, "job_id", job_id)
    faces.insert(1, "source_id", source.source_id)
    faces.insert(2, "stimulus_id", source.stimulus_id)
    frames = result.frames.copy()
    frames.insert(0, "job_id", job_id)
    tracks = result.tracks.copy()
    tracks.insert(0, "job_id", job_id)
    with transaction(con):
        for old in replace_job_ids or []:
            delete_job_rows(con, old)
            con.execute("DELETE FROM ingest_jobs WHERE job_id = ?", [old])
        _insert(con, "face_observations", faces)
        _insert(con, "frames", frames)
        _insert(con, "tracks", tracks)
        con.execute(
            f"INSERT INTO emotion_series (job_id, {', '.join(SERIES_COLUMNS)}) "
            f"SELECT $job AS job_id, * FROM ({series_select('o.job_id = $job', by_clock)})",
            {"job": job_id, "bucket": bucket_s},
        )
        warnings = "; ".join(result.warnings)
        con.execute(
            "UPDATE ingest_jobs SET status = 'done', progress = 1.0, frames = ?, faces = ?, "
            "tracks = ?, warnings = ?, updated_at = current_timestamp, "
            "finished_at = current_timestamp WHERE job_id = ?",
            [len(frames), len(faces), len(tracks), warnings, job_id],
        )


def delete_job_rows(con: duckdb.DuckDBPyConnection, job_id: int) -> None:
    for table in ("face_observations", "frames", "tracks", "emotion_series"):
        con.execute(f"DELETE FROM {table} WHERE job_id = ?", [job_id])


def done_job_ids(con: duckdb.DuckDBPyConnection, key: JobKey) -> list[int]:
    rows = con.execute(
        "SELECT job_id FROM ingest_jobs WHERE source_id = ? AND content_hash = ? "
        "AND params_hash = ? AND status = 'done'",
        [key.source_id, key.content_hash, key.params_hash],
    ).fetchall()
    return [r[0] for r in rows]


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("_incoming", frame)
    try:
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming")
    finally:
        # In an aborted transaction unregister raises too; the insert's error is the one to show.
        with contextlib.suppress(duckdb.Error):
            con.unregister("_incoming")
