"""Speed of every query the dashboard and the exports run, from the rollups and from face rows.

Builds a synthetic store inside DuckDB (``range``/``unnest``, no Python loop over rows): one
campaign of 4 ads watched by webcam respondents (30 s at 5 frames/s, one job per respondent,
three segments each) and 4 shop-window displays filmed by 2 cameras for 30 days (one job per
camera and day, people passing mostly in shop hours, a few at night), half of the face rows
each. Then builds the rollups (``rollups.rebuild``, the backfill of migration 012) and times
each read of ``pipeline.audience.read`` (the rollup plan) and, in the same run, the same read
of ``pipeline.audience.raw`` (the raw-row plan: per-person cells straight from face rows),
median and p95. Drill-down to face rows is timed separately. Target: p95 <= 300 ms.

Run: ``.venv/bin/python benchmarks/query_speed.py [--rows 1000000] [--repeats 20]
[--raw-repeats 3] [--db /tmp/bench.duckdb]``; the database is deleted afterwards unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.audience import raw, read
from pipeline.audience.verdicts import verdict_table, verdicts
from pipeline.emotion.labels import LABELS
from pipeline.exports import export_table, verdict_export
from pipeline.store import queries, rollups
from pipeline.store.database import connect, transaction
from pipeline.store.people import person_cells_sql

TARGET_MS = 300.0
AD, DISPLAY, CAMERA = 1, 5, 9  # first ad, first display, that display's first camera
AD_FRAMES = 150  # 30 s at 5 frames/s
DAYS = 30
START = "2026-03-02 00:00:00"  # a Monday
_LABEL_LIST = "[" + ", ".join(f"'{n}'" for n in LABELS) + "]"


def build(db: Path, rows: int) -> dict[str, float]:
    """Fill ``db`` with about ``rows`` face rows and their rollups; seconds per step."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    respondents = max(8, rows // 2 // AD_FRAMES)
    passers = max(8, rows // 2 // 80)  # 80 rows each on average (16 s at 5 frames/s)
    with connect(db) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SELECT setseed(0.42)")
        _catalogue(con, respondents)
        scores = ", ".join(f"random()::REAL AS {n}" for n in LABELS)
        con.execute(
            f"""
            CREATE TEMP TABLE people AS
            SELECT p AS person, p + 1 AS job_id, 1 + p % 4 AS stimulus_id,
                   2 * (p % 4) + 1 + (p // 4) % 2 AS source_id, 0.0 AS start_s,
                   NULL::TIMESTAMP AS day, {AD_FRAMES} AS n
            FROM range(?) r(p)
            UNION ALL
            SELECT p, ? + 1 + cam * {DAYS} + day, 5 + cam // 2, 9 + cam, start_s,
                   TIMESTAMP '{START}' + to_days(CAST(day AS INTEGER)), n
            FROM (
              SELECT p, p % 8 AS cam, (p // 8) % {DAYS} AS day,
                     floor(CASE WHEN random() < 0.97 THEN 8 + 14 * random()
                                ELSE 24 * random() END * 3600 * 5) / 5 AS start_s,
                     10 + CAST(floor(random() * 140) AS INTEGER) AS n
              FROM range(?, ? + ?) r(p)
            )
            """,
            [respondents, respondents, respondents, respondents, passers],
        )
        con.execute(
            f"""
            INSERT INTO face_observations (job_id, source_id, stimulus_id, frame_index, offset_s,
                ts, track_id, x, y, w, h, det_confidence, face_px, {", ".join(LABELS)},
                dominant, is_small, is_blurred, is_profile, looking)
            SELECT job_id, source_id, stimulus_id, frame, frame / 5.0,
                   CASE WHEN day IS NULL THEN NULL
                        ELSE day + to_microseconds(CAST(frame * 200000 AS BIGINT)) END,
                   person, 10, 10, 100, 100, 0.99, 100, {", ".join(LABELS)},
                   dominant, false, false, false, looking
            FROM (
              SELECT *, CAST(start_s * 5 AS INTEGER) + k AS frame, {scores},
                     {_LABEL_LIST}[1 + (hash(person, k) % 8)::INTEGER] AS dominant,
                     hash(person, k, 1) % 10 < 6 AS looking
              FROM (SELECT *, unnest(range(n)) AS k FROM people)
            )
            """
        )
        con.execute(
            "INSERT INTO tracks (job_id, track_id, first_offset_s, last_offset_s, dwell_s, "
            "observations, attention_s) SELECT job_id, track_id, min(offset_s), max(offset_s), "
            "count(*) / 5.0, count(*), count(*) FILTER (WHERE looking) / 5.0 "
            "FROM face_observations GROUP BY ALL"
        )
        con.execute(
            "INSERT INTO frames SELECT job_id, frame_index, any_value(offset_s), any_value(ts), "
            "count(*) FROM face_observations GROUP BY job_id, frame_index"
        )
        con.execute("DROP TABLE people")
        con.execute("CHECKPOINT")
        times["face_rows_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with transaction(con):
            rollups.rebuild(con)
        con.execute("CHECKPOINT")
        times["rollups_s"] = time.perf_counter() - started
    return times


def _catalogue(con, respondents: int) -> None:
    con.execute("INSERT INTO campaigns (campaign_id, name) VALUES (1, 'Benchmark')")
    con.execute(
        "INSERT INTO stimuli (stimulus_id, campaign_id, name, kind, duration_s) "
        "SELECT s, 1, CASE WHEN s <= 4 THEN 'Ad ' ELSE 'Window ' END || s, "
        "CASE WHEN s <= 4 THEN 'ad' ELSE 'display' END, "
        "CASE WHEN s <= 4 THEN 30.0 END FROM range(1, 9) t(s)"
    )
    con.execute(
        "INSERT INTO segments SELECT s, 'part ' || p, p * 10.0, p * 10.0 + 10.0 "
        "FROM range(1, 5) a(s), range(0, 3) b(p)"
    )
    con.execute(
        "INSERT INTO sources (source_id, stimulus_id, kind, name) "
        "SELECT j, (j + 1) // 2, 'footage', 'source ' || j FROM range(1, 17) t(j)"
    )
    con.execute(
        "INSERT INTO ingest_jobs (job_id, source_id, input_name, content_hash, params_hash, "
        "params, model_version, detector, status, progress) "
        "SELECT j + 1, 2 * (j % 4) + 1 + (j // 4) % 2, 'respondent ' || j, 'h' || j, 'p', '{}', "
        "'bench', 'centerface', 'done', 1.0 FROM range(?) t(j) "
        f"UNION ALL SELECT ? + 1 + c * {DAYS} + d, 9 + c, 'camera ' || c || ' day ' || d, "
        f"'c' || c || '-' || d, 'p', '{{}}', 'bench', 'centerface', 'done', 1.0 "
        f"FROM range(8) a(c), range({DAYS}) b(d)",
        [respondents, respondents],
    )
    con.execute(f"SELECT setval('job_ids', {respondents + 8 * DAYS + 1})")


def _time(run: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(median ms, p95 ms, last result) after one warm-up run (none when ``repeats`` is 1)."""
    result = run() if repeats > 1 else None
    times = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    p95 = float(np.percentile(times, 95)) if len(times) > 1 else times[0]
    return statistics.median(times), p95, result


def _compare(module, con, ids: list[int], crowd: int):
    if module is read:
        people = {f"Ad {i}": found for i, found in read.audiences(con, ids, crowd).items()}
    else:
        people = {f"Ad {i}": module.stimulus_people(con, i, crowd) for i in ids}
    return verdict_table(verdicts(people, crowd))


Case = tuple[str, str, Callable[[object], object], Callable[[object], object] | None]
ADS = [(s, False) for s in (1, 2, 3, 4)]
ALL = [*ADS, *((s, True) for s in (5, 6, 7, 8))]


def _scans(name: str) -> list[tuple[int, bool]]:
    """The face-row scans (stimulus, clock grid) the raw-row plan of a read starts with."""
    if name in ("campaign_kpis", "stimulus_summary", "export table"):
        return ALL
    if name == "export verdicts":
        return ALL + ALL
    if name == "compare (verdicts)":
        return ADS
    if name == "segment_summary":
        return [(AD, False), (AD, False)]
    if name == "series by offset":
        return [(AD, False)]
    if name in ("series by clock", "hour_weekday"):
        return [(DISPLAY, True)]
    return []


def _scan(con, stimulus: int, by_clock: bool) -> int:
    """One face-row scan of the raw-row plan: a stimulus's per-person cells computed from
    face rows inside DuckDB (counted, not fetched)."""
    sql = f"SELECT count(*) FROM ({person_cells_sql(by_clock)})"
    cell = 300.0 if by_clock else 0.5
    params = {"stimulus": stimulus, "source": None, "start": None, "end": None, "cell": cell}
    return int(con.execute(sql, params).fetchone()[0])


def _scan_times(con, repeats: int) -> dict[tuple[int, bool], tuple[float, float]]:
    """(median, p95) ms of each distinct scan, timed once per repeat: the raw-row SQL plan of
    a read is the sum of its scans (a lower bound of the raw-row plan, which fits at 100M)."""
    found = {}
    for stimulus, by_clock in ALL:
        median, p95, _ = _time(lambda s=stimulus, c=by_clock: _scan(con, s, c), repeats)
        found[(stimulus, by_clock)] = (median, p95)
    return found


def _cases() -> list[Case]:
    """(query, parameters, rollup plan, raw-row plan) for each read a page or export runs."""
    crowd = 5
    march = (pd.Timestamp("2026-03-09"), pd.Timestamp("2026-03-16"))
    cases: list[Case] = [
        ("campaigns", "-", lambda c: queries.campaigns(c), None),
        ("stimuli", "campaign 1", lambda c: queries.stimuli(c, 1), None),
        ("recent_jobs", "limit 20", lambda c: queries.recent_jobs(c, 20), None),
        ("time_range", "display", lambda c: queries.time_range(c, DISPLAY), None),
        (
            "campaign_kpis",
            "campaign (8 stimuli)",
            lambda c: read.campaign_kpis(c, 1, crowd),
            lambda c: raw.campaign_kpis(c, 1, crowd),
        ),
        (
            "stimulus_summary",
            "campaign (8 stimuli)",
            lambda c: read.stimulus_summary(c, 1, crowd),
            lambda c: raw.stimulus_summary(c, 1, crowd),
        ),
    ]
    for bucket in (0.5, 1.0, 2.0, 5.0, 10.0):
        cases.append(
            (
                "series by offset",
                f"ad, {bucket:g} s",
                lambda c, b=bucket: read.series(c, AD, b, False, crowd),
                lambda c, b=bucket: raw.series(c, AD, b, False, crowd),
            )
        )
    cases.append(
        (
            "series by offset",
            "ad, 1 source, 1 s",
            lambda c: read.series(c, AD, 1.0, False, crowd, source_id=1),
            lambda c: raw.series(c, AD, 1.0, False, crowd, source_id=1),
        )
    )
    for bucket in (300.0, 900.0, 3600.0, 86400.0):
        cases.append(
            (
                "series by clock",
                f"display, {bucket:g} s",
                lambda c, b=bucket: read.series(c, DISPLAY, b, True, crowd),
                lambda c, b=bucket: raw.series(c, DISPLAY, b, True, crowd),
            )
        )
    cases += [
        (
            "series by clock",
            "display, 1 camera, 3600 s",
            lambda c: read.series(c, DISPLAY, 3600.0, True, crowd, CAMERA),
            lambda c: raw.series(c, DISPLAY, 3600.0, True, crowd, CAMERA),
        ),
        (
            "series by clock",
            "display, one week, 3600 s",
            lambda c: read.series(c, DISPLAY, 3600.0, True, crowd, None, *march),
            lambda c: raw.series(c, DISPLAY, 3600.0, True, crowd, None, *march),
        ),
        (
            "hour_weekday",
            "display",
            lambda c: read.hour_weekday(c, DISPLAY, crowd),
            lambda c: raw.hour_weekday(c, DISPLAY, crowd),
        ),
        (
            "segment_summary",
            "ad, 3 segments + peaks",
            lambda c: read.segment_summary(c, AD, crowd),
            lambda c: raw.segment_summary(c, AD, crowd),
        ),
        (
            "compare (verdicts)",
            "4 ads, 6 metrics",
            lambda c: _compare(read, c, [1, 2, 3, 4], crowd),
            lambda c: _compare(raw, c, [1, 2, 3, 4], crowd),
        ),
        (
            "export table",
            "campaign, default buckets",
            lambda c: export_table(c, "Benchmark", None, None, crowd),
            None,
        ),
        ("export verdicts", "campaign", lambda c: verdict_export(c, "Benchmark", crowd), None),
    ]
    return cases


def _drill_down() -> list[tuple[str, str, Callable[[object], object]]]:
    """Reads that still go to face rows: one bucket's rows, one person's rows (the raw-row
    audience reads of ``pipeline.audience.raw`` are the baseline above)."""
    return [
        (
            "face rows of one 1 s bucket",
            "ad",
            lambda c: c.execute(
                "SELECT * FROM face_observations WHERE stimulus_id = ? AND offset_s >= 10 "
                "AND offset_s < 11",
                [AD],
            ).df(),
        ),
        (
            "face rows of one person",
            "display",
            lambda c: c.execute(
                "SELECT * FROM face_observations WHERE job_id = (SELECT max(job_id) FROM "
                "ingest_jobs) AND track_id = (SELECT max(track_id) FROM face_observations "
                "WHERE job_id = (SELECT max(job_id) FROM ingest_jobs))"
            ).df(),
        ),
    ]


def _rows_out(result: object) -> str:
    return str(len(result)) if isinstance(result, pd.DataFrame) else "1"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--raw-repeats", type=int, default=3)
    parser.add_argument(
        "--raw-plan",
        choices=("full", "sql"),
        default="full",
        help="baseline: the raw-row reads (pandas people statistics), or only their face-row "
        "SQL (fits at 100M rows)",
    )
    parser.add_argument("--db", type=Path, default=None, help="build the database here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="time the reads on an existing --db (built before)"
    )
    parser.add_argument("--build-only", action="store_true", help="build --db, time nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        times = Path(f"{db}.build.json")
        if not args.reuse:
            db.unlink(missing_ok=True)
            times.write_text(json.dumps(build(db, args.rows)))
        try:
            if not args.build_only:
                _run(db, json.loads(times.read_text()), args)
        finally:
            if not (args.keep or args.build_only):
                times.unlink(missing_ok=True)
                db.unlink(missing_ok=True)
                Path(f"{db}.wal").unlink(missing_ok=True)


def _run(db: Path, build_s: dict[str, float], args: argparse.Namespace) -> None:
    size_mb = os.path.getsize(db) / 2**20
    with connect(db, read_only=True) as con:
        sizes = rollups.sizes(con)
        results, table = [], []
        scans = _scan_times(con, args.raw_repeats) if args.raw_plan == "sql" else {}
        for name, params, ours, baseline in _cases():
            median, p95, result = _time(lambda f=ours: f(con), args.repeats)
            raw_median = raw_p95 = None
            if args.raw_plan == "sql" and _scans(name):
                raw_median = sum(scans[s][0] for s in _scans(name))
                raw_p95 = sum(scans[s][1] for s in _scans(name))
            elif baseline is not None and args.raw_plan == "full":
                raw_median, raw_p95, _ = _time(lambda f=baseline: f(con), args.raw_repeats)
            ratio = raw_median / median if raw_median else None
            results.append(
                {
                    "query": name,
                    "params": params,
                    "rows_out": _rows_out(result),
                    "rollup_median_ms": round(median, 2),
                    "rollup_p95_ms": round(p95, 2),
                    "raw_median_ms": None if raw_median is None else round(raw_median, 1),
                    "raw_p95_ms": None if raw_p95 is None else round(raw_p95, 1),
                    "speedup": None if ratio is None else round(ratio, 1),
                    "p95_under_target": p95 <= TARGET_MS,
                }
            )
            table.append(
                (
                    name,
                    params,
                    _rows_out(result),
                    _ms(median),
                    _ms(p95),
                    _ms(raw_median),
                    _ms(raw_p95),
                    "-" if ratio is None else f"{ratio:.0f}x",
                    "yes" if p95 <= TARGET_MS else "NO",
                )
            )
        drill = []
        for name, params, run in _drill_down():
            median, p95, result = _time(lambda f=run: f(con), max(1, args.raw_repeats))
            drill.append((name, params, _rows_out(result), _ms(median), _ms(p95)))
    faces = sizes["face_observations"]
    print_table(
        f"Dashboard and export reads on {faces:,} face rows: rollups vs face rows "
        f"(rollup median/p95 of {args.repeats}, raw-row {args.raw_plan} plan of "
        f"{args.raw_repeats}; "
        f"file {size_mb:,.0f} MB, face rows built in {build_s['face_rows_s']:.0f} s, "
        f"rollups in {build_s['rollups_s']:.0f} s)",
        table,
        (
            "query",
            "parameters",
            "rows",
            "rollup ms median",
            "rollup ms p95",
            "raw ms median",
            "raw ms p95",
            "speed-up",
            f"p95 <= {TARGET_MS:.0f} ms",
        ),
    )
    print_table(
        "Drill-down to face rows (not a dashboard figure)",
        drill,
        ("read", "parameters", "rows", "ms median", "ms p95"),
    )
    save_json(
        "query_speed",
        {
            "rows": faces,
            "requested_rows": args.rows,
            "repeats": args.repeats,
            "raw_repeats": args.raw_repeats,
            "raw_plan": args.raw_plan,
            "raw_plan_note": (
                "full: the reads of pipeline.audience.raw (face rows -> per-person cells -> "
                "pandas people statistics); sql: only their face-row SQL (per-person cells "
                "computed inside DuckDB, counted), summed over the scans a read needs, each "
                "scan timed raw_repeats times: a lower bound of the full raw plan"
            ),
            "raw_scans_ms": {
                f"stimulus {s} {'clock' if c else 'offset'}": {"median": m, "p95": q}
                for (s, c), (m, q) in scans.items()
            },
            "build_s": {k: round(v, 1) for k, v in build_s.items()},
            "file_mb": round(size_mb, 1),
            "table_rows": sizes,
            "target_p95_ms": TARGET_MS,
            "results": results,
            "drill_down": [
                {"read": n, "params": p, "rows_out": r, "median_ms": m, "p95_ms": q}
                for n, p, r, m, q in drill
            ],
        },
    )


if __name__ == "__main__":
    main()
