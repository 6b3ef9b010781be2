"""Catalogue reads behind the dashboard and the exports, and raw frame-level aggregates.

Every function takes an open connection and plain values, passes them as parameters, and
returns a DataFrame (or records). ``stimulus_summary``, ``campaign_kpis``, ``series`` and
``hour_weekday`` are raw face-row aggregates, kept for ingest checks and benchmarks: they
count faces, not people, and apply no minimum crowd. Views, exports and reports read audience
figures through ``pipeline.audience.read`` instead (people, base-grid suppression).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from pipeline.emotion.labels import LABELS, VALENCE_SIGN
from pipeline.store.series import MEANS_SQL, SHARES_SQL, VALENCE_CASE_SQL, series_select

_POSITIVE = [n for n, s in VALENCE_SIGN.items() if s > 0]


def campaigns(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        "SELECT campaign_id, name, description, created_at FROM campaigns ORDER BY name"
    ).df()


def stimuli(con: duckdb.DuckDBPyConnection, campaign_id: int) -> pd.DataFrame:
    return con.execute(
        "SELECT stimulus_id, name, kind, duration_s FROM stimuli WHERE campaign_id = ? "
        "ORDER BY name",
        [campaign_id],
    ).df()


def sources(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> pd.DataFrame:
    return con.execute(
        "SELECT source_id, kind, name, location, placement FROM sources WHERE stimulus_id = ? "
        "ORDER BY name",
        [stimulus_id],
    ).df()


def stimulus_ids(con: duckdb.DuckDBPyConnection, campaign_id: int) -> list[int]:
    rows = con.execute("SELECT stimulus_id FROM stimuli WHERE campaign_id = ?", [campaign_id])
    return [int(r[0]) for r in rows.fetchall()]


def segments(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> pd.DataFrame:
    """A stimulus's segments in the order the rollups number them (start, then name)."""
    return con.execute(
        "SELECT name, start_s, end_s FROM segments WHERE stimulus_id = ? ORDER BY start_s, name",
        [stimulus_id],
    ).df()


def _positive_share_sql() -> str:
    return " OR ".join(f"o.dominant = '{n}'" for n in _POSITIVE)


def stimulus_summary(con: duckdb.DuckDBPyConnection, campaign_id: int) -> pd.DataFrame:
    """Per stimulus of a campaign: faces, viewers, mean dwell, mean scores, shares, valence
    with a 95 % interval. One row per stimulus, also those without data (faces = 0)."""
    means, shares, valence = MEANS_SQL, SHARES_SQL, VALENCE_CASE_SQL
    return con.execute(
        f"""
        WITH obs AS (
            SELECT o.*, {valence} AS v, t.dwell_s FROM face_observations o
            LEFT JOIN tracks t USING (job_id, track_id)
        ), per_track AS (
            SELECT stimulus_id, job_id, track_id, any_value(dwell_s) AS dwell_s
            FROM obs GROUP BY ALL
        ), agg AS (
            SELECT o.stimulus_id, count(*) AS faces,
                   count(DISTINCT (o.job_id, o.track_id)) AS unique_tracks,
                   {means}, {shares},
                   avg(CASE WHEN {_positive_share_sql()} THEN 1.0 ELSE 0.0 END)
                       AS positive_share,
                   avg(o.v) AS valence,
                   coalesce(stddev_samp(o.v), 0) / sqrt(count(*)) AS valence_se,
                   min(o.ts) AS first_ts, max(o.ts) AS last_ts
            FROM obs o GROUP BY o.stimulus_id
        ), dwell AS (
            SELECT stimulus_id, avg(dwell_s) AS mean_dwell_s FROM per_track GROUP BY 1
        )
        SELECT s.stimulus_id, s.name, s.kind, s.duration_s,
               coalesce(a.faces, 0) AS faces, coalesce(a.unique_tracks, 0) AS unique_tracks,
               d.mean_dwell_s, {", ".join(f"a.mean_{n}" for n in LABELS)},
               {", ".join(f"a.share_{n}" for n in LABELS)}, a.positive_share, a.valence,
               greatest(-1, a.valence - 1.96 * a.valence_se) AS valence_low,
               least(1, a.valence + 1.96 * a.valence_se) AS valence_high,
               a.first_ts, a.last_ts
        FROM stimuli s
        LEFT JOIN agg a USING (stimulus_id)
        LEFT JOIN dwell d USING (stimulus_id)
        WHERE s.campaign_id = ?
        ORDER BY s.name
    """,
        [campaign_id],
    ).df()


def campaign_kpis(con: duckdb.DuckDBPyConnection, campaign_id: int) -> dict[str, float]:
    """Faces analysed, unique viewers, mean dwell (s) and positive share for a campaign."""
    row = con.execute(
        f"""
        WITH obs AS (
            SELECT o.job_id, o.track_id, o.dominant FROM face_observations o
            JOIN stimuli s ON s.stimulus_id = o.stimulus_id WHERE s.campaign_id = ?
        ), viewers AS (
            SELECT DISTINCT job_id, track_id FROM obs
        )
        SELECT (SELECT count(*) FROM obs),
               (SELECT count(*) FROM viewers),
               (SELECT avg(t.dwell_s) FROM viewers v JOIN tracks t USING (job_id, track_id)),
               (SELECT avg(CASE WHEN {_positive_share_sql()} THEN 1.0 ELSE 0.0 END)
                FROM obs o)
    """,
        [campaign_id],
    ).fetchone()
    assert row is not None
    return {
        "faces": int(row[0]),
        "unique_viewers": int(row[1]),
        "mean_dwell_s": float(row[2]) if row[2] is not None else float("nan"),
        "positive_share": float(row[3]) if row[3] is not None else float("nan"),
    }


