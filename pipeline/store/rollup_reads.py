"""Reads of the rollup tables (migration 012, ``pipeline.store.rollups``) for the audience views.

Everything here is small: base cells of one stimulus, people sums of one level, and, only for
buckets that mix shown and withheld (or filtered-out) cells, the people who were seen in the
withheld ones. A person's figures are their own means over their shown rows, which cannot be
subtracted from a bucket's sum; so for those people the read takes their whole-bucket
contribution out of the stored sums and puts their shown-rows contribution back
(``corrections``). Everyone else's contribution is already in the stored sums, exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipeline.store.local_cells import cell_expression, local_cells
from pipeline.store.rollups import CONTRIBUTION_COLUMNS, contribution_sql


def kind_and_clock(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> tuple[str, bool]:
    """(kind, whether the stimulus has face rows with a clock time), in one query."""
    found = kinds_and_clocks(con, [stimulus_id])
    assert stimulus_id in found, f"no stimulus {stimulus_id}"
    return found[stimulus_id]


def kinds_and_clocks(
    con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]
) -> dict[int, tuple[str, bool]]:
    """``kind_and_clock`` of several stimuli in one query."""
    rows = con.execute(
        "SELECT s.stimulus_id, s.kind, EXISTS (SELECT 1 FROM rollup_cells c "
        "WHERE c.stimulus_id = s.stimulus_id AND c.by_clock AND c.persons > 0) "
        "FROM stimuli s WHERE s.stimulus_id IN (SELECT unnest(?))",
        [stimulus_ids],
    ).fetchall()
    return {int(s): (str(kind), bool(timed)) for s, kind, timed in rows}


def clock_grids(con: duckdb.DuckDBPyConnection, stimulus_ids: list[int]) -> dict[int, bool]:
    """Per stimulus: whether its figures go by clock time (``read.stimulus_by_clock``)."""
    found = kinds_and_clocks(con, stimulus_ids)
    return {s: kind != "ad" and timed for s, (kind, timed) in found.items()}


def keeps_grid(con: duckdb.DuckDBPyConnection, stimulus_id: int, by_clock: bool) -> bool:
    """Whether the rollups hold every face row of this stimulus on this grid: the clock grid
    for displays and products, the offset grid for ads and for untimed footage."""
    return holds_grid(*kind_and_clock(con, stimulus_id), by_clock)


def holds_grid(kind: str, timed: bool, by_clock: bool) -> bool:
    """``keeps_grid`` from the stimulus's (kind, timed)."""
    if by_clock:
        return kind != "ad"
    return kind == "ad" or not timed


def _bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """The parameters ``sql`` names (DuckDB refuses extra ones)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return {k: v for k, v in params.items() if k in used}


@dataclass(frozen=True)
class Groups:
    """How a read groups the base cells of one stimulus, and which of them it shows.

    ``grouping``: "bucket" (``bucket_s`` seconds), "stimulus" (the whole stimulus),
    "hour_of_week" or "segment"; ``level``: the rollup_people level holding these groups'
    sums, None when not kept. With ``batch``, several stimuli in one query: each on its own
    grid for "stimulus", all on ``by_clock``'s grid for "bucket". Groups are keyed by
    (``stimulus_id``, ``grp``).
    """

    stimulus_id: int
    by_clock: bool
    min_crowd: int
    grouping: str
    level: float | None
    bucket_s: float = 0.0
    source_id: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    batch: tuple[tuple[int, bool], ...] = ()

    def pairs(self) -> tuple[tuple[int, bool], ...]:
        """(stimulus, grid) of every stimulus this read covers."""
        return self.batch or ((self.stimulus_id, self.by_clock),)

    def params(self) -> dict[str, object]:
        return {
            "stims": [s for s, _ in self.pairs()],
            "clocks": [c for _, c in self.pairs()],
            "stimulus": self.stimulus_id,
            "clock": self.by_clock,
            "crowd": int(self.min_crowd),
            "source": self.source_id,
            "start": self.start,
            "end": self.end,
            "bucket": float(self.bucket_s),
            "level": self.level,
        }

    def local(self, con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[bool]:
        """Registers the local clock cells of this stimulus's cameras outside UTC."""
        timed = [s for s, clock in self.pairs() if clock]
        if not timed:
            return contextlib.nullcontext(False)
        return local_cells(con, stimulus_ids=timed)

    def cells_sql(self, local: bool) -> str:
        """CTEs ending in ``m``: the stimulus's cells with their crowd flags (as
        ``crowd.mark_published``), ``selected`` (date window, local time), ``shown`` and
        group ``grp`` (local time for clock cells: ``local``, see ``local_cells``)."""
        cell, local_join = cell_expression("f", local)
        stamp = f"make_timestamp(CAST({cell} * 1e6 AS BIGINT))"
        selected = (
            f"($start IS NULL OR {stamp} >= $start) AND ($end IS NULL OR {stamp} < $end)"
            if self.by_clock and (self.start is not None or self.end is not None)
            else "true"
        )
        join = local_join
        if self.grouping == "bucket":
            grp = f"floor({cell} / $bucket) * $bucket"
        elif self.grouping == "stimulus":
            grp = "CAST(f.stimulus_id AS DOUBLE)"
        elif self.grouping == "hour_of_week":
            grp = f"CAST((isodow({stamp}) - 1) * 24 + hour({stamp}) AS DOUBLE)"
        else:
            grp = "CAST(seg.idx AS DOUBLE)"
            join += (
                " JOIN (SELECT row_number() OVER (ORDER BY start_s, name) - 1 AS idx, start_s, "
                "end_s FROM segments WHERE stimulus_id = $stimulus) seg "
                "ON f.cell >= seg.start_s AND f.cell < seg.end_s"
            )
        flag = "published" if self.source_id is None else "published_alone"
        source = "true" if self.source_id is None else "c.source_id = $source"
        return f"""
grids AS (SELECT unnest($stims) AS stimulus_id, unnest($clocks) AS by_clock),
c AS (
  SELECT stimulus_id, by_clock, source_id, cell, faces, persons, sampled_frames, snapshot,
         persons > 0 AS faced,
         CASE WHEN snapshot THEN coalesce(max_faces_in_frame, 0) ELSE persons END AS people,
         coalesce(max_faces_in_frame, 0) AS most
  FROM rollup_cells SEMI JOIN grids USING (stimulus_id, by_clock)
), pooled AS (
  SELECT stimulus_id, cell, sum(people) AS pooled, bool_and(people >= $crowd) AS all_big
  FROM c WHERE faced GROUP BY stimulus_id, cell
), flagged AS (
  SELECT c.*, faced AND coalesce(p.pooled, 0) >= $crowd AS published,
         faced AND coalesce(p.pooled, 0) >= $crowd AND coalesce(p.all_big, false)
           AS published_alone
  FROM c LEFT JOIN pooled p USING (stimulus_id, cell) WHERE {source}
), m AS (
  SELECT f.*, {grp} AS grp, {selected} AS selected, ({selected}) AND f.{flag} AS shown
  FROM flagged f {join}
)"""


