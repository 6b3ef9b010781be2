"""Rollups: the aggregates every audience read comes from, kept exact inside the face-row writes.

Three layers (tables in migration 012), each keyed so that a job's part can be added or taken
away again:

- ``rollup_person_cells``: per person (job, track) and base cell, that person's sums. Exact
  and small next to the face rows; the read path takes people from here only where a cell is
  withheld (``pipeline.store.rollup_reads``).
- ``rollup_cells`` / ``rollup_versions``: per source and base cell, all jobs together: faces,
  people, sampled frames; the minimum crowd is decided on them.
- ``rollup_people``: per source, level (bucket size, whole stimulus, hour of the week, ad
  segment) and bucket: sums over people of each person's own figures. A person belongs to one
  job, so these sums add up over jobs and a job's part can be subtracted exactly (counts) or
  to float rounding (sums).

``add_jobs`` runs in the commit's transaction after the face rows are in; ``remove_jobs`` in
every delete (``--force``, purge, campaign/stimulus delete, failed uploads) before the face
rows go. Both grids are kept where a read can ask for them: the offset grid for ads and for
rows without a clock time, the clock grid for timed rows of displays and products.
"""

from __future__ import annotations

import duckdb

from pipeline.audience.grid import BASE_CLOCK_S, BASE_OFFSET_S
from pipeline.emotion.labels import LABELS
from pipeline.store.local_cells import cell_expression, local_cells
from pipeline.store.people import VALENCE_CASE_SQL

# Bucket sizes with their own people sums (the dashboard's choices and the exports' defaults);
# 0 = the whole stimulus, -1 = hour of the week, -2 = ad segment. Other sizes are computed from
# the person cells.
OFFSET_LEVELS = (0.5, 1.0, 2.0, 5.0, 10.0, 0.0)
CLOCK_LEVELS = (300.0, 900.0, 3600.0, 86400.0, 0.0, -1.0)
WHOLE, HOUR_OF_WEEK, SEGMENT = 0.0, -1.0, -2.0

CELL_KEYS = ("stimulus_id", "source_id", "by_clock", "cell")
PEOPLE_KEYS = ("stimulus_id", "source_id", "by_clock", "level", "bucket")
_PERSON_SUMS = (
    "frames",
    *(f"sum_{n}" for n in LABELS),
    *(f"n_{n}" for n in LABELS),
    "sum_valence",
    "posed_frames",
    "looking_frames",
)
# Per person (columns of the person CTE below): their own figures, each summed over people.
_CONTRIBUTIONS: tuple[tuple[str, str], ...] = (
    ("persons", "1"),
    ("video", "CAST(video AS INTEGER)"),
    *((f"m_{n}", f"sum_{n} / f") for n in LABELS),
    *((f"s_{n}", f"n_{n} / f") for n in LABELS),
    ("valence", "sum_valence / f"),
    ("valence_sq", "(sum_valence / f) ^ 2"),
    ("happiness_sq", "(n_happiness / f) ^ 2"),
    ("neutral_sq", "(n_neutral / f) ^ 2"),
    ("looked_known", "CAST(posed_frames > 0 AS INTEGER)"),
    ("looked", "CAST(posed_frames > 0 AND looking_frames > 0 AS INTEGER)"),
    ("dwell_n", "CAST(video AND dwell_s IS NOT NULL AS INTEGER)"),
    ("dwell_sum", "CASE WHEN video THEN coalesce(dwell_s, 0) ELSE 0 END"),
    ("attention_n", "CAST(video AND attention_s IS NOT NULL AS INTEGER)"),
    ("attention_sum", "CASE WHEN video THEN coalesce(attention_s, 0) ELSE 0 END"),
    ("watchers", "CAST(watcher AS INTEGER)"),
    ("both_dwell", "CASE WHEN video AND attention_s IS NOT NULL THEN coalesce(dwell_s, 0) END"),
    ("both_attention", "CASE WHEN video AND dwell_s IS NOT NULL THEN attention_s END"),
    *((f"ws_{n}", f"CASE WHEN watcher THEN n_{n} / f ELSE 0 END") for n in LABELS),
    ("all_dwell_n", "CAST(dwell_s IS NOT NULL AS INTEGER)"),
    ("all_dwell_sum", "coalesce(dwell_s, 0)"),
    ("all_dwell_sq", "coalesce(dwell_s, 0) ^ 2"),
    ("all_attention_n", "CAST(attention_s IS NOT NULL AS INTEGER)"),
    ("all_attention_sum", "coalesce(attention_s, 0)"),
    ("all_attention_sq", "coalesce(attention_s, 0) ^ 2"),
)
CONTRIBUTION_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _CONTRIBUTIONS)


