"""Did two databases store the same rows for the same footage?

Every executor (one process, ``--workers N``, ``--executor ray``) must store the same jobs,
frames, face rows and people; the tests and benchmarks/scale_out.py check it here.
Rows are matched by the job's key (file name, content hash, parameters hash, model version),
never by ids, which depend on the order jobs were claimed in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.store.database import connect

JOB_KEY = ["input_name", "content_hash", "params_hash", "model_version"]
# Each table's rows in a stable order within a job.
_ORDER = {
    "frames": ["frame_index"],
    "face_observations": ["frame_index", "track_id", "x", "y"],
    "tracks": ["track_id"],
}
_IDS = ["job_id", "source_id", "stimulus_id"]


def stored_rows(db_path: Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The finished jobs (``names``: only these input files) and their rows, per table,
    without ids, sorted by job key and position."""
    where = "j.status = 'done'" + ("" if names is None else " AND list_contains(?, j.input_name)")
    params = [] if names is None else [names]
    tables = {}
    with connect(db_path, read_only=True) as con:
        tables["jobs"] = con.execute(
            f"SELECT {', '.join(JOB_KEY)}, detector, frames, faces, tracks "
            f"FROM ingest_jobs j WHERE {where} ORDER BY ALL",
            params,
        ).df()
        for table, order in _ORDER.items():
            key = ", ".join(f"j.{c}" for c in JOB_KEY)
            frame = con.execute(
                f"SELECT {key}, t.* FROM {table} t JOIN ingest_jobs j USING (job_id) WHERE {where}",
                params,
            ).df()
            frame = frame.drop(columns=[c for c in _IDS if c in frame.columns])
            tables[table] = frame.sort_values([*JOB_KEY, *order]).reset_index(drop=True)
    return tables


def differences(
    first: dict[str, pd.DataFrame],
    second: dict[str, pd.DataFrame],
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> list[str]:
    """One line per table whose rows differ (floats within ``rtol``/``atol``); empty when
    both stored the same."""
    found = []
    for table in first:
        try:
            pd.testing.assert_frame_equal(
                first[table], second[table], check_exact=False, rtol=rtol, atol=atol
            )
        except AssertionError as error:
            found.append(f"{table}: {' '.join(str(error).split())[:300]}")
    return found