def groups(con: duckdb.DuckDBPyConnection, spec: Groups) -> pd.DataFrame:
    """One row per group with a selected cell: its state (any/all selected, any/all shown),
    counts over the selected cells (faces, snapshot, snapshot people over all and over shown
    cells: per camera the most faces in one snapshot, summed, sampled frames) and, when
    ``spec.level`` is kept, its stored people sums (of everyone in the group)."""
    stored = ""
    columns = ""
    if spec.level is not None:
        sums = ", ".join(f"sum({c}) AS {c}" for c in CONTRIBUTION_COLUMNS)
        key = "CAST(stimulus_id AS DOUBLE)" if spec.grouping == "stimulus" else "bucket"
        stored = f""", stored AS (
  SELECT stimulus_id, {key} AS grp, {sums} FROM rollup_people
  SEMI JOIN grids USING (stimulus_id, by_clock)
  WHERE level = $level AND ($source IS NULL OR source_id = $source)
  GROUP BY ALL
)"""
        columns = ", " + ", ".join(f"coalesce(s.{c}, 0) AS {c}" for c in CONTRIBUTION_COLUMNS)
    sql = f"""
WITH {{cells}}, g AS (
  SELECT stimulus_id, grp,
    coalesce(bool_or(selected) FILTER (WHERE faced), false) AS any_selected,
    coalesce(bool_and(selected) FILTER (WHERE faced), false) AS all_selected,
    coalesce(bool_or(shown) FILTER (WHERE faced), false) AS any_shown,
    coalesce(bool_and(shown) FILTER (WHERE faced), false) AS all_shown,
    coalesce(sum(faces) FILTER (WHERE selected AND faced), 0) AS faces,
    coalesce(bool_and(snapshot) FILTER (WHERE selected AND faced), false) AS snapshot,
    coalesce(sum(sampled_frames) FILTER (WHERE selected), 0) AS sampled_frames
  FROM m GROUP BY stimulus_id, grp
), most AS (
  SELECT stimulus_id, grp, sum(most) AS snapshot_people,
         sum(most_shown) AS snapshot_people_shown FROM (
    SELECT stimulus_id, grp, source_id, max(most) AS most,
           coalesce(max(most) FILTER (WHERE shown), 0) AS most_shown FROM m
    WHERE selected AND faced AND snapshot GROUP BY ALL
  ) GROUP BY stimulus_id, grp
){stored}
SELECT g.*, coalesce(most.snapshot_people, 0) AS snapshot_people,
       coalesce(most.snapshot_people_shown, 0) AS snapshot_people_shown{columns}
FROM g LEFT JOIN most USING (stimulus_id, grp)
{"LEFT JOIN stored s USING (stimulus_id, grp)" if stored else ""}
WHERE g.any_selected
ORDER BY stimulus_id, grp
"""
    with spec.local(con) as local:
        sql = sql.replace("{cells}", spec.cells_sql(local))
        return con.execute(sql, _bind(sql, spec.params())).df()