def contribution_sql(relation: str, keys: list[str], ctes: str = "", tail: str = "") -> str:
    """Per group of ``keys``: each contribution summed over the people in ``relation``.

    ``relation``: person-cell rows (columns of rollup_person_cells) with ``keys`` and a weight
    ``w`` (+1 adds a person, -1 takes them away). Each person's figures are their own means
    over all their rows of the group, so a person counts once per group however many cells
    and frames they have in it. ``ctes``: CTEs (ending in a comma) the relation refers to;
    ``tail``: with it, the sums become CTE ``sums`` and ``tail`` (more CTEs, then the SELECT)
    follows.
    """
    by = ", ".join(keys)
    sums = ", ".join(f"sum({c})::DOUBLE AS {c}" for c in _PERSON_SUMS)
    total = ",\n  ".join(
        f"coalesce(sum(w * ({expr})), 0) AS {name}" for name, expr in _CONTRIBUTIONS
    )
    return f"""
WITH {ctes} person AS (
  SELECT {by}, job_id, track_id, w, {sums}, sum(frames)::DOUBLE AS f,
         any_value(dwell_s) AS dwell_s, any_value(attention_s) AS attention_s,
         NOT bool_or(snapshot) AS video,
         NOT bool_or(snapshot) AND coalesce(any_value(attention_s) >= 1.0, false) AS watcher
  FROM {relation}
  GROUP BY {by}, job_id, track_id, w
)
{", sums AS (" if tail else ""}SELECT {by},
  {total}
FROM person
GROUP BY {by}
{")" + tail if tail else ""}"""


def _job_filter(jobs: list[int] | None, column: str = "job_id") -> str:
    return "TRUE" if jobs is None else f"{column} IN (SELECT unnest($jobs))"


def _params(jobs: list[int] | None) -> dict[str, object]:
    return {} if jobs is None else {"jobs": jobs}


def _gridded(relation: str) -> str:
    """``relation`` (rows with offset_s, ts, is_ad) once per grid that keeps it, with ``cell``."""
    return f"""
  SELECT *, false AS by_clock, floor(offset_s / {BASE_OFFSET_S}) * {BASE_OFFSET_S} AS cell
  FROM {relation} WHERE is_ad OR ts IS NULL
  UNION ALL
  SELECT *, true AS by_clock,
         floor(epoch_us(ts) / {BASE_CLOCK_S * 1e6}) * {BASE_CLOCK_S} AS cell
  FROM {relation} WHERE NOT is_ad AND ts IS NOT NULL
"""


