"""Time zones of cameras and campaigns: which clock each source's footage was filmed by.

Timestamps are stored in UTC. A source may name its IANA zone (``Europe/Berlin``); a source
without one follows its campaign's default, and a campaign without one is UTC. Views and
reports convert to the source's zone before bucketing, so "10:00" is opening time at every
shop of a chain that spans zones (``pipeline.audience.clock``).
"""

from __future__ import annotations

import functools
import zoneinfo

import duckdb

from pipeline.errors import InputError

DEFAULT_ZONE = "UTC"


@functools.cache
def known_zones() -> tuple[str, ...]:
    """IANA names zoneinfo can load offline (system tz database or the ``tzdata`` wheel),
    sorted, for pickers."""
    return tuple(sorted(set(zoneinfo.available_timezones()) | {DEFAULT_ZONE}))


def check_zone(name: str) -> str:
    """``name`` stripped if it is a known IANA zone (``Europe/Berlin``), else InputError."""
    zone = (name or "").strip()
    if zone not in known_zones():
        raise InputError(
            "Unknown time zone",
            f"{name!r} is not an IANA time zone name; use one like Europe/Berlin, "
            "America/New_York or UTC.",
        )
    zoneinfo.ZoneInfo(zone)  # loads: the tz data really is there
    return zone


def set_source_zone(con: duckdb.DuckDBPyConnection, source_id: int, zone: str | None) -> None:
    """Set a source's zone; None: follow its campaign's default. Its local-time rollups are
    recomputed in the same transaction."""
    from pipeline.store import rollups
    from pipeline.store.database import transaction

    value = None if zone is None else check_zone(zone)
    with transaction(con):
        con.execute("UPDATE sources SET time_zone = ? WHERE source_id = ?", [value, source_id])
        rollups.refresh_clock(con, [source_id])


def set_campaign_zone(con: duckdb.DuckDBPyConnection, campaign_id: int, zone: str | None) -> None:
    """Set the zone of a campaign's sources that have none; None: UTC. Their local-time
    rollups are recomputed in the same transaction."""
    from pipeline.store import rollups
    from pipeline.store.database import transaction

    value = None if zone is None else check_zone(zone)
    with transaction(con):
        con.execute(
            "UPDATE campaigns SET time_zone = ? WHERE campaign_id = ?", [value, campaign_id]
        )
        sources = con.execute(
            "SELECT so.source_id FROM sources so JOIN stimuli st USING (stimulus_id) "
            "WHERE st.campaign_id = ?",
            [campaign_id],
        ).fetchall()
        rollups.refresh_clock(con, [int(s[0]) for s in sources])


def campaign_zone(con: duckdb.DuckDBPyConnection, campaign_id: int) -> str | None:
    """The campaign's own default zone, or None (its sources then default to UTC)."""
    row = con.execute(
        "SELECT time_zone FROM campaigns WHERE campaign_id = ?", [campaign_id]
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def source_zones(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> dict[int, str]:
    """Zone in force per source of a stimulus: its own, else its campaign's, else UTC."""
    rows = con.execute(
        "SELECT so.source_id, coalesce(so.time_zone, c.time_zone, ?) "
        "FROM sources so JOIN stimuli st USING (stimulus_id) "
        "JOIN campaigns c ON c.campaign_id = st.campaign_id WHERE so.stimulus_id = ?",
        [DEFAULT_ZONE, stimulus_id],
    ).fetchall()
    return {int(source_id): str(zone) for source_id, zone in rows}


def source_settings(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> list[tuple]:
    """(source_id, name, kind, own zone or None, zone in force) per source of a stimulus."""
    return con.execute(
        "SELECT so.source_id, so.name, so.kind, so.time_zone, "
        "coalesce(so.time_zone, c.time_zone, ?) "
        "FROM sources so JOIN stimuli st USING (stimulus_id) "
        "JOIN campaigns c ON c.campaign_id = st.campaign_id WHERE so.stimulus_id = ? "
        "ORDER BY so.name",
        [DEFAULT_ZONE, stimulus_id],
    ).fetchall()
