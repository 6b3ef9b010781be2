"""Retention: removing face rows past the retention period (BIPA/GDPR schedules).

One transaction removes the old jobs, every row they produced, and any row whose job no
longer exists (left by an ingest that committed after an older purge removed its job), so a
retention schedule never leaves face rows behind. Jobs still queued or running are never
removed: their process would otherwise commit rows for a job that is gone.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.errors import InputError
from pipeline.store import rollups
from pipeline.store.database import transaction

MAX_DAYS = 36_525  # a century: anything longer is a typo
# Rows about people that belong to one job, and the job's bookkeeping (the snapshots it
# holds; an API operation answers from its job, so it goes with it).
_ROW_TABLES = ("face_observations", "frames", "tracks")
_RECORD_TABLES = ("snapshot_files", "api_operations")


def _deleted(con: duckdb.DuckDBPyConnection, sql: str, jobs: list[int] | None = None) -> int:
    """Run a DELETE and return how many rows it removed."""
    row = con.execute(sql, [] if jobs is None else [jobs]).fetchone()
    return int(row[0]) if row else 0


def check_days(days: object) -> int:
    """The retention period as whole days >= 0, or an InputError naming the bad value."""
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        raise InputError(
            "Invalid retention period",
            f"{days!r} is not a number of days between 0 and {MAX_DAYS}.",
        )
    return days


def purge_older_than(con: duckdb.DuckDBPyConnection, days: int) -> dict[str, int]:
    """Delete jobs finished more than ``days`` ago and every row they produced, atomically.

    The job's age is when it was analysed, so footage recorded long ago but ingested today is
    kept for the full period, as a retention schedule promises. Uploads kept by choice are
    deleted from disk with their job (after the commit: files cannot be rolled back).
    """
    check_days(days)
    with transaction(con):
        old = [
            r[0]
            for r in con.execute(
                "SELECT job_id FROM ingest_jobs WHERE status IN ('done', 'failed') AND "
                "created_at < current_timestamp - to_days(CAST(? AS INTEGER))",
                [days],
            ).fetchall()
        ]
        kept_files = [
            str(r[0])
            for r in con.execute(
                "SELECT input_path FROM ingest_jobs WHERE job_id IN (SELECT unnest(?)) "
                "AND input_path <> ''",
                [old],
            ).fetchall()
        ]
        rollups.remove_jobs(con, old)
        faces = orphans = operations = 0
        for table in (*_ROW_TABLES, *_RECORD_TABLES):
            # DuckDB answers a DELETE with its row count: nothing deleted is fetched.
            gone = _deleted(
                con, f"DELETE FROM {table} WHERE job_id NOT IN (SELECT job_id FROM ingest_jobs)"
            )
            deleted = _deleted(con, f"DELETE FROM {table} WHERE job_id IN (SELECT unnest(?))", old)
            if table == "face_observations":
                faces = gone + deleted
            if table in _ROW_TABLES:
                orphans += gone
            elif table == "api_operations":
                operations += gone + deleted
        con.execute("DELETE FROM ingest_jobs WHERE job_id IN (SELECT unnest(?))", [old])
    for path in kept_files:
        Path(path).unlink(missing_ok=True)
    return {
        "jobs": len(old),
        "face_observations": int(faces),
        "orphan_rows": orphans,
        "operations": operations,
        "files": len(kept_files),
    }
