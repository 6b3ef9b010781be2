"""Speed of every query the dashboard pages run, on a DuckDB file of 1M face rows.

Builds a synthetic store with SQL ``range()`` (8 stimuli: 4 ads of 30 s, 4 displays watched
for two weeks; 2 sources each), then times each ``pipeline.store.queries`` function the pages
call (median of ``--repeats`` runs on an open read-only connection, after one warm-up run),
and compares it with a naive baseline in the same run: the whole face table fetched into
pandas with ``.df()`` and grouped there. Target: under 300 ms per query.
Run: ``.venv/bin/python benchmarks/query_speed.py [--rows 1000000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.audience import read as audience
from pipeline.emotion.labels import LABELS, VALENCE_SIGN
from pipeline.store import queries
from pipeline.store.database import connect

TARGET_MS = 300.0
AD, DISPLAY = 1, 5  # stimulus ids of the first ad and the first display
_LABEL_LIST = "[" + ", ".join(f"'{n}'" for n in LABELS) + "]"


def build(db: Path, rows: int) -> float:
    """Fill ``db`` with ``rows`` synthetic face rows; returns the seconds it took."""
    started = time.perf_counter()
    with connect(db) as con:
        con.execute("SELECT setseed(0.42)")
        con.execute("INSERT INTO campaigns (campaign_id, name) VALUES (1, 'Benchmark')")
        con.execute(
            "INSERT INTO stimuli (stimulus_id, campaign_id, name, kind, duration_s) "
            "SELECT s, 1, 'stimulus ' || s, CASE WHEN s <= 4 THEN 'ad' ELSE 'display' END, "
            "CASE WHEN s <= 4 THEN 30.0 END FROM range(1, 9) t(s)"
        )
        con.execute(
            "INSERT INTO segments SELECT s, 'part ' || p, p * 10.0, p * 10.0 + 10.0 "
            "FROM range(1, 5) a(s), range(0, 3) b(p)"
        )
        con.execute(
            "INSERT INTO sources (source_id, stimulus_id, kind, name) "
            "SELECT j, (j + 1) // 2, CASE WHEN j <= 8 THEN 'footage' ELSE 'camera' END, "
            "'source ' || j FROM range(1, 17) t(j)"
        )
        con.execute(
            "INSERT INTO ingest_jobs (job_id, source_id, input_name, content_hash, params_hash, "
            "params, model_version, detector, status, progress, frames, faces, tracks) "
            "SELECT j, j, 'input ' || j, 'h' || j, 'p', '{}', 'bench', 'opencv', 'done', 1.0, "
            "0, 0, 0 FROM range(1, 17) t(j)"
        )
        scores = ", ".join(f"random()::REAL AS {n}" for n in LABELS)
        con.execute(
            f"""
            INSERT INTO face_observations (job_id, source_id, stimulus_id, frame_index, offset_s,
                ts, track_id, x, y, w, h, det_confidence, face_px, {", ".join(LABELS)},
                dominant, is_small, is_blurred, is_profile)
            SELECT job, job, (job + 1) // 2, frame,
                   CASE WHEN job <= 8 THEN (frame % 150) * 0.2 ELSE frame * 80.0 END,
                   CASE WHEN job <= 8 THEN NULL
                        ELSE TIMESTAMP '2026-03-02 08:00:00' + to_seconds(frame * 80) END,
                   k // 40, 10, 10, 100, 100, 0.99, 100, {", ".join(LABELS)},
                   {_LABEL_LIST}[1 + (hash(i) % 8)::INTEGER], false, false, false
            FROM (SELECT i, i % 16 + 1 AS job, i // 16 AS k, i // 64 AS frame, {scores}
                  FROM range(?) r(i))
            """,
            [rows],
        )
        con.execute(
            "INSERT INTO tracks (job_id, track_id, first_offset_s, last_offset_s, dwell_s, "
            "observations) SELECT job_id, track_id, min(offset_s), max(offset_s), "
            "max(offset_s) - min(offset_s) + 0.2, count(*) FROM face_observations GROUP BY ALL"
        )
    return time.perf_counter() - started


def _time(run: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(median ms, max ms, last result) after one warm-up run."""
    result = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), result


