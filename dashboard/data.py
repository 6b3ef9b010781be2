"""The dashboard's only road to DuckDB: cached read-only queries through pipeline.store.

DuckDB lets one process write a file at a time and the upload jobs run in their own
processes, so every read opens the file read-only, queries, and closes it again (no
connection survives a rerun). Results are cached per (database path, arguments) for a short
while; ``refresh()`` drops the cache when this session knows the data changed (an upload
finished). Job progress is never cached: it is what the upload page polls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from pipeline.audience import clock
from pipeline.audience import read as audience
from pipeline.audience.verdicts import verdict_table, verdicts, version_note
from pipeline.exports import export_table as _export_table
from pipeline.exports import to_csv_bytes, to_emotion_api_json, to_parquet_bytes, verdict_export
from pipeline.reports.build import ReportData, collect_report, render
from pipeline.store import jobs as store_jobs
from pipeline.store import manage, people, queries, zones
from pipeline.store.database import connect, default_db_path

CACHE_TTL_S = 30
T = TypeVar("T")


def db_path() -> str:
    """The database this session reads, from the EMOTION_DB_PATH setting (read each run)."""
    return str(default_db_path())


def _read(query: Callable[..., T], db: str, *args: object) -> T:
    """Run one query on a fresh read-only connection (``connect`` turns DuckDB errors into
    StoreError, which the pages show as a title and a message)."""
    with connect(Path(db), read_only=True) as con:
        return query(con, *args)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def campaigns(db: str) -> pd.DataFrame:
    return _read(queries.campaigns, db)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def stimuli(db: str, campaign_id: int) -> pd.DataFrame:
    return _read(queries.stimuli, db, campaign_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sources(db: str, stimulus_id: int) -> pd.DataFrame:
    return _read(queries.sources, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def segments(db: str, stimulus_id: int) -> pd.DataFrame:
    return _read(queries.segments, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def consent(db: str, campaign_id: int) -> dict[str, object] | None:
    """The consented-study record of a campaign ({set_by, set_at, note}) or None."""
    return _read(people.consent, db, campaign_id)


def consented_now(db: str, campaign_id: int) -> bool:
    """Whether the campaign is a consented study, read now (uncached): the minimum crowd's
    floor of 1 must end the moment consent is withdrawn, not when a cache expires."""
    return _read(people.consent, db, campaign_id) is not None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def stimulus_summary(db: str, campaign_id: int, min_crowd: int) -> pd.DataFrame:
    """Per stimulus: people, audience metrics and expression figures (withheld cells out)."""
    return _read(audience.stimulus_summary, db, campaign_id, min_crowd)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def campaign_kpis(db: str, campaign_id: int, min_crowd: int) -> dict[str, float]:
    return _read(audience.campaign_kpis, db, campaign_id, min_crowd)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def comparison(db: str, stimulus_ids: tuple[int, ...], names: tuple[str, ...], min_crowd: int):
    """A/B verdicts between stimuli (every pair, every metric) and a version warning."""

    def build(con: object) -> tuple[pd.DataFrame, str]:
        read = audience.audiences(con, list(stimulus_ids), min_crowd)  # type: ignore[arg-type]
        found = {name: read[sid] for sid, name in zip(stimulus_ids, names, strict=True)}
        return verdict_table(verdicts(found, min_crowd)), version_note(found)

    return _read(build, db)


def verdicts_with_faces(
    db: str, stimuli: pd.DataFrame, min_crowd: int
) -> tuple[pd.DataFrame, str] | None:
    """``comparison`` between the rows of ``stimuli`` (stimulus_id, name, faces) that have
    analysed faces, or None while fewer than two have: there is nothing to compare."""
    with_faces = stimuli[stimuli["faces"] > 0]
    if len(with_faces) < 2:
        return None
    return comparison(
        db,
        tuple(int(i) for i in with_faces["stimulus_id"]),
        tuple(str(n) for n in with_faces["name"]),
        min_crowd,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=8)
def verdict_csv(db: str, campaign: str, min_crowd: int) -> bytes:
    """The A/B verdicts of a campaign as CSV (same rows as ``export --format verdicts``)."""
    return to_csv_bytes(_read(verdict_export, db, campaign, min_crowd))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def segment_summary(db: str, stimulus_id: int, min_crowd: int) -> pd.DataFrame:
    return _read(audience.segment_summary, db, stimulus_id, min_crowd)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def time_range(
    db: str, stimulus_id: int
) -> tuple[dt.datetime | None, dt.datetime | None, float | None]:
    return _read(queries.time_range, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def source_zones(db: str, stimulus_id: int) -> dict[int, str]:
    """Time zone in force per source of a stimulus (own, campaign default, or UTC)."""
    return _read(zones.source_zones, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def source_settings(db: str, stimulus_id: int) -> list[tuple]:
    """(source_id, name, kind, own zone or None, zone in force) per source."""
    return _read(zones.source_settings, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def campaign_zone(db: str, campaign_id: int) -> str | None:
    return _read(zones.campaign_zone, db, campaign_id)


def local_time_range(
    db: str, stimulus_id: int, ttl_cached: bool = True
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last face of a stimulus in its cameras' local time (date filter bounds,
    newest data of the live view)."""
    ranges = (
        _time_ranges(db, stimulus_id)
        if ttl_cached
        else _read(queries.source_time_ranges, db, stimulus_id)
    )
    return clock.local_range(ranges, source_zones(db, stimulus_id))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _time_ranges(db: str, stimulus_id: int) -> pd.DataFrame:
    return _read(queries.source_time_ranges, db, stimulus_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def series(
    db: str,
    stimulus_id: int,
    bucket_s: float,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """``audience.read.series``: withheld on the base grid at ``min_crowd`` people."""
    return _read(
        audience.series, db, stimulus_id, bucket_s, by_clock, min_crowd, source_id, start, end
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def selection(
    db: str,
    stimulus_id: int,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """``audience.read.selection``: one row of figures over the people in view."""
    return _read(audience.selection, db, stimulus_id, by_clock, min_crowd, source_id, start, end)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def hour_weekday(
    db: str,
    stimulus_id: int,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    return _read(audience.hour_weekday, db, stimulus_id, min_crowd, source_id, start, end)


def live_series(
    db: str,
    stimulus_id: int,
    bucket_s: float,
    min_crowd: int,
    source_id: int | None,
    start: dt.datetime,
) -> pd.DataFrame:
    """``series`` by clock time from ``start`` on, uncached: the live view's latest buckets."""
    return _read(audience.series, db, stimulus_id, bucket_s, True, min_crowd, source_id, start)


def live_jobs(db: str, stimulus_id: int) -> list[int]:
    """Jobs with a live process writing to this stimulus (camera, watch, push); uncached."""
    return _read(manage.live_jobs, db, [stimulus_id])


def jobs(db: str, limit: int = 20, campaign_id: int | None = None) -> pd.DataFrame:
    """Recent ingest jobs, newest first; uncached because progress moves every second.

    A queued or running job whose process is gone (no heartbeat) is shown as failed,
    "Interrupted", before any writer records it so: this reader cannot write.
    """

    def read(con: object) -> tuple[pd.DataFrame, list[int]]:
        return (
            queries.recent_jobs(con, limit, campaign_id),  # type: ignore[arg-type]
            store_jobs.stale_job_ids(con),  # type: ignore[arg-type]
        )

    table, stale = _read(read, db)
    dead = table["job_id"].isin(stale)
    if dead.any():
        table = table.astype({"error_title": object, "error_message": object})
        table.loc[dead, "status"] = "failed"
        table.loc[dead, "error_title"] = store_jobs.INTERRUPTED_TITLE
        table.loc[dead, "error_message"] = store_jobs.INTERRUPTED_MESSAGE
    return table


def kept_uploads(db: str) -> pd.DataFrame:
    """Uploads kept at the user's request (job, file name, size); uncached, like jobs."""
    from pipeline.uploads import kept_uploads as kept

    rows = _read(kept, db)
    return pd.DataFrame(
        [(job_id, name, round(size / 2**20, 1)) for job_id, name, _, size in rows],
        columns=["job", "file", "size_mb"],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def export_table(
    db: str, campaign: str, stimulus: str | None, bucket_s: float | None, min_crowd: int
) -> pd.DataFrame:
    """The export table (suppression applied) behind every download of a selection."""
    return _read(_export_table, db, campaign, stimulus, bucket_s, min_crowd)


_WRITERS: dict[str, Callable[[pd.DataFrame], bytes]] = {
    "csv": to_csv_bytes,
    "parquet": to_parquet_bytes,
    "json": to_emotion_api_json,
}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=16)
def export_bytes(
    db: str, fmt: str, campaign: str, stimulus: str | None, bucket_s: float | None, min_crowd: int
) -> bytes:
    """CSV, Parquet or Emotion-API JSON bytes of a selection."""
    return _WRITERS[fmt](export_table(db, campaign, stimulus, bucket_s, min_crowd))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=4)
def report_bytes(
    db: str, fmt: str, campaign: str, stimulus: str | None, bucket_s: float | None, min_crowd: int
) -> bytes:
    """The HTML or PDF report of a selection (seconds to build: cached, few entries)."""

    def collect(con: object) -> ReportData:
        return collect_report(con, campaign, stimulus, bucket_s, min_crowd)  # type: ignore[arg-type]

    return render(_read(collect, db), fmt)  # rendered after the connection closed


_CACHED = (
    campaigns,
    stimuli,
    sources,
    segments,
    consent,
    stimulus_summary,
    campaign_kpis,
    comparison,
    verdict_csv,
    segment_summary,
    time_range,
    source_zones,
    source_settings,
    campaign_zone,
    _time_ranges,
    series,
    hour_weekday,
    export_table,
    export_bytes,
    report_bytes,
)


def refresh() -> None:
    """Forget cached reads: called when an upload finished or created a campaign/stimulus."""
    for cached in _CACHED:
        cached.clear()
