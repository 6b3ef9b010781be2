"""Retention: removing face rows past the retention period (BIPA/GDPR schedules)."""

from __future__ import annotations

import duckdb


def purge_older_than(con: duckdb.DuckDBPyConnection, days: int) -> dict[str, int]:
    """Delete jobs finished more than ``days`` ago and every row they produced, atomically.

    The job's age is when it was analysed, so footage recorded long ago but ingested today is
    kept for the full period, as a retention schedule promises.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        old = [
            r[0]
            for r in con.execute(
                "SELECT job_id FROM ingest_jobs WHERE created_at < current_timestamp - "
                "to_days(CAST(? AS INTEGER))",
                [days],
            ).fetchall()
        ]
        faces = 0
        if old:
            faces = con.execute(
                "SELECT count(*) FROM face_observations WHERE job_id IN (SELECT unnest(?))", [old]
            ).fetchone()[0]  # type: ignore[index]
            for table in ("face_observations", "frames", "tracks", "emotion_series", "ingest_jobs"):
                con.execute(f"DELETE FROM {table} WHERE job_id IN (SELECT unnest(?))", [old])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return {"jobs": len(old), "face_observations": int(faces)}
