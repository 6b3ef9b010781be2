"""Audience tables of the store: the one road from DuckDB to people statistics.

Every figure is read from the rollups (migration 012, ``pipeline.store.rollups``), never from
face rows: the minimum crowd is decided on the base cells of ``rollup_cells`` exactly as
``crowd.mark_published`` decides it on face rows, and the figures of a bucket are the people
sums of ``rollup_people`` (bucket sizes the dashboard offers, the whole stimulus, hours of the
week, ad segments). Where a bucket mixes shown and withheld cells, the people seen in the
withheld ones are taken out and put back with their shown rows only
(``rollup_reads.corrections``); other bucket sizes are summed from the person cells. The
answers are those of ``pipeline.audience.raw`` (face rows) to float rounding: tests compare
the two on real databases after ingest, ``--force``, delete and purge.

The dashboard, the exports and the reports call these and nothing lower, so no two of them can
disagree about what is withheld.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from pipeline.audience import raw
from pipeline.audience.grid import check_bucket
from pipeline.audience.intervals import band_over_people
from pipeline.audience.totals import figures, verdict_moments
from pipeline.audience.verdicts import Audience
from pipeline.store import queries
from pipeline.store import rollup_reads as stored
from pipeline.store.rollups import (
    CLOCK_LEVELS,
    CONTRIBUTION_COLUMNS,
    HOUR_OF_WEEK,
    OFFSET_LEVELS,
    SEGMENT,
    WHOLE,
)

SERIES_KEYS = raw.SERIES_KEYS
configured_min_crowd = raw.configured_min_crowd
campaign_min_crowd = raw.campaign_min_crowd
_COUNTS = ["faces", "snapshot", "people"]


def stimulus_by_clock(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> tuple[str, bool]:
    """(kind, whether its figures go by clock time): displays and products with timed rows."""
    kind, timed = stored.kind_and_clock(con, stimulus_id)
    return kind, kind != "ad" and timed


def stimuli_by_clock(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]) -> dict[int, bool]:
    """``stimulus_by_clock``'s grid of several stimuli, in one query."""
    return stored.clock_grids(con, stimulus_ids)


def _stamps(cells: pd.Series) -> pd.Series:
    return pd.to_datetime(cells, unit="s")


def _groups(con: duckdb.DuckDBPyConnection, spec: stored.Groups) -> pd.DataFrame:
    """Per group (``grp``) with a selected cell: faces, snapshot and people over the selected
    cells, sampled frames, and the people sums of its shown people (CONTRIBUTION_COLUMNS).

    Stored sums cover everyone in a group; a group that mixes shown with withheld or
    unselected cells gets its correction (``rollup_reads.corrections``), a group without a
    shown cell no figures.
    """
    table = stored.groups(con, spec)
    if table.empty:
        return table
    sums = list(CONTRIBUTION_COLUMNS)
    keys = ["stimulus_id", "grp"]
    table["stimulus_id"] = table["stimulus_id"].astype("int64")
    if spec.level is None:
        fix = stored.corrections(con, spec, table[keys])
        fix["stimulus_id"] = fix["stimulus_id"].astype("int64")
        table = table.merge(fix, on=keys, how="left")
        table[[*sums, "video_people"]] = table[[*sums, "video_people"]].fillna(0)
        video = table["video_people"].to_numpy(dtype=float).copy()
    else:
        mixed = ~table["all_shown"] & (table["any_shown"] | ~table["all_selected"])
        video = table["video"].to_numpy(dtype=float).copy()
        if mixed.any():
            fix = stored.corrections(con, spec, table.loc[mixed, keys])
            fix["stimulus_id"] = fix["stimulus_id"].astype("int64")
            fix = fix.set_index(keys).reindex(pd.MultiIndex.from_frame(table[keys])).fillna(0)
            table[sums] = table[sums].to_numpy(dtype=float) + fix[sums].to_numpy(dtype=float)
            video = video + fix["video_people"].to_numpy(dtype=float)
    table.loc[~table["any_shown"], sums] = 0.0
    people = np.round(video) + table["snapshot_people"].to_numpy(dtype=float)
    table["people"] = people.astype("int64")
    shown = np.round(table["video"].to_numpy(dtype=float)) + table["snapshot_people_shown"]
    table["people_shown"] = shown.astype("int64")
    table["faces"] = table["faces"].astype("int64")
    return table


def _finish(groups: pd.DataFrame, keys: list[str], min_crowd: int, sampled: bool) -> pd.DataFrame:
    """``metrics.summarise``'s table from ``_groups`` rows with ``keys`` columns."""
    table = groups[[*keys, *_COUNTS]].reset_index(drop=True)
    found = figures(groups[list(CONTRIBUTION_COLUMNS)].reset_index(drop=True), min_crowd)
    # People, not faces: a snapshot camera's shown faces count as its most in one snapshot.
    found["people_shown"] = groups["people_shown"].to_numpy(dtype="int64")
    found["valence_low"], found["valence_high"] = band_over_people(
        found["valence"], found["valence_high"], np.round(groups["persons"]), found["people_shown"]
    )
    out = pd.concat([table, found], axis=1)
    out["suppressed"] = out["people_shown"] == 0
    if sampled and out["snapshot"].any():
        frames = groups["sampled_frames"].reset_index(drop=True)
        per = out["faces"] / frames.where(frames > 0)
        out["people_per_snapshot"] = per.where(out["snapshot"] & ~out["suppressed"])
    return out


