"""Per-person rows behind every audience figure: one row per (source, base cell, person).

A person is an anonymous track of one ingest job, ``(job_id, track_id)``; ten one-respondent
files are ten people. Each row carries that person's sums over their face rows in one cell
of the fixed base grid (``pipeline.audience.grid``), so that any bucket size, filter or segment
can be aggregated from these rows without touching face rows again, and so that statistics
are computed over people rather than over frames.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from pipeline.emotion.labels import LABELS, VALENCE_SIGN

# +1 / -1 / 0 per face row by its dominant expression: a person's valence is its mean over
# their rows (the rollups sum the same points).
VALENCE_CASE_SQL = (
    "CASE o.dominant "
    + " ".join(f"WHEN '{n}' THEN {s}" for n, s in VALENCE_SIGN.items())
    + " ELSE 0 END"
)

_SUMS_SQL = ",\n    ".join(f"sum(o.{n}) AS sum_{n}" for n in LABELS)
_COUNTS_SQL = ",\n    ".join(f"count(*) FILTER (WHERE o.dominant = '{n}') AS n_{n}" for n in LABELS)


def person_cells(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    cell_s: float,
    by_clock: bool,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per (source, cell, person): frames, score sums, dominant counts, valence sum, looking.

    ``cell`` is the start of the base cell: seconds since the start of the footage (ads) or a
    wall-clock timestamp (``by_clock``). ``max_faces_in_frame`` is the most faces in any one
    frame (snapshot) of the cell that includes this person: a snapshot camera's crowd.
    ``dwell_s`` / ``attention_s`` are the person's whole-track figures (NULL when unknown);
    ``snapshot`` is true for camera sources, whose faces are not linked across snapshots.
    """
    sql = person_cells_sql(by_clock)
    return con.execute(sql, _params(stimulus_id, cell_s, source_id, start, end)).df()


def _params(
    stimulus_id: int,
    cell_s: float,
    source_id: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, object]:
    """The named parameters of ``person_cells_sql`` and ``sampled_frames``' SQL."""
    return {
        "stimulus": stimulus_id,
        "source": source_id,
        "start": start,
        "end": end,
        "cell": float(cell_s),
    }


def person_cells_sql(by_clock: bool) -> str:
    """The SQL of ``person_cells`` (named parameters $stimulus, $source, $start, $end, $cell):
    the face-row scan every raw-row read starts with (also timed alone by the benchmark)."""
    if by_clock:
        cell = "time_bucket(to_microseconds(CAST($cell * 1e6 AS BIGINT)), o.ts)"
    else:
        cell = "floor(o.offset_s / $cell) * $cell"
    return f"""
WITH obs AS (
  SELECT o.*, {cell} AS cell, {VALENCE_CASE_SQL} AS valence_point,
         count(*) OVER (PARTITION BY o.job_id, o.frame_index) AS faces_in_frame
  FROM face_observations o
  WHERE o.stimulus_id = $stimulus AND ($source IS NULL OR o.source_id = $source)
    AND ($start IS NULL OR o.ts >= $start) AND ($end IS NULL OR o.ts < $end)
    {"AND o.ts IS NOT NULL" if by_clock else ""}
), cells AS (
  SELECT o.source_id, o.cell, o.job_id, o.track_id,
    count(*) AS frames,
    {_SUMS_SQL},
    {_COUNTS_SQL},
    sum(o.valence_point) AS sum_valence,
    count(o.looking) AS posed_frames,
    count(*) FILTER (WHERE o.looking) AS looking_frames,
    max(o.faces_in_frame) AS max_faces_in_frame
  FROM obs o
  GROUP BY o.source_id, o.cell, o.job_id, o.track_id
)
SELECT c.*, t.dwell_s, t.attention_s, s.kind = 'camera' AS snapshot,
       j.model_version, j.detector
FROM cells c
JOIN sources s ON s.source_id = c.source_id
JOIN ingest_jobs j ON j.job_id = c.job_id
LEFT JOIN tracks t ON t.job_id = c.job_id AND t.track_id = c.track_id
ORDER BY c.source_id, c.cell, c.job_id, c.track_id
"""


def consent(con: duckdb.DuckDBPyConnection, campaign_id: int) -> dict[str, object] | None:
    """The consented-study flag in force for a campaign: {set_by, set_at, note}, or None.

    Read-only connections to a file made before migration 005 have no consent table: such a
    campaign was never consented.
    """
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'campaign_consent'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(
        "SELECT consented, set_by, set_at, note FROM campaign_consent WHERE campaign_id = ? "
        "ORDER BY set_at DESC, rowid DESC LIMIT 1",
        [campaign_id],
    ).fetchone()
    if row is None or not row[0]:
        return None
    return {"set_by": row[1], "set_at": row[2], "note": row[3]}


def set_consent(
    con: duckdb.DuckDBPyConnection, campaign_id: int, consented: bool, set_by: str, note: str
) -> None:
    """Record that ``set_by`` set (or withdrew) the consented-study flag, now."""
    con.execute(
        "INSERT INTO campaign_consent (campaign_id, consented, set_by, note) VALUES (?, ?, ?, ?)",
        [campaign_id, consented, set_by, note],
    )


def sampled_frames(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    cell_s: float,
    by_clock: bool,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Frames (snapshots) sampled per (source, cell), faces or not: people per snapshot."""
    if by_clock:
        cell = "time_bucket(to_microseconds(CAST($cell * 1e6 AS BIGINT)), f.ts)"
    else:
        cell = "floor(f.offset_s / $cell) * $cell"
    sql = f"""
SELECT j.source_id, {cell} AS cell, count(*) AS sampled_frames
FROM frames f
JOIN ingest_jobs j ON j.job_id = f.job_id
JOIN sources s ON s.source_id = j.source_id
WHERE s.stimulus_id = $stimulus AND ($source IS NULL OR j.source_id = $source)
  AND ($start IS NULL OR f.ts >= $start) AND ($end IS NULL OR f.ts < $end)
  {"AND f.ts IS NOT NULL" if by_clock else ""}
GROUP BY ALL
"""
    return con.execute(sql, _params(stimulus_id, cell_s, source_id, start, end)).df()