def _insert_person_cells(con: duckdb.DuckDBPyConnection, jobs: list[int] | None) -> None:
    sums = ", ".join(f"sum(g.{n}) AS sum_{n}" for n in LABELS)
    counts = ", ".join(f"count(*) FILTER (WHERE g.dominant = '{n}') AS n_{n}" for n in LABELS)
    con.execute(
        f"""
INSERT INTO rollup_person_cells
WITH base AS (
  SELECT o.*, st.kind = 'ad' AS is_ad, s.kind = 'camera' AS snapshot,
         {VALENCE_CASE_SQL} AS valence_point
  FROM face_observations o
  JOIN ingest_jobs j ON j.job_id = o.job_id
  JOIN sources s ON s.source_id = o.source_id
  JOIN stimuli st ON st.stimulus_id = o.stimulus_id
  WHERE {_job_filter(jobs, "o.job_id")}
), obs AS (
  -- Faces per frame only matter for snapshot cameras (their crowd); footage counts tracks.
  SELECT *, count(*) OVER (PARTITION BY job_id, frame_index) AS faces_in_frame
  FROM base WHERE snapshot
  UNION ALL
  SELECT *, 0 AS faces_in_frame FROM base WHERE NOT snapshot
), g AS ({_gridded("obs")})
SELECT g.job_id, g.track_id, g.stimulus_id, g.source_id, g.by_clock, g.cell,
  count(*) AS frames, {sums}, {counts},
  sum(g.valence_point) AS sum_valence, count(g.looking) AS posed_frames,
  count(*) FILTER (WHERE g.looking) AS looking_frames,
  max(g.faces_in_frame) AS max_faces_in_frame,
  min(g.ts) AS first_ts, max(g.ts) AS last_ts, max(g.offset_s) AS last_offset_s,
  any_value(t.dwell_s) AS dwell_s, any_value(t.attention_s) AS attention_s,
  bool_or(g.snapshot) AS snapshot
FROM g LEFT JOIN tracks t ON t.job_id = g.job_id AND t.track_id = g.track_id
GROUP BY g.job_id, g.track_id, g.stimulus_id, g.source_id, g.by_clock, g.cell
{"ORDER BY g.stimulus_id, g.by_clock, g.source_id, g.cell" if jobs is None else ""}
""",
        _params(jobs),
    )


def _upsert(table: str, keys: tuple[str, ...], select: str, additive: list[str]) -> str:
    updates = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in additive]
    if table == "rollup_cells":
        updates += [
            "max_faces_in_frame = greatest(rollup_cells.max_faces_in_frame, "
            "EXCLUDED.max_faces_in_frame)",
            "first_ts = least(rollup_cells.first_ts, EXCLUDED.first_ts)",
            "last_ts = greatest(rollup_cells.last_ts, EXCLUDED.last_ts)",
            "last_offset_s = greatest(rollup_cells.last_offset_s, EXCLUDED.last_offset_s)",
        ]
    return (
        f"INSERT INTO {table} {select} ON CONFLICT ({', '.join(keys)}) "
        f"DO UPDATE SET {', '.join(updates)}"
    )


def _cells_delta(con: duckdb.DuckDBPyConnection, jobs: list[int] | None, sign: int) -> None:
    """Add (sign 1) or take away (-1) these jobs' faces, people and sampled frames per cell."""
    select = f"""
WITH pc AS (
  SELECT stimulus_id, source_id, by_clock, cell, sum(frames) AS faces, count(*) AS persons,
         max(max_faces_in_frame) AS max_faces_in_frame, min(first_ts) AS first_ts,
         max(last_ts) AS last_ts, max(last_offset_s) AS last_offset_s,
         bool_or(snapshot) AS snapshot
  FROM rollup_person_cells WHERE {_job_filter(jobs)} GROUP BY ALL
), fr_rows AS (
  SELECT f.offset_s, f.ts, st.kind = 'ad' AS is_ad, s.stimulus_id, j.source_id,
         s.kind = 'camera' AS snapshot
  FROM frames f JOIN ingest_jobs j ON j.job_id = f.job_id
  JOIN sources s ON s.source_id = j.source_id JOIN stimuli st ON st.stimulus_id = s.stimulus_id
  WHERE {_job_filter(jobs, "f.job_id")}
), fr AS (
  SELECT stimulus_id, source_id, by_clock, cell, count(*) AS sampled_frames,
         bool_or(snapshot) AS snapshot
  FROM ({_gridded("fr_rows")}) GROUP BY ALL
)
SELECT stimulus_id, source_id, by_clock, cell,
  {sign} * coalesce(pc.faces, 0), {sign} * coalesce(pc.persons, 0), pc.max_faces_in_frame,
  {sign} * coalesce(fr.sampled_frames, 0), pc.first_ts, pc.last_ts, pc.last_offset_s,
  coalesce(pc.snapshot, fr.snapshot)
FROM pc FULL JOIN fr USING (stimulus_id, source_id, by_clock, cell)
"""
    con.execute(
        _upsert("rollup_cells", CELL_KEYS, select, ["faces", "persons", "sampled_frames"]),
        _params(jobs),
    )
    versions = f"""
SELECT pc.stimulus_id, pc.source_id, pc.by_clock, pc.cell, j.model_version, j.detector,
       {sign} * count(*)
FROM rollup_person_cells pc JOIN ingest_jobs j ON j.job_id = pc.job_id
WHERE {_job_filter(jobs, "pc.job_id")} GROUP BY ALL
"""
    keys = (*CELL_KEYS, "model_version", "detector")
    con.execute(_upsert("rollup_versions", keys, versions, ["persons"]), _params(jobs))