def recent_jobs(
    con: duckdb.DuckDBPyConnection, limit: int = 20, campaign_id: int | None = None
) -> pd.DataFrame:
    return con.execute(
        """
        SELECT j.job_id, c.name AS campaign, st.name AS stimulus, so.name AS source,
               j.input_name, j.status, j.progress, j.frames, j.faces, j.tracks,
               j.error_title, j.error_message, j.warnings, j.created_at, j.finished_at
        FROM ingest_jobs j
        JOIN sources so USING (source_id)
        JOIN stimuli st ON st.stimulus_id = so.stimulus_id
        JOIN campaigns c ON c.campaign_id = st.campaign_id
        WHERE $campaign IS NULL OR c.campaign_id = $campaign
        ORDER BY j.job_id DESC LIMIT $limit
    """,
        {"campaign": campaign_id, "limit": limit},
    ).df()


def series(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    bucket_s: float,
    by_clock: bool,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """The expression series of one stimulus (all its sources pooled unless one is given).

    by_clock=False: buckets of seconds since the start of the footage (ads);
    by_clock=True: buckets of wall-clock time (displays, cameras), filtered by [start, end).
    """
    where = (
        "o.stimulus_id = $stimulus AND ($source IS NULL OR o.source_id = $source) "
        "AND ($start IS NULL OR o.ts >= $start) AND ($end IS NULL OR o.ts < $end)"
    )
    if by_clock:
        where += " AND o.ts IS NOT NULL"
    sql = series_select(where, by_clock, min_crowd=1)  # raw: no minimum crowd
    params = {
        "stimulus": stimulus_id,
        "source": source_id,
        "start": start,
        "end": end,
        "bucket": float(bucket_s),
    }
    table = con.execute(sql, params).df()
    if source_id is None and not table.empty:
        table = _pool_sources(table)
    return table


def _pool_sources(table: pd.DataFrame) -> pd.DataFrame:
    """Sources of one stimulus in one bucket combined, weighted by faces."""
    key = "bucket_ts" if table["bucket_ts"].notna().any() else "bucket_offset_s"
    if table.groupby(key).size().max() == 1:
        return table
    figures = [
        c
        for c in table.columns
        if c.startswith(("mean_", "share_")) or c in ("valence", "valence_low", "valence_high")
    ]
    weighted = table[figures].multiply(table["faces"], axis=0)
    weighted[key] = table[key]
    weighted["faces"] = table["faces"]
    weighted["unique_tracks"] = table["unique_tracks"]
    pooled = weighted.groupby(key, as_index=False).sum(numeric_only=True)
    for column in figures:
        pooled[column] = pooled[column] / pooled["faces"]
    pooled["stimulus_id"] = table["stimulus_id"].iloc[0]
    pooled["source_id"] = pd.NA
    pooled["bucket_s"] = table["bucket_s"].iloc[0]
    other = "bucket_offset_s" if key == "bucket_ts" else "bucket_ts"
    pooled[other] = None
    pooled["mean_dwell_s"] = table.groupby(key)["mean_dwell_s"].mean().to_numpy()
    if "people_looking" in table.columns:
        looking = table.groupby(key)["people_looking"].sum(min_count=1)
        pooled["people_looking"] = looking.to_numpy()
    return pooled[list(table.columns)]


def hour_weekday(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Faces and valence per (ISO weekday 1-7, hour 0-23) for clock-time sources."""
    valence = VALENCE_CASE_SQL
    return con.execute(
        f"""
        SELECT isodow(o.ts) AS weekday, hour(o.ts) AS hour, count(*) AS faces,
               avg({valence}) AS valence, avg(o.happiness) AS mean_happiness
        FROM face_observations o
        WHERE o.stimulus_id = $stimulus AND o.ts IS NOT NULL
          AND ($source IS NULL OR o.source_id = $source)
          AND ($start IS NULL OR o.ts >= $start) AND ($end IS NULL OR o.ts < $end)
        GROUP BY ALL ORDER BY weekday, hour
    """,
        {"stimulus": stimulus_id, "source": source_id, "start": start, "end": end},
    ).df()


def time_range(
    con: duckdb.DuckDBPyConnection, stimulus_id: int
) -> tuple[dt.datetime | None, dt.datetime | None, float | None]:
    """(first ts, last ts, last offset s) of a stimulus's faces, for filter defaults (from
    the rollups: no face row is read)."""
    from pipeline.store.rollup_reads import time_range as stored_range

    return stored_range(con, stimulus_id)


def source_time_ranges(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> pd.DataFrame:
    """Per source of a stimulus: first and last face timestamp (UTC), for local ranges
    (from the rollups)."""
    return con.execute(
        "SELECT source_id, min(first_ts) AS first_ts, max(last_ts) AS last_ts "
        "FROM rollup_cells WHERE stimulus_id = ? AND persons > 0 GROUP BY source_id "
        "HAVING min(first_ts) IS NOT NULL ORDER BY source_id",
        [stimulus_id],
    ).df()
