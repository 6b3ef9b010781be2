"""The minimum crowd, counted in people, applied to base cells.

People in a base cell: distinct tracks for footage (each ingest job's tracks are its own
people, so ten one-respondent files make ten people); for snapshot cameras, whose faces are
not linked across snapshots, the most faces in any one snapshot of the cell. A cell with fewer
people than the minimum crowd is withheld, and its rows never enter any figure. Sources
(cameras, viewing rooms) of one stimulus pool into the stimulus's cell; a single source's part
is shown on its own only when every source's part of that cell is a crowd.
"""

from __future__ import annotations

import pandas as pd

from pipeline.errors import InputError

CELL_KEYS = ["source_id", "cell"]
# A source's cell split by ingest job (one file each): the unit of ``job_view``.
JOB_CELL_KEYS = [*CELL_KEYS, "job_id"]


def crowd_floor(configured: int, consented: bool) -> int:
    """The lowest minimum crowd allowed: 1 for a consented study, else the configured one."""
    return 1 if consented else max(1, int(configured))


def resolve_min_crowd(requested: int | None, configured: int, consented: bool) -> int:
    """The minimum crowd in force: the floor when none is requested; a request may only raise
    it. Raises a one-line InputError (exit 2 on the CLI) for a request below the floor."""
    floor = crowd_floor(configured, consented)
    if requested is None:
        return floor
    if int(requested) < floor:
        raise InputError(
            "Minimum crowd too low",
            f"{requested} is below the configured minimum of {floor} people "
            "(EMOTION_MIN_CROWD); it can only be raised.",
        )
    return int(requested)


def cell_people(rows: pd.DataFrame, keys: list[str] = CELL_KEYS) -> pd.DataFrame:
    """Per base cell (``keys``: source_id, cell by default): faces, people and whether it is
    a snapshot cell."""
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "faces", "people", "snapshot"])
    grouped = rows.groupby(keys, sort=True)
    cells = grouped.agg(
        faces=("frames", "sum"),
        tracks=("track_id", "size"),
        most_in_snapshot=("max_faces_in_frame", "max"),
        snapshot=("snapshot", "any"),
    ).reset_index()
    cells["people"] = cells["most_in_snapshot"].where(cells["snapshot"], cells["tracks"])
    return cells[[*keys, "faces", "people", "snapshot"]]


def mark_published(rows: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """``rows`` (per-person cells of all sources of one stimulus) with two flags.

    ``published``: the cell, all sources pooled, has at least ``min_crowd`` people; pooled
    views use it. ``published_alone``: additionally every source with people in that cell has
    at least ``min_crowd`` of its own; views of one source (camera filter) use it. All or
    nothing per cell: if one camera's part of a cell is small, no camera's part is shown on
    its own, so "all cameras minus camera A" can never isolate camera B's few people.
    """
    if rows.empty:
        return rows.assign(published=pd.Series(dtype=bool), published_alone=pd.Series(dtype=bool))
    cells = cell_people(rows)
    crowd = int(min_crowd)
    cells["big_alone"] = cells["people"] >= crowd
    pooled = cells.groupby("cell").agg(
        pooled_people=("people", "sum"), all_big=("big_alone", "all")
    )
    cells = cells.join(pooled, on="cell")
    cells["published"] = cells["pooled_people"] >= crowd
    cells["published_alone"] = cells["published"] & cells["all_big"]
    out = rows.merge(cells[[*CELL_KEYS, "published", "published_alone"]], on=CELL_KEYS, how="left")
    for flag in ("published", "published_alone"):
        out[flag] = out[flag].fillna(False).astype(bool)
    return out


def job_view(rows: pd.DataFrame, min_crowd: int, job_id: int) -> pd.DataFrame:
    """The rows of one ingest job (one file) among ``mark_published`` rows, flagged
    ``published`` where that file's part of a cell may be shown on its own: its source's part is
    shown alone (``published_alone``) and every job with people in that source's cell has at
    least ``min_crowd`` of its own.

    Why: an API operation whose video the stimulus already holds answers with that file's
    numbers, and the file may share its source with others (a folder ingested from the CLI).
    All or nothing per cell, as for sources, so "the source minus this file" can never isolate
    another file's few people.
    """
    own = rows[rows["job_id"] == job_id].copy()
    if own.empty:
        return own
    jobs = cell_people(rows[rows["source_id"].isin(own["source_id"].unique())], JOB_CELL_KEYS)
    jobs["big"] = jobs["people"] >= int(min_crowd)
    crowded = jobs.groupby(CELL_KEYS, as_index=False).agg(every_job_big=("big", "all"))
    own = own.merge(crowded, on=CELL_KEYS, how="left")
    own["published"] = own["published_alone"] & own["every_job_big"].fillna(False).astype(bool)
    return own.drop(columns=["every_job_big"])