def _naive_obs(con) -> pd.DataFrame:
    """The baseline's first step: every face row (and its track's dwell) into pandas."""
    obs = con.execute("SELECT * FROM face_observations").df()
    tracks = con.execute("SELECT job_id, track_id, dwell_s FROM tracks").df()
    return obs.merge(tracks, on=["job_id", "track_id"], how="left")


def _valence(obs: pd.DataFrame) -> pd.Series:
    return obs["dominant"].map(VALENCE_SIGN).fillna(0)


def _naive_series(con, stimulus: int, bucket: float, by_clock: bool) -> pd.DataFrame:
    obs = _naive_obs(con)
    obs = obs[obs["stimulus_id"] == stimulus].copy()
    if by_clock:
        obs["bucket"] = obs["ts"].dt.floor(pd.Timedelta(seconds=bucket))
    else:
        obs["bucket"] = (obs["offset_s"] // bucket) * bucket
    obs["v"] = _valence(obs)
    for n in LABELS:
        obs[f"is_{n}"] = (obs["dominant"] == n).astype(float)
    obs["track"] = obs["job_id"].astype(str) + ":" + obs["track_id"].astype(str)
    spec = {f"mean_{n}": (n, "mean") for n in LABELS}
    spec |= {f"share_{n}": (f"is_{n}", "mean") for n in LABELS}
    spec |= {
        "faces": ("v", "size"),
        "valence": ("v", "mean"),
        "sd": ("v", "std"),
        "unique_tracks": ("track", "nunique"),
        "mean_dwell_s": ("dwell_s", "mean"),
    }
    return obs.groupby(["source_id", "bucket"]).agg(**spec).reset_index()


def _naive_summary(con) -> pd.DataFrame:
    obs = _naive_obs(con)
    obs["v"] = _valence(obs)
    obs["positive"] = (obs["v"] > 0).astype(float)
    spec = {f"mean_{n}": (n, "mean") for n in LABELS}
    spec |= {
        "faces": ("v", "size"),
        "valence": ("v", "mean"),
        "sd": ("v", "std"),
        "positive_share": ("positive", "mean"),
    }
    return obs.groupby("stimulus_id").agg(**spec).reset_index()


def _naive_kpis(con) -> dict[str, float]:
    obs = _naive_obs(con)
    stimuli = con.execute("SELECT stimulus_id FROM stimuli WHERE campaign_id = 1").df()
    obs = obs[obs["stimulus_id"].isin(stimuli["stimulus_id"])]
    viewers = obs.drop_duplicates(["job_id", "track_id"])
    return {
        "faces": len(obs),
        "unique_viewers": len(viewers),
        "mean_dwell_s": float(viewers["dwell_s"].mean()),
        "positive_share": float((_valence(obs) > 0).mean()),
    }


def _naive_hour_weekday(con, stimulus: int) -> pd.DataFrame:
    obs = _naive_obs(con)
    obs = obs[(obs["stimulus_id"] == stimulus) & obs["ts"].notna()].copy()
    obs["weekday"] = obs["ts"].dt.day_of_week + 1
    obs["hour"] = obs["ts"].dt.hour
    obs["v"] = _valence(obs)
    return obs.groupby(["weekday", "hour"]).agg(faces=("v", "size"), valence=("v", "mean"))


def _cases(con) -> list[tuple[str, str, Callable[[], object], Callable[[], object] | None]]:
    """(query, parameters, ours, naive baseline or None) for every query a page runs."""
    cases: list[tuple[str, str, Callable[[], object], Callable[[], object] | None]] = [
        ("campaigns", "-", lambda: queries.campaigns(con), None),
        ("stimuli", "campaign 1", lambda: queries.stimuli(con, 1), None),
        (
            "campaign_kpis",
            "campaign 1 (all rows)",
            lambda: queries.campaign_kpis(con, 1),
            lambda: _naive_kpis(con),
        ),
        (
            "stimulus_summary",
            "campaign 1 (all rows)",
            lambda: queries.stimulus_summary(con, 1),
            lambda: _naive_summary(con),
        ),
        ("recent_jobs", "limit 20", lambda: queries.recent_jobs(con, 20), None),
        ("time_range", "display", lambda: queries.time_range(con, DISPLAY), None),
    ]
    for bucket in (0.5, 1.0, 5.0):
        cases.append(
            (
                "series by offset",
                f"ad, {bucket:g} s buckets",
                lambda b=bucket: queries.series(con, AD, b, False),
                lambda b=bucket: _naive_series(con, AD, b, False),
            )
        )
    for bucket in (300.0, 3600.0, 86400.0):
        cases.append(
            (
                "series by clock",
                f"display, {bucket:g} s buckets",
                lambda b=bucket: queries.series(con, DISPLAY, b, True),
                lambda b=bucket: _naive_series(con, DISPLAY, b, True),
            )
        )
    cases.append(
        (
            "series by clock",
            "display, 1 source, 3600 s",
            lambda: queries.series(con, DISPLAY, 3600.0, True, source_id=9),
            None,
        )
    )
    cases.append(
        (
            "hour_weekday",
            "display",
            lambda: queries.hour_weekday(con, DISPLAY),
            lambda: _naive_hour_weekday(con, DISPLAY),
        )
    )
    # What the pages call since issue 10: people per base cell, minimum crowd 5.
    cases += [
        (
            "audience summary",
            "campaign 1 (8 stimuli)",
            lambda: audience.stimulus_summary(con, 1, 5),
            None,
        ),
        ("audience series", "ad, 1 s", lambda: audience.series(con, AD, 1.0, False, 5), None),
        (
            "audience series",
            "display, 300 s",
            lambda: audience.series(con, DISPLAY, 300.0, True, 5),
            None,
        ),
        (
            "audience series",
            "display, 3600 s",
            lambda: audience.series(con, DISPLAY, 3600.0, True, 5),
            None,
        ),
        ("audience hour_weekday", "display", lambda: audience.hour_weekday(con, DISPLAY, 5), None),
    ]
    return cases


def _rows_out(result: object) -> str:
    return str(len(result)) if isinstance(result, pd.DataFrame) else "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None, help="keep the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        if db.exists():
            db.unlink()
        build_s = build(db, args.rows)
        started = time.perf_counter()
        with connect(db, read_only=True):
            pass
        connect_ms = (time.perf_counter() - started) * 1000
        results, rows = [], []
        with connect(db, read_only=True) as con:
            for name, params, ours, naive in _cases(con):
                median, worst, result = _time(ours, args.repeats)
                naive_ms = _time(naive, max(1, args.repeats // 2))[0] if naive else None
                ratio = f"{naive_ms / median:.1f}x" if naive_ms else "-"
                results.append(
                    {
                        "query": name,
                        "params": params,
                        "rows_out": _rows_out(result),
                        "median_ms": round(median, 2),
                        "max_ms": round(worst, 2),
                        "naive_pandas_ms": round(naive_ms, 1) if naive_ms else None,
                        "speedup_vs_naive": round(naive_ms / median, 2) if naive_ms else None,
                        "under_target": median < TARGET_MS,
                    }
                )
                rows.append(
                    (
                        name,
                        params,
                        _rows_out(result),
                        f"{median:.1f}",
                        f"{worst:.1f}",
                        f"{naive_ms:.0f}" if naive_ms else "-",
                        ratio,
                        "yes" if median < TARGET_MS else "NO",
                    )
                )
    print_table(
        f"Dashboard queries on {args.rows:,} face rows (median of {args.repeats}; "
        f"build {build_s:.1f} s, read-only connect {connect_ms:.0f} ms)",
        rows,
        (
            "query",
            "parameters",
            "rows",
            "ms (median)",
            "ms (max)",
            "naive pandas ms",
            "speed-up",
            f"< {TARGET_MS:.0f} ms",
        ),
    )
    save_json(
        "query_speed",
        {
            "rows": args.rows,
            "repeats": args.repeats,
            "build_s": round(build_s, 2),
            "connect_ms": round(connect_ms, 1),
            "target_ms": TARGET_MS,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
