"""Local clock time of each camera: UTC cells to the wall time of the source's zone.

Stored timestamps are UTC. Everything a person reads by clock time (display series, the hour
x weekday heatmap, date filters) is in the local time of the camera that filmed it, so a
chain across zones reads "10:00" as opening time in each shop. The minimum crowd is applied
on UTC cells first (people actually present together); only then are cells relabelled, so a
bucket of local time is still a union of published cells.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd

from pipeline.store.zones import DEFAULT_ZONE


def localise(table: pd.DataFrame, zones: Mapping[int, str], column: str = "cell") -> pd.DataFrame:
    """``table`` with ``column`` (naive UTC timestamps) turned into naive local wall time of
    each row's ``source_id`` (zones: source id -> IANA name; missing: UTC)."""
    if table.empty or all(zone == DEFAULT_ZONE for zone in zones.values()):
        return table
    stamps = pd.to_datetime(table[column])
    local = stamps.copy()
    for source_id, rows in table.groupby("source_id").groups.items():
        zone = zones.get(int(source_id), DEFAULT_ZONE)
        if zone != DEFAULT_ZONE:
            part = stamps.loc[rows].dt.tz_localize("UTC").dt.tz_convert(zone)
            local.loc[rows] = part.dt.tz_localize(None)
    out = table.copy()
    out[column] = local
    return out


def local_time(stamp: dt.datetime | pd.Timestamp, zone: str) -> pd.Timestamp:
    """A naive UTC timestamp as naive wall time in ``zone``."""
    utc = pd.Timestamp(stamp).tz_localize("UTC")
    return utc.tz_convert(zone).tz_localize(None)


def zone_label(zones: Iterable[str]) -> str:
    """What to say on a clock axis: the one zone, or that each camera's local time is used."""
    names = sorted(set(zones)) or [DEFAULT_ZONE]
    if len(names) == 1:
        return names[0]
    return "local time of each camera: " + ", ".join(names)


def axis_title(zones: Iterable[str]) -> str:
    """``Time (Europe/Berlin)``, or ``Local time (...)`` when cameras are in several zones."""
    label = zone_label(zones)
    return f"Local time ({label.split(': ', 1)[1]})" if ": " in label else f"Time ({label})"


def local_range(
    ranges: pd.DataFrame, zones: Mapping[int, str]
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """(earliest first, latest last) local wall time over sources, from per-source UTC
    ``first_ts`` / ``last_ts`` (``queries.source_time_ranges``); (None, None) when empty."""
    if ranges.empty:
        return None, None
    firsts = localise(ranges, zones, "first_ts")["first_ts"]
    lasts = localise(ranges, zones, "last_ts")["last_ts"]
    return pd.Timestamp(firsts.min()), pd.Timestamp(lasts.max())


def with_gaps(series: pd.DataFrame) -> pd.DataFrame:
    """A clock series with one blank row (NaN figures and counts) after every bucket whose
    next bucket is not adjacent: charts then break their lines over closed nights and other
    hours without footage instead of drawing a straight line across them."""
    if len(series) < 2:
        return series
    step = pd.Timedelta(seconds=float(series["bucket_s"].iloc[0]))
    starts = pd.to_datetime(series["bucket_ts"]).reset_index(drop=True)
    follows = starts.shift(-1) - starts > step
    if not follows.any():
        return series
    blanks = series.iloc[:0].reindex(range(int(follows.sum())))
    for column in ("stimulus_id", "source_id", "bucket_s"):
        if column in series.columns:
            blanks[column] = series[column].iloc[0]
    blanks["bucket_ts"] = (starts[follows] + step).to_numpy()
    if "suppressed" in series.columns:
        blanks["suppressed"] = False
    rows = pd.concat([series.reset_index(drop=True), blanks], ignore_index=True)
    rows["bucket_ts"] = pd.to_datetime(rows["bucket_ts"])
    return rows.sort_values("bucket_ts", kind="stable").reset_index(drop=True)