def _levels_relation(where: str, segments_only: bool = False, local: bool = False) -> str:
    """Person cells matching ``where`` once per level, with ``level`` and ``bucket`` (clock
    buckets in each camera's local time: ``local_cells``)."""
    offset = ", ".join(f"(false, {v})" for v in OFFSET_LEVELS)
    clock = ", ".join(f"(true, {v})" for v in CLOCK_LEVELS)
    cell, join = cell_expression("pc", local)
    hour = f"make_timestamp(CAST({cell} * 1e6 AS BIGINT))"
    timed = f"""
  SELECT pc.*, 1 AS w, l.level,
    CASE WHEN l.level > 0 THEN floor({cell} / l.level) * l.level
         WHEN l.level = {WHOLE} THEN 0.0
         ELSE (isodow({hour}) - 1) * 24 + hour({hour}) END AS bucket
  FROM rollup_person_cells pc
  JOIN (VALUES {offset}, {clock}) l(by_clock, level) ON l.by_clock = pc.by_clock
  {join}
  WHERE {where}
  UNION ALL"""
    return f"""({timed if not segments_only else ""}
  SELECT pc.*, 1 AS w, {SEGMENT} AS level, seg.idx AS bucket
  FROM rollup_person_cells pc
  JOIN (SELECT stimulus_id, start_s, end_s,
               row_number() OVER (PARTITION BY stimulus_id ORDER BY start_s, name) - 1 AS idx
        FROM segments) seg
    ON seg.stimulus_id = pc.stimulus_id AND pc.cell >= seg.start_s AND pc.cell < seg.end_s
  WHERE NOT pc.by_clock AND {where}
)"""


def _people_delta(
    con: duckdb.DuckDBPyConnection,
    where: str,
    params: dict[str, object],
    sign: int,
    segments_only: bool = False,
    sources: list[int] | None = None,
) -> None:
    with local_cells(con, sources) as local:
        _people_sums(con, where, params, sign, segments_only, local)


def _people_sums(
    con: duckdb.DuckDBPyConnection,
    where: str,
    params: dict[str, object],
    sign: int,
    segments_only: bool,
    local: bool,
) -> None:
    select = contribution_sql(_levels_relation(where, segments_only, local), list(PEOPLE_KEYS))
    if sign < 0:
        select = (
            f"SELECT {', '.join(PEOPLE_KEYS)}, "
            + ", ".join(f"-{c}" for c in CONTRIBUTION_COLUMNS)
            + f" FROM ({select})"
        )
    con.execute(_upsert("rollup_people", PEOPLE_KEYS, select, list(CONTRIBUTION_COLUMNS)), params)


def _sources(con: duckdb.DuckDBPyConnection, jobs: list[int] | None) -> list[int] | None:
    if jobs is None:
        return None
    rows = con.execute(
        "SELECT DISTINCT source_id FROM ingest_jobs WHERE job_id IN (SELECT unnest(?))", [jobs]
    ).fetchall()
    return [int(r[0]) for r in rows]


