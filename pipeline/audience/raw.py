"""Audience tables computed from the raw face rows: the reference the rollups must match.

Each function reads per-person base cells straight from ``face_observations``
(``pipeline.store.people``), applies the minimum crowd on the base grid
(``crowd.mark_published``) and aggregates with ``metrics.summarise``. ``pipeline.audience.read``
answers the same questions from the rollups (migration 012) in milliseconds; these functions
stay for drill-down to people, for the checks that the rollups are exact, as the baseline of
``benchmarks/query_speed.py``, and for bucket sizes on a grid a stimulus does not keep.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from pipeline.audience.clock import localise
from pipeline.audience.crowd import job_view, mark_published, resolve_min_crowd
from pipeline.audience.grid import base_cell_s, check_bucket
from pipeline.audience.metrics import FIGURES, PERSON, group_counts, person_table, summarise
from pipeline.settings import get_int
from pipeline.store import people as store_people
from pipeline.store import queries
from pipeline.store.zones import source_zones

SERIES_KEYS = ("bucket_offset_s", "bucket_ts")
# Valences closer than this are a tie for the peak moment (with_peaks).
PEAK_TIE = 1e-9


def configured_min_crowd() -> int:
    return max(1, get_int("EMOTION_MIN_CROWD"))


def campaign_min_crowd(
    con: duckdb.DuckDBPyConnection, campaign_id: int, requested: int | None = None
) -> int:
    """The minimum crowd in force for a campaign (see ``crowd.resolve_min_crowd``)."""
    consented = store_people.consent(con, campaign_id) is not None
    return resolve_min_crowd(requested, configured_min_crowd(), consented)


def stimulus_by_clock(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> tuple[str, bool]:
    row = con.execute(
        "SELECT s.kind, (SELECT count(*) FROM face_observations o "
        "WHERE o.stimulus_id = s.stimulus_id AND o.ts IS NOT NULL) > 0 "
        "FROM stimuli s WHERE s.stimulus_id = ?",
        [stimulus_id],
    ).fetchone()
    assert row is not None
    return str(row[0]), bool(row[0] != "ad" and row[1])


def published_rows(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per-person base cells of a stimulus with their ``published`` flag for this view.

    The crowd is always counted on whole base cells of all sources; the source and the date
    window only select cells afterwards, so a filter can never cut a cell into a smaller
    crowd. With ``source_id`` the flag is ``published_alone`` (see ``crowd.mark_published``).
    Clock cells are then relabelled to each camera's local time (``clock.localise``), which
    the date window, buckets and the heatmap use.
    """
    rows = mark_published(
        store_people.person_cells(con, stimulus_id, base_cell_s(by_clock), by_clock), min_crowd
    )
    if source_id is not None:
        rows = rows[rows["source_id"] == source_id].copy()
        rows["published"] = rows["published_alone"]
    if by_clock:
        rows = localise(rows, source_zones(con, stimulus_id))
    return _in_window(rows, start, end)


def _in_window(
    rows: pd.DataFrame, start: dt.datetime | None, end: dt.datetime | None
) -> pd.DataFrame:
    """Rows whose base cell starts in [start, end) (clock cells only)."""
    if rows.empty or (start is None and end is None):
        return rows.reset_index(drop=True)
    stamps = pd.to_datetime(rows["cell"])
    keep = pd.Series(True, index=rows.index)
    if start is not None:
        keep &= stamps >= pd.Timestamp(start)
    if end is not None:
        keep &= stamps < pd.Timestamp(end)
    return rows[keep].reset_index(drop=True)