def _spec(
    stimulus_id: int, by_clock: bool, min_crowd: int, grouping: str, **kwargs: object
) -> stored.Groups:
    levels = CLOCK_LEVELS if by_clock else OFFSET_LEVELS
    bucket = float(kwargs.get("bucket_s", 0.0))  # type: ignore[arg-type]
    level = {
        "stimulus": WHOLE,
        "hour_of_week": HOUR_OF_WEEK,
        "segment": SEGMENT,
        "bucket": bucket if bucket in levels else None,
    }[grouping]
    return stored.Groups(stimulus_id, by_clock, min_crowd, grouping, level, **kwargs)  # type: ignore[arg-type]


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
    applied: figures only from base cells with at least ``min_crowd`` people."""
    bucket_s = check_bucket(bucket_s, by_clock)
    if not stored.keeps_grid(con, stimulus_id, by_clock):
        return raw.series(con, stimulus_id, bucket_s, by_clock, min_crowd, source_id, start, end)
    spec = _spec(
        stimulus_id,
        by_clock,
        min_crowd,
        "bucket",
        bucket_s=bucket_s,
        source_id=source_id,
        start=start,
        end=end,
    )
    return _series_table(_groups(con, spec), stimulus_id, bucket_s, by_clock, min_crowd, source_id)


def job_series(
    con: duckdb.DuckDBPyConnection, stimulus_id: int, job_id: int, bucket_s: float, min_crowd: int
) -> pd.DataFrame:
    """``series`` (offset buckets) of one ingest job's people, where its source also holds
    other files (``raw.job_series``: the crowd rule per file in a cell). From the face rows:
    the rollups keep no file's own cells, and only an API operation whose video was stored
    into such a source asks."""
    return raw.job_series(con, stimulus_id, job_id, bucket_s, min_crowd)


def series_of_stimuli(
    con: duckdb.DuckDBPyConnection,
    wanted: list[tuple[int, float, bool]],
    min_crowd: int,
) -> dict[int, pd.DataFrame]:
    """``series`` of several stimuli, each (stimulus, bucket_s, by_clock), sources pooled:
    those on the same grid and bucket in one grouped query (a campaign export reads all its
    stimuli in two, not one per stimulus)."""
    wanted = [(s, check_bucket(b, c), c) for s, b, c in wanted]
    held = stored.kinds_and_clocks(con, [s for s, _, _ in wanted])
    found: dict[int, pd.DataFrame] = {}
    batches: dict[tuple[float, bool], list[int]] = {}
    for stimulus, bucket, by_clock in wanted:
        if stimulus in held and stored.holds_grid(*held[stimulus], by_clock):
            batches.setdefault((bucket, by_clock), []).append(stimulus)
        else:
            found[stimulus] = raw.series(con, stimulus, bucket, by_clock, min_crowd)
    for (bucket, by_clock), ids in batches.items():
        batch = tuple((s, by_clock) for s in ids)
        spec = _spec(ids[0], by_clock, min_crowd, "bucket", bucket_s=bucket, batch=batch)
        groups = _groups(con, spec)
        for stimulus in ids:
            mine = groups[groups["stimulus_id"] == stimulus] if len(groups) else groups
            found[stimulus] = _series_table(mine, stimulus, bucket, by_clock, min_crowd, None)
    return {s: found[s] for s, _, _ in wanted}


def _series_table(
    groups: pd.DataFrame,
    stimulus_id: int,
    bucket_s: float,
    by_clock: bool,
    min_crowd: int,
    source_id: int | None,
) -> pd.DataFrame:
    """``series``'s table from the ``_groups`` rows of one stimulus."""
    key = "bucket_ts" if by_clock else "bucket_offset_s"
    if groups.empty:
        return raw._empty_series()
    groups = groups.reset_index(drop=True)
    groups[key] = _stamps(groups["grp"]) if by_clock else groups["grp"].astype(float)
    out = _finish(groups, [key], min_crowd, sampled=True)
    return raw.series_table(out, stimulus_id, bucket_s, by_clock, source_id)


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
    if not stored.keeps_grid(con, stimulus_id, True):
        return raw.hour_weekday(con, stimulus_id, min_crowd, source_id, start, end)
    spec = _spec(
        stimulus_id, True, min_crowd, "hour_of_week", source_id=source_id, start=start, end=end
    )
    groups = _groups(con, spec)
    if groups.empty:
        return raw.empty_hour_weekday()
    hours = groups["grp"].round().astype("int64")
    groups["weekday"] = hours // 24 + 1
    groups["hour"] = hours % 24
    out = _finish(groups, ["weekday", "hour"], min_crowd, sampled=False)
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
    """One row of figures over the people of a view (``raw.selection``): each person once,
    however many buckets they stood in. Empty when nothing is in view."""
    if not stored.keeps_grid(con, stimulus_id, by_clock):
        return raw.selection(con, stimulus_id, by_clock, min_crowd, source_id, start, end)
    spec = _spec(
        stimulus_id, by_clock, min_crowd, "stimulus", source_id=source_id, start=start, end=end
    )
    groups = _groups(con, spec)
    if groups.empty:
        return pd.DataFrame()
    groups["stimulus_id"] = stimulus_id
    return _finish(groups, ["stimulus_id"], min_crowd, sampled=False)


