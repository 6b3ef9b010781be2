"""Catalogue reads behind the dashboard and the exports.

Every function takes an open connection and plain values, passes them as parameters, and
returns a DataFrame (or records). No audience figure is computed here: views, exports, reports
and checks read them through ``pipeline.audience`` (people, base-grid suppression), so no
second, face-weighted answer to the same question exists.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd


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