def _bucket_of(cells: pd.Series, bucket_s: float, by_clock: bool) -> pd.Series:
    if by_clock:
        return pd.to_datetime(cells).dt.floor(f"{round(bucket_s)}s")
    base = base_cell_s(False)
    index = np.round(cells.to_numpy(dtype=float) / base).astype("int64")
    per = round(bucket_s / base)
    return pd.Series((index // per) * per * base, index=cells.index, dtype="float64")


def series(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    bucket_s: float,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """One row per bucket of one stimulus (sources pooled unless one is given), privacy
    applied: figures only from base cells with at least ``min_crowd`` people. Clock buckets
    (``bucket_ts``, and ``start``/``end``) are naive local time of each camera's zone."""
    bucket_s = check_bucket(bucket_s, by_clock)
    rows = published_rows(con, stimulus_id, by_clock, min_crowd, source_id, start, end)
    key = "bucket_ts" if by_clock else "bucket_offset_s"
    if rows.empty:
        return _empty_series()
    rows[key] = _bucket_of(rows["cell"], bucket_s, by_clock)
    sampled = store_people.sampled_frames(con, stimulus_id, base_cell_s(by_clock), by_clock)
    if source_id is not None:
        sampled = sampled[sampled["source_id"] == source_id]
    if by_clock:
        sampled = _in_window(localise(sampled, source_zones(con, stimulus_id)), start, end)
    sampled[key] = _bucket_of(sampled["cell"], bucket_s, by_clock) if len(sampled) else []
    sampled = sampled.groupby(key, as_index=False)["sampled_frames"].sum()
    out = summarise(rows, [key], min_crowd, sampled)
    return series_table(out, stimulus_id, bucket_s, by_clock, source_id)


def job_series(
    con: duckdb.DuckDBPyConnection, stimulus_id: int, job_id: int, bucket_s: float, min_crowd: int
) -> pd.DataFrame:
    """``series`` (offset buckets) of one ingest job's people only, under ``crowd.job_view``:
    the numbers of one file whose source also holds other files. The crowd is counted on the
    whole stimulus first, as everywhere, and the job's part is then shown only where every
    file in its source's cell is a crowd of its own."""
    bucket_s = check_bucket(bucket_s, False)
    cells = store_people.person_cells(con, stimulus_id, base_cell_s(False), False)
    rows = job_view(mark_published(cells, min_crowd), min_crowd, job_id)
    if rows.empty:
        return _empty_series()
    source_id = int(rows["source_id"].iloc[0])
    rows["bucket_offset_s"] = _bucket_of(rows["cell"], bucket_s, False)
    out = summarise(rows, ["bucket_offset_s"], min_crowd)
    return series_table(out, stimulus_id, bucket_s, False, source_id)


def series_table(
    figures: pd.DataFrame,
    stimulus_id: int,
    bucket_s: float,
    by_clock: bool,
    source_id: int | None,
) -> pd.DataFrame:
    """``series``'s table from per-bucket figures keyed by ``bucket_ts`` (``by_clock``) or
    ``bucket_offset_s``: sorted, the other key empty, ids and bucket size first."""
    key = "bucket_ts" if by_clock else "bucket_offset_s"
    out = figures.sort_values(key).reset_index(drop=True)
    out["bucket_offset_s" if by_clock else "bucket_ts"] = None
    out.insert(0, "stimulus_id", stimulus_id)
    out.insert(1, "source_id", pd.array([source_id] * len(out), dtype="Int64"))
    out.insert(2, "bucket_s", float(bucket_s))
    first = ["stimulus_id", "source_id", "bucket_s", *SERIES_KEYS, "faces", "people"]
    return out[[*first, *(c for c in out.columns if c not in first)]]


def _empty_series() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["stimulus_id", "source_id", "bucket_s", *SERIES_KEYS, "faces", "people"]
    )


def hour_weekday(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per (ISO weekday 1-7, hour 0-23) of clock-time cells: faces, people, valence, mean
    happiness; withheld cells never enter a figure."""
    rows = published_rows(con, stimulus_id, True, min_crowd, source_id, start, end)
    if rows.empty:
        return empty_hour_weekday()
    stamps = pd.to_datetime(rows["cell"])
    rows["weekday"] = stamps.dt.isocalendar().day.astype("int64").to_numpy()
    rows["hour"] = stamps.dt.hour.astype("int64")
    out = summarise(rows, ["weekday", "hour"], min_crowd)
    return out.sort_values(["weekday", "hour"]).reset_index(drop=True)


def selection(
    con: duckdb.DuckDBPyConnection,
    stimulus_id: int,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """One row of figures over the people of a view (a stimulus, optionally one source and a
    date window), each person once: unlike a mean of its buckets, it does not weigh a person
    by how many buckets they stood in. Empty when nothing is in view."""
    rows = published_rows(con, stimulus_id, by_clock, min_crowd, source_id, start, end)
    if rows.empty:
        return pd.DataFrame()
    return summarise(rows.assign(stimulus_id=stimulus_id), ["stimulus_id"], min_crowd)


def empty_hour_weekday() -> pd.DataFrame:
    return pd.DataFrame(columns=["weekday", "hour", "faces", "people", "valence", "mean_happiness"])


def stimulus_people(
    con: duckdb.DuckDBPyConnection, stimulus_id: int, min_crowd: int
) -> pd.DataFrame:
    """One row per published person of a stimulus (a snapshot camera's: per face): their
    own figures (for A/B verdicts); ``attrs["people"]``: how many people that is."""
    _, by_clock = stimulus_by_clock(con, stimulus_id)
    rows = published_rows(con, stimulus_id, by_clock, min_crowd)
    shown = rows[rows["published"]]
    people = person_table(shown.assign(stimulus_id=stimulus_id), ["stimulus_id"])
    versions = shown.drop_duplicates(PERSON)[[*PERSON, "model_version", "detector"]]
    out = people.merge(versions, on=PERSON, how="left") if len(people) else people
    # How many people these rows are (``verdicts.Audience.from_people``): a snapshot
    # camera's rows are faces, and count as its most faces in one snapshot.
    counted = group_counts(shown.assign(stimulus_id=stimulus_id), ["stimulus_id"])
    out.attrs["people"] = int(counted["people"].sum()) if len(counted) else 0
    return out


def stimulus_summary(
    con: duckdb.DuckDBPyConnection, campaign_id: int, min_crowd: int
) -> pd.DataFrame:
    """One row per stimulus of a campaign (also those without faces): counts, audience
    metrics and expression figures over people, withheld cells left out."""
    stimuli = queries.stimuli(con, campaign_id)
    parts = []
    for stimulus_id in stimuli["stimulus_id"].astype(int):
        _, by_clock = stimulus_by_clock(con, stimulus_id)
        rows = published_rows(con, stimulus_id, by_clock, min_crowd)
        if rows.empty:
            continue
        rows["stimulus_id"] = stimulus_id
        sampled = store_people.sampled_frames(
            con, stimulus_id, base_cell_s(by_clock), by_clock
        ).assign(stimulus_id=stimulus_id)
        sampled = sampled.groupby("stimulus_id", as_index=False)["sampled_frames"].sum()
        parts.append(summarise(rows, ["stimulus_id"], min_crowd, sampled))
    return summary_table(stimuli, pd.concat(parts, ignore_index=True) if parts else None)


def summary_table(stimuli: pd.DataFrame, figures: pd.DataFrame | None) -> pd.DataFrame:
    """The stimuli table with their figures (``summarise`` rows keyed by stimulus_id): every
    stimulus, those without faces with zero counts and no figures."""
    out = stimuli if figures is None else stimuli.merge(figures, on="stimulus_id", how="left")
    for column in ("faces", "people", "people_shown"):
        out[column] = out[column].fillna(0).astype("int64") if column in out else 0
    for column in FIGURES:
        if column not in out:
            out[column] = float("nan")
    if "suppressed" not in out:
        out["suppressed"] = False
    out["suppressed"] = out["suppressed"].fillna(False).astype(bool) & (out["faces"] > 0)
    out["snapshot"] = out["snapshot"].fillna(False).astype(bool) if "snapshot" in out else False
    return out


def campaign_kpis(
    con: duckdb.DuckDBPyConnection, campaign_id: int, min_crowd: int
) -> dict[str, float]:
    """Headline figures of a campaign over all its stimuli's people (withheld cells out)."""
    parts = []
    for stimulus_id in queries.stimulus_ids(con, campaign_id):
        _, by_clock = stimulus_by_clock(con, stimulus_id)
        rows = published_rows(con, stimulus_id, by_clock, min_crowd)
        if len(rows):
            parts.append(rows.assign(campaign_id=campaign_id))
    rows = pd.concat(parts, ignore_index=True) if parts else None
    return kpis(None if rows is None else summarise(rows, ["campaign_id"], min_crowd))


def kpis(table: pd.DataFrame | None) -> dict[str, float]:
    """``campaign_kpis``'s answer from its one-row summary (None: no faces) as plain values."""
    if table is None:
        return {"faces": 0, "people": 0, "suppressed": True}
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in table.iloc[0].items()}


def segment_summary(
    con: duckdb.DuckDBPyConnection, stimulus_id: int, min_crowd: int, peak_bucket_s: float = 1.0
) -> pd.DataFrame:
    """Per ad segment: counts, audience and expression figures over people, and the peak
    moment (the shown ``peak_bucket_s`` bucket of highest valence inside the segment)."""
    segments = queries.segments(con, stimulus_id)
    rows = published_rows(con, stimulus_id, False, min_crowd)
    parts = [
        rows[(rows["cell"] >= s.start_s) & (rows["cell"] < s.end_s)].assign(segment=s.name)
        for s in segments.itertuples(index=False)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return segments.assign(faces=0, people=0, suppressed=False)
    out = summarise(pd.concat(parts, ignore_index=True), ["segment"], min_crowd)
    out = segments.merge(out, left_on="name", right_on="segment", how="left").drop(
        columns=["segment"]
    )
    curve = series(con, stimulus_id, peak_bucket_s, False, min_crowd)
    return with_peaks(out, segments, curve)


def with_peaks(out: pd.DataFrame, segments: pd.DataFrame, curve: pd.DataFrame) -> pd.DataFrame:
    """``out`` (one row per segment) with the peak moment of each: the shown bucket of
    ``curve`` (a series by offset) with the highest valence inside the segment, the earliest
    of those that tie.

    Ties are taken within ``PEAK_TIE`` because the curve read from rollups and the one read
    from face rows sum the same numbers in another order: equal valences then differ in their
    last bits, and an exact maximum would pick another second depending on the path."""
    shown = curve[~curve["suppressed"]] if len(curve) else curve
    peaks_s, peaks_v = [], []
    for s in segments.itertuples(index=False):
        inside = shown[
            (shown["bucket_offset_s"] >= s.start_s) & (shown["bucket_offset_s"] < s.end_s)
        ]
        inside = inside[inside["valence"].notna()].sort_values("bucket_offset_s")
        best = None
        if len(inside):
            best = inside[inside["valence"] >= inside["valence"].max() - PEAK_TIE].iloc[0]
        peaks_s.append(np.nan if best is None else float(best["bucket_offset_s"]))
        peaks_v.append(np.nan if best is None else float(best["valence"]))
    out["peak_s"] = peaks_s
    out["peak_valence"] = peaks_v
    return out