def add_jobs(con: duckdb.DuckDBPyConnection, jobs: list[int] | None) -> None:
    """Roll up these jobs' face rows and frames (all jobs: None). Call inside the transaction
    that inserted them, after the rows are in."""
    if jobs is not None and not jobs:
        return
    _insert_person_cells(con, jobs)
    _cells_delta(con, jobs, 1)
    _people_delta(
        con, _job_filter(jobs, "pc.job_id"), _params(jobs), 1, sources=_sources(con, jobs)
    )


def remove_jobs(con: duckdb.DuckDBPyConnection, jobs: list[int]) -> None:
    """Take these jobs out of the rollups. Call inside the deleting transaction, before their
    face rows, frames and segments are deleted."""
    if not jobs:
        return
    params = _params(jobs)
    _people_delta(con, _job_filter(jobs, "pc.job_id"), params, -1, sources=_sources(con, jobs))
    _cells_delta(con, jobs, -1)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rollup_touched AS SELECT DISTINCT stimulus_id, "
        f"source_id, by_clock, cell FROM rollup_person_cells WHERE {_job_filter(jobs)}",
        params,
    )
    con.execute(f"DELETE FROM rollup_person_cells WHERE {_job_filter(jobs)}", params)
    # Maxima and first/last times cannot be subtracted: recompute them for the touched cells.
    con.execute(
        """
UPDATE rollup_cells c SET max_faces_in_frame = r.max_faces_in_frame, first_ts = r.first_ts,
  last_ts = r.last_ts, last_offset_s = r.last_offset_s
FROM (
  SELECT pc.stimulus_id, pc.source_id, pc.by_clock, pc.cell,
         max(pc.max_faces_in_frame) AS max_faces_in_frame, min(pc.first_ts) AS first_ts,
         max(pc.last_ts) AS last_ts, max(pc.last_offset_s) AS last_offset_s
  FROM rollup_person_cells pc
  SEMI JOIN _rollup_touched t USING (stimulus_id, source_id, by_clock, cell)
  GROUP BY ALL
) r
WHERE c.stimulus_id = r.stimulus_id AND c.source_id = r.source_id
  AND c.by_clock = r.by_clock AND c.cell = r.cell
"""
    )
    con.execute("DROP TABLE _rollup_touched")
    con.execute(
        "UPDATE rollup_cells SET max_faces_in_frame = NULL, first_ts = NULL, last_ts = NULL, "
        "last_offset_s = NULL WHERE persons = 0"
    )
    con.execute("DELETE FROM rollup_cells WHERE persons = 0 AND sampled_frames = 0")
    con.execute("DELETE FROM rollup_versions WHERE persons = 0")
    con.execute("DELETE FROM rollup_people WHERE persons = 0")


def refresh_segments(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> None:
    """Recompute a stimulus's per-segment people sums after its segments changed."""
    con.execute(
        "DELETE FROM rollup_people WHERE stimulus_id = ? AND level = ?", [stimulus_id, SEGMENT]
    )
    _people_delta(
        con, "pc.stimulus_id = $stimulus", {"stimulus": stimulus_id}, 1, segments_only=True
    )


def refresh_clock(con: duckdb.DuckDBPyConnection, source_ids: list[int]) -> None:
    """Recompute these sources' clock-time people sums after their time zone changed (their
    local buckets moved)."""
    if not source_ids:
        return
    params: dict[str, object] = {"sources": source_ids}
    con.execute(
        "DELETE FROM rollup_people WHERE by_clock AND source_id IN (SELECT unnest($sources))",
        params,
    )
    where = "pc.by_clock AND pc.source_id IN (SELECT unnest($sources))"
    _people_delta(con, where, params, 1, sources=source_ids)


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Remake every rollup from the face rows (inside the caller's transaction)."""
    for table in ("rollup_people", "rollup_versions", "rollup_cells", "rollup_person_cells"):
        con.execute(f"DELETE FROM {table}")
    add_jobs(con, None)
    con.execute("UPDATE rollup_state SET stale = false")


def sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per rollup table, next to the face rows they summarise."""
    tables = ("face_observations", "rollup_person_cells", "rollup_cells", "rollup_people")
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]


def is_stale(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT bool_or(stale) FROM rollup_state").fetchone()
    return bool(row and row[0])
