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