def _whole_stimuli(
    con: duckdb.DuckDBPyConnection, stimulus_ids: list[int], min_crowd: int
) -> tuple[pd.DataFrame, stored.Groups]:
    """One ``_groups`` row per stimulus with faces (``stimulus_id``), each on its own grid,
    in one query; and the spec that read them."""
    grids = stored.clock_grids(con, stimulus_ids) if stimulus_ids else {}
    batch = tuple((s, grids[s]) for s in stimulus_ids if s in grids)
    spec = _spec(stimulus_ids[0] if batch else 0, False, min_crowd, "stimulus", batch=batch)
    if not batch:
        return pd.DataFrame(), spec
    groups = _groups(con, spec)
    if len(groups):
        groups["stimulus_id"] = groups["grp"].round().astype("int64")
    return groups, spec


def stimulus_people(con: duckdb.DuckDBPyConnection, stimulus_id: int, min_crowd: int) -> Audience:
    """The published people of a stimulus as A/B verdicts need them (``verdicts.Audience``):
    how many, the moments of each metric over them, and the versions that scored them."""
    return audiences(con, [stimulus_id], min_crowd)[stimulus_id]


def audiences(
    con: duckdb.DuckDBPyConnection, stimulus_ids: list[int], min_crowd: int
) -> dict[int, Audience]:
    """``stimulus_people`` of several stimuli in two queries (the Compare page, verdicts)."""
    groups, spec = _whole_stimuli(con, stimulus_ids, min_crowd)
    found = {s: Audience(0, {}) for s in stimulus_ids}
    if groups.empty:
        return found
    versions = stored.versions(con, spec)
    for _, sums in groups.iterrows():
        stimulus = int(sums["stimulus_id"])
        people = int(sums["people_shown"])
        found[stimulus] = Audience(people, verdict_moments(sums), frozenset(versions[stimulus]))
    return found


def stimulus_summary(
    con: duckdb.DuckDBPyConnection, campaign_id: int, min_crowd: int
) -> pd.DataFrame:
    """One row per stimulus of a campaign (also those without faces): counts, audience
    metrics and expression figures over people, withheld cells left out."""
    stimuli = queries.stimuli(con, campaign_id)
    groups, _ = _whole_stimuli(con, [int(s) for s in stimuli["stimulus_id"]], min_crowd)
    found = _finish(groups, ["stimulus_id"], min_crowd, True) if len(groups) else None
    return raw.summary_table(stimuli, found)


def campaign_kpis(
    con: duckdb.DuckDBPyConnection, campaign_id: int, min_crowd: int
) -> dict[str, float]:
    """Headline figures of a campaign over all its stimuli's people (withheld cells out)."""
    both, _ = _whole_stimuli(con, queries.stimulus_ids(con, campaign_id), min_crowd)
    if both.empty:
        return raw.kpis(None)
    counts = ["faces", "people", "people_shown"]
    total = both[[*counts, *CONTRIBUTION_COLUMNS]].sum().to_frame().T.astype(float)
    total[counts] = total[counts].astype("int64")
    total.insert(0, "campaign_id", campaign_id)
    total["snapshot"] = bool(both["snapshot"].all())
    return raw.kpis(_finish(total, ["campaign_id"], min_crowd, sampled=False))


def segment_summary(
    con: duckdb.DuckDBPyConnection, stimulus_id: int, min_crowd: int, peak_bucket_s: float = 1.0
) -> pd.DataFrame:
    """Per ad segment: counts, audience and expression figures over people, and the peak
    moment (the shown ``peak_bucket_s`` bucket of highest valence inside the segment)."""
    if not stored.keeps_grid(con, stimulus_id, False):
        return raw.segment_summary(con, stimulus_id, min_crowd, peak_bucket_s)
    segments = queries.segments(con, stimulus_id)
    groups = _groups(con, _spec(stimulus_id, False, min_crowd, "segment"))
    if groups.empty:
        return segments.assign(faces=0, people=0, suppressed=False)
    groups["segment"] = segments["name"].to_numpy()[groups["grp"].round().astype(int)]
    out = _finish(groups, ["segment"], min_crowd, sampled=False)
    out = segments.merge(out, left_on="name", right_on="segment", how="left").drop(
        columns=["segment"]
    )
    curve = series(con, stimulus_id, peak_bucket_s, False, min_crowd)
    return raw.with_peaks(out, segments, curve)