def corrections(con: duckdb.DuckDBPyConnection, spec: Groups, chosen: pd.DataFrame) -> pd.DataFrame:
    """Per chosen group (rows of ``stimulus_id``, ``grp``): people sums to add, and
    ``video_people`` (people of footage sources).

    With ``spec.level`` kept, the groups' sums are stored and these are corrections, taken
    from the people seen in a cell of the group that is not shown: their whole-group
    contribution out, their shown-cells contribution in, and ``video_people`` minus those
    with no selected cell. Else they are the whole sums over the shown cells, and
    ``video_people`` counts the footage people in the selected cells.
    """
    columns = ["stimulus_id", "grp", *CONTRIBUTION_COLUMNS, "video_people"]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    stored = spec.level is not None
    on_cell = "m.source_id = pc.source_id AND m.by_clock = pc.by_clock AND m.cell = pc.cell"
    if stored:
        # Only people seen in a cell that is not shown: found from those cells, then all
        # their rows of the group.
        rows = f"""
excluded AS (SELECT source_id, by_clock, cell, stimulus_id, grp FROM m
             SEMI JOIN chosen USING (stimulus_id, grp) WHERE NOT shown),
touched AS (
  SELECT DISTINCT pc.job_id, pc.track_id, e.stimulus_id, e.grp FROM rollup_person_cells pc
  JOIN excluded e USING (source_id, by_clock, cell)
  WHERE pc.stimulus_id IN (SELECT unnest($people_of))
),
r AS MATERIALIZED (
  SELECT pc.*, m.grp, m.shown, m.selected FROM rollup_person_cells pc
  JOIN touched t USING (job_id, track_id)
  JOIN m ON {on_cell} AND m.stimulus_id = t.stimulus_id AND m.grp = t.grp
  WHERE pc.stimulus_id IN (SELECT unnest($people_of))
),
rel AS (SELECT *, 1 AS w FROM r WHERE shown UNION ALL SELECT *, -1 AS w FROM r),"""
        video = "sum(CASE WHEN selected THEN 0 ELSE -1 END)"
    else:
        rows = f"""
r AS MATERIALIZED (
  SELECT pc.*, m.grp, m.shown, m.selected FROM rollup_person_cells pc JOIN m ON {on_cell}
  SEMI JOIN chosen ON chosen.stimulus_id = m.stimulus_id AND chosen.grp = m.grp
  WHERE pc.stimulus_id IN (SELECT unnest($people_of))
),
rel AS (SELECT *, 1 AS w FROM r WHERE shown),"""
        video = "count(*) FILTER (WHERE selected)"
    tail = f""", video AS (
  SELECT stimulus_id, grp, coalesce({video}, 0) AS video_people FROM (
    SELECT stimulus_id, grp, job_id, track_id, bool_or(selected) AS selected FROM r
    WHERE NOT snapshot GROUP BY ALL
  ) GROUP BY stimulus_id, grp
)
SELECT * FROM sums FULL JOIN video USING (stimulus_id, grp)"""
    chosen_cte = (
        "{cells}, chosen AS (SELECT unnest($chosen_stims) AS stimulus_id, unnest($chosen) AS grp),"
    )
    sql = contribution_sql("rel", ["stimulus_id", "grp"], chosen_cte + rows, tail)
    stims = [int(s) for s in chosen["stimulus_id"]]
    params = {
        **spec.params(),
        "chosen": [float(g) for g in chosen["grp"]],
        "chosen_stims": stims,
        # Person cells of the stimuli concerned only (a campaign read corrects few of them).
        "people_of": sorted(set(stims)),
    }
    with spec.local(con) as local:
        sql = sql.replace("{cells}", spec.cells_sql(local))
        found = con.execute(sql, _bind(sql, params)).df()
    return found.fillna(0)[columns]


def versions(con: duckdb.DuckDBPyConnection, spec: Groups) -> dict[int, set[tuple[str, str]]]:
    """Per stimulus of ``spec``: (model version, detector) pairs of the people in its shown
    cells."""
    sql = """
WITH {cells}
SELECT DISTINCT v.stimulus_id, v.model_version, v.detector FROM rollup_versions v
SEMI JOIN (SELECT source_id, by_clock, cell FROM m WHERE shown) s
  USING (source_id, by_clock, cell)
WHERE v.persons > 0"""
    with spec.local(con) as local:
        sql = sql.replace("{cells}", spec.cells_sql(local))
        rows = con.execute(sql, _bind(sql, spec.params())).fetchall()
    found: dict[int, set[tuple[str, str]]] = {s: set() for s, _ in spec.pairs()}
    for stimulus, model, detector in rows:
        found[int(stimulus)].add((str(model), str(detector)))
    return found


def time_range(
    con: duckdb.DuckDBPyConnection, stimulus_id: int
) -> tuple[dt.datetime | None, dt.datetime | None, float | None]:
    """(first ts, last ts, last offset s) of a stimulus's face rows, for filter defaults."""
    row = con.execute(
        "SELECT min(first_ts), max(last_ts), max(last_offset_s) FROM rollup_cells "
        "WHERE stimulus_id = ? AND persons > 0",
        [stimulus_id],
    ).fetchone()
    assert row is not None
    last = None if row[2] is None or math.isnan(row[2]) else float(row[2])
    return row[0], row[1], last
