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


def kind(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> str:
    row = con.execute("SELECT kind FROM stimuli WHERE stimulus_id = ?", [stimulus_id]).fetchone()
    assert row is not None, f"no stimulus {stimulus_id}"
    return str(row[0])


def has_clock_cells(con: duckdb.DuckDBPyConnection, stimulus_id: int) -> bool:
    """True when the stimulus has face rows with a clock time (displays and products)."""
    row = con.execute(
        "SELECT EXISTS (SELECT 1 FROM rollup_cells WHERE stimulus_id = ? AND by_clock "
        "AND persons > 0)",
        [stimulus_id],
    ).fetchone()
    return bool(row and row[0])


def keeps_grid(con: duckdb.DuckDBPyConnection, stimulus_id: int, by_clock: bool) -> bool:
    """Whether the rollups hold every face row of this stimulus on this grid: the clock grid
    for displays and products, the offset grid for ads and for untimed footage."""
    is_ad = kind(con, stimulus_id) == "ad"
    if by_clock:
        return not is_ad
    return is_ad or not has_clock_cells(con, stimulus_id)


def _bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """The parameters ``sql`` names (DuckDB refuses extra ones)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return {k: v for k, v in params.items() if k in used}


@dataclass(frozen=True)
class Groups:
    """How a read groups the base cells of one stimulus, and which of them it shows.

    ``grouping``: "bucket" (``bucket_s`` seconds), "whole", "hour_of_week" or "segment";
    ``level``: the rollup_people level holding these groups' sums, None when not kept.
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

    def params(self) -> dict[str, object]:
        return {
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
        if not self.by_clock:
            return contextlib.nullcontext(False)
        rows = con.execute(
            "SELECT source_id FROM sources WHERE stimulus_id = ?", [self.stimulus_id]
        ).fetchall()
        return local_cells(con, [int(r[0]) for r in rows])

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
        elif self.grouping == "whole":
            grp = "0.0"
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
c AS (
  SELECT source_id, cell, faces, persons, sampled_frames, snapshot, persons > 0 AS faced,
         CASE WHEN snapshot THEN coalesce(max_faces_in_frame, 0) ELSE persons END AS people,
         coalesce(max_faces_in_frame, 0) AS most
  FROM rollup_cells WHERE stimulus_id = $stimulus AND by_clock = $clock
), pooled AS (
  SELECT cell, sum(people) AS pooled, bool_and(people >= $crowd) AS all_big
  FROM c WHERE faced GROUP BY cell
), flagged AS (
  SELECT c.*, faced AND coalesce(p.pooled, 0) >= $crowd AS published,
         faced AND coalesce(p.pooled, 0) >= $crowd AND coalesce(p.all_big, false)
           AS published_alone
  FROM c LEFT JOIN pooled p USING (cell) WHERE {source}
), m AS (
  SELECT f.*, {grp} AS grp, {selected} AS selected, ({selected}) AND f.{flag} AS shown
  FROM flagged f {join}
)"""


def groups(con: duckdb.DuckDBPyConnection, spec: Groups) -> pd.DataFrame:
    """One row per group with a selected cell: its state (any/all selected, any/all shown),
    counts over the selected cells (faces, snapshot, snapshot people, sampled frames) and, when
    ``spec.level`` is kept, its stored people sums (of everyone in the group)."""
    stored = ""
    columns = ""
    if spec.level is not None:
        sums = ", ".join(f"sum({c}) AS {c}" for c in CONTRIBUTION_COLUMNS)
        stored = f""", stored AS (
  SELECT bucket AS grp, {sums} FROM rollup_people
  WHERE stimulus_id = $stimulus AND by_clock = $clock AND level = $level
    AND ($source IS NULL OR source_id = $source)
  GROUP BY bucket
)"""
        columns = ", " + ", ".join(f"coalesce(s.{c}, 0) AS {c}" for c in CONTRIBUTION_COLUMNS)
    sql = f"""
WITH {{cells}}, g AS (
  SELECT grp,
    coalesce(bool_or(selected) FILTER (WHERE faced), false) AS any_selected,
    coalesce(bool_and(selected) FILTER (WHERE faced), false) AS all_selected,
    coalesce(bool_or(shown) FILTER (WHERE faced), false) AS any_shown,
    coalesce(bool_and(shown) FILTER (WHERE faced), false) AS all_shown,
    coalesce(sum(faces) FILTER (WHERE selected AND faced), 0) AS faces,
    coalesce(bool_and(snapshot) FILTER (WHERE selected AND faced), false) AS snapshot,
    coalesce(sum(sampled_frames) FILTER (WHERE selected), 0) AS sampled_frames
  FROM m GROUP BY grp
), most AS (
  SELECT grp, sum(most) AS snapshot_people FROM (
    SELECT grp, source_id, max(most) AS most FROM m
    WHERE selected AND faced AND snapshot GROUP BY ALL
  ) GROUP BY grp
){stored}
SELECT g.*, coalesce(most.snapshot_people, 0) AS snapshot_people{columns}
FROM g LEFT JOIN most USING (grp) {"LEFT JOIN stored s USING (grp)" if stored else ""}
WHERE g.any_selected
ORDER BY grp
"""
    with spec.local(con) as local:
        sql = sql.replace("{cells}", spec.cells_sql(local))
        return con.execute(sql, _bind(sql, spec.params())).df()


def corrections(con: duckdb.DuckDBPyConnection, spec: Groups, chosen: list[float]) -> pd.DataFrame:
    """Per chosen group: people sums to add, and ``video_people`` (people of footage sources).

    With ``spec.level`` kept, the groups' sums are stored and these are corrections, taken
    from the people seen in a cell of the group that is not shown: their whole-group
    contribution out, their shown-cells contribution in, and ``video_people`` minus those
    with no selected cell. Else they are the whole sums over the shown cells, and
    ``video_people`` counts the footage people in the selected cells.
    """
    columns = ["grp", *CONTRIBUTION_COLUMNS, "video_people"]
    if not chosen:
        return pd.DataFrame(columns=columns)
    stored = spec.level is not None
    rows = """
  WITH {cells}
  SELECT pc.*, m.grp, m.shown, m.selected
  FROM rollup_person_cells pc JOIN m USING (source_id, cell)
  WHERE pc.stimulus_id = $stimulus AND pc.by_clock = $clock
    AND m.grp IN (SELECT unnest($chosen))"""
    if stored:
        rows = f"""
  WITH mapped AS ({rows}),
  touched AS (SELECT DISTINCT job_id, track_id, grp FROM mapped WHERE NOT shown)
  SELECT mapped.* FROM mapped SEMI JOIN touched USING (job_id, track_id, grp)"""
    relation = f"(SELECT *, 1 AS w FROM ({rows}) WHERE shown" + (
        f" UNION ALL SELECT *, -1 AS w FROM ({rows}))" if stored else ")"
    )
    params = {**spec.params(), "chosen": [float(g) for g in chosen]}
    video = (
        "sum(CASE WHEN selected THEN 0 ELSE -1 END)"
        if stored
        else "count(*) FILTER (WHERE selected)"
    )
    people_sql = f"""
SELECT grp, coalesce({video}, 0) AS video_people FROM (
  SELECT grp, job_id, track_id, bool_or(selected) AS selected FROM ({rows})
  WHERE NOT snapshot GROUP BY ALL
) GROUP BY grp"""
    with spec.local(con) as local:
        cells = spec.cells_sql(local)
        sums_sql = contribution_sql(relation, ["grp"]).replace("{cells}", cells)
        sums = con.execute(sums_sql, _bind(sums_sql, params)).df()
        people_sql = people_sql.replace("{cells}", cells)
        people = con.execute(people_sql, _bind(people_sql, params)).df()
    return sums.merge(people, on="grp", how="outer").fillna(0)[columns]


def versions(con: duckdb.DuckDBPyConnection, spec: Groups) -> set[tuple[str, str]]:
    """(model version, detector) pairs of the people in the shown cells of ``spec``."""
    sql = """
WITH {cells}
SELECT DISTINCT v.model_version, v.detector FROM rollup_versions v
SEMI JOIN (SELECT source_id, cell FROM m WHERE shown) s USING (source_id, cell)
WHERE v.stimulus_id = $stimulus AND v.by_clock = $clock AND v.persons > 0"""
    with spec.local(con) as local:
        sql = sql.replace("{cells}", spec.cells_sql(local))
        rows = con.execute(sql, _bind(sql, spec.params())).fetchall()
    return {(str(m), str(d)) for m, d in rows}


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
