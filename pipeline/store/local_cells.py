"""Clock cells in each camera's local time, for the rollups (see ``pipeline.audience.clock``).

Base cells are 5 minutes of UTC and every time zone in use today is a whole number of 5
minutes away from it, so a cell stays a cell in local time: only its label moves. Buckets of
15 minutes and more, days, the heatmap and date windows are local, so the rollups bucket
``local`` instead of ``cell`` for cameras outside UTC. ``local_cells`` registers the
mapping (source_id, cell, local) as ``_rollup_local`` while a query needs it; with every
camera on UTC it registers nothing and queries use the cell as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb
import pandas as pd

UTC = "UTC"
NAME = "_rollup_local"


def non_utc_zones(
    con: duckdb.DuckDBPyConnection,
    source_ids: list[int] | None = None,
    stimulus_ids: list[int] | None = None,
) -> dict[int, str]:
    """Zone in force (source, else campaign) of these sources, or of these stimuli's sources
    (all: None), that are not on UTC."""
    rows = con.execute(
        "SELECT so.source_id, coalesce(so.time_zone, c.time_zone, $utc) FROM sources so "
        "JOIN stimuli st ON st.stimulus_id = so.stimulus_id "
        "JOIN campaigns c ON c.campaign_id = st.campaign_id "
        "WHERE ($sources IS NULL OR so.source_id IN (SELECT unnest($sources))) "
        "AND ($stimuli IS NULL OR so.stimulus_id IN (SELECT unnest($stimuli)))",
        {"utc": UTC, "sources": source_ids, "stimuli": stimulus_ids},
    ).fetchall()
    return {int(s): str(z) for s, z in rows if z != UTC}


def _local(cells: pd.DataFrame, zones: dict[int, str]) -> pd.DataFrame:
    stamps = pd.to_datetime(cells["cell"], unit="s").dt.tz_localize(UTC)
    local = pd.Series(0.0, index=cells.index)
    for source_id, rows in cells.groupby("source_id").groups.items():
        wall = stamps.loc[rows].dt.tz_convert(zones[int(source_id)]).dt.tz_localize(None)
        local.loc[rows] = (wall - pd.Timestamp(0)).dt.total_seconds()
    return cells.assign(local=local)


@contextlib.contextmanager
def local_cells(
    con: duckdb.DuckDBPyConnection,
    source_ids: list[int] | None = None,
    stimulus_ids: list[int] | None = None,
) -> Iterator[bool]:
    """Registers ``_rollup_local`` for the clock cells of these sources' (or stimuli's)
    cameras outside UTC; yields whether it did (False: all on UTC, use ``cell``)."""
    zones = non_utc_zones(con, source_ids, stimulus_ids)
    if not zones:
        yield False
        return
    cells = con.execute(
        "SELECT DISTINCT source_id, cell FROM rollup_cells WHERE by_clock "
        "AND source_id IN (SELECT unnest(?))",
        [list(zones)],
    ).df()
    con.register(NAME, _local(cells, zones) if len(cells) else cells.assign(local=0.0))
    try:
        yield True
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(NAME)


def cell_expression(alias: str, local: bool) -> tuple[str, str]:
    """(the local cell of ``alias``'s clock row, the join that provides it)."""
    if not local:
        return f"{alias}.cell", ""
    return (
        f"coalesce(lc.local, {alias}.cell)",
        f"LEFT JOIN {NAME} lc ON lc.source_id = {alias}.source_id AND lc.cell = {alias}.cell "
        f"AND {alias}.by_clock",
    )
