"""Scale-out: the same clips through the serial path, ``--workers 2`` and ``--executor ray``.

Each mode is the real command line in its own process, as a person runs it, into its own new
DuckDB file: ``ingest CLIPS`` (files one after another; each file's time-range chunks on
EMOTION_FILE_WORKERS threads), ``--workers 2`` (two processes, one file each) and
``--executor ray --ray-cpus 2`` (a local Ray started for the command; each chunk to one of two
actors). For each: wall seconds, sampled frames stored, frames/s and the ratio to serial; then
the same command once more on its database, where every file is already stored, measures the
fixed cost (interpreter, model loading, Ray start and stop) that a short run pays. Every mode's
stored rows are compared with the serial path's (pipeline/store/compare.py): same jobs, frames,
face rows and people, floats within 1e-6.

Clips: generated with FER+ faces (2 people, 960x540 at 10 fps, sampled at 5 fps). Run:
``.venv/bin/python benchmarks/scale_out.py [--clips 4] [--seconds 15] [--snapshots 200]``;
needs requirements-ray.txt; writes benchmarks/results/scale_out.json. All modes share the
machine's cores: on one 2-core machine the ratios show the overhead of each executor, not a
speed-up across machines.

A camera's snapshot folder goes through ``ingest-images`` the same ways, against the way it
was analysed before batches: the whole folder as one part (EMOTION_SNAPSHOT_BATCH=0, so one
thread, and one Ray actor, did all of it). Snapshots: 960x540 JPEGs, 3 FER+ faces each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.ferplus import load_split
from pipeline.settings import PROJECT_ROOT, get_setting
from pipeline.store.compare import differences, stored_rows
from pipeline.synthetic_footage import planted_clip, snapshot_folder

MODES = {
    "serial": [],
    "--workers 2": ["--workers", "2"],
    "--executor ray (local, 2 CPUs)": ["--executor", "ray", "--ray-cpus", "2"],
}
RAY = MODES["--executor ray (local, 2 CPUs)"]
# Snapshot folder: (flags, EMOTION_SNAPSHOT_BATCH, None: the default); "0" is how every
# executor ran before.
SNAPSHOT_MODES = {
    "whole folder, one part (before)": ([], "0"),
    "batches (default size), 2 threads": ([], None),
    "--executor ray, whole folder (before)": (RAY, "0"),
    "--executor ray, batches (default size)": (RAY, None),
}


def _cli(*args: str, env: dict[str, str] | None = None) -> float:
    """Seconds ``python -m pipeline ARGS`` took; fails loudly."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or ": failed" in done.stdout:
        raise SystemExit(f"{' '.join(args[:3])}: {done.stdout}{done.stderr}")
    return seconds


def _clips(folder: Path, count: int, seconds: float) -> list[Path]:
    split = load_split("valid")
    labels = ["happiness", "surprise", "neutral", "sadness"]
    third = seconds / 3
    return [
        planted_clip(
            folder / f"viewer{i}.mp4",
            split,
            people=2,
            segments=[(k * third, (k + 1) * third, labels[(i + k) % 4]) for k in range(3)],
            seed=100 + i,
        ).path
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each clip")
    parser.add_argument("--snapshots", type=int, default=200, help="snapshots in the folder")
    parser.add_argument("--note", default="", help="saved with the results (e.g. machine load)")
    args = parser.parse_args()
    snapshots = _snapshot_modes(args.snapshots)
    with tempfile.TemporaryDirectory() as tmp:
        clips = _clips(Path(tmp), args.clips, args.seconds)
        results, stored = [], {}
        for mode, flags in MODES.items():
            db = Path(tmp) / f"{len(results)}.duckdb"
            _cli("campaigns", "add", "Scale", "--db", str(db))
            ingest = ["ingest", *map(str, clips), "--campaign", "Scale", "--stimulus", "Ad"]
            wall = _cli(*ingest, *flags, "--db", str(db))
            fixed = _cli(*ingest, *flags, "--db", str(db))  # all stored: the fixed cost
            stored[mode] = stored_rows(db)
            frames = int(stored[mode]["jobs"]["frames"].sum())
            results.append(
                {
                    "mode": mode,
                    "wall_s": round(wall, 2),
                    "fixed_s": round(fixed, 2),
                    "frames": frames,
                    "face_rows": len(stored[mode]["face_observations"]),
                    "frames_per_s": round(frames / wall, 2),
                    "frames_per_s_past_fixed": round(frames / max(wall - fixed, 1e-9), 2),
                }
            )
    serial = results[0]
    for result in results:
        result["vs_serial"] = round(result["frames_per_s"] / serial["frames_per_s"], 3)
        result["vs_serial_past_fixed"] = round(
            result["frames_per_s_past_fixed"] / serial["frames_per_s_past_fixed"], 3
        )
        result["differences"] = differences(stored["serial"], stored[result["mode"]])
        result["identical_rows"] = not result["differences"]
    print_table(
        f"Scale-out: {args.clips} clips of {args.seconds:g} s, 2 people, sampled at 5 fps",
        [
            (
                r["mode"],
                f"{r['wall_s']:.1f}",
                f"{r['fixed_s']:.1f}",
                str(r["frames"]),
                f"{r['frames_per_s']:.1f}",
                f"{r['vs_serial']:.2f}x",
                f"{r['frames_per_s_past_fixed']:.1f}",
                f"{r['vs_serial_past_fixed']:.2f}x",
                "yes" if r["identical_rows"] else "NO",
            )
            for r in results
        ],
        (
            "mode",
            "wall s",
            "fixed s",
            "frames",
            "frames/s",
            "vs serial",
            "frames/s past fixed",
            "vs serial",
            "same rows",
        ),
    )
    save_json(
        "scale_out",
        {
            "clips": args.clips,
            "clip_seconds": args.seconds,
            "cpus": os.cpu_count(),
            "note": args.note,
            "results": results,
            "snapshot_count": args.snapshots,
            "snapshot_results": snapshots,
        },
    )
    if not all(r["identical_rows"] for r in [*results, *snapshots]):
        raise SystemExit("executors stored different rows: see differences in the JSON")


def _snapshot_modes(count: int) -> list[dict[str, object]]:
    """One snapshot folder through every SNAPSHOT_MODES mode; printed, returned for the JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = snapshot_folder(
            Path(tmp) / "window_cam",
            load_split("valid"),
            dt.datetime(2026, 3, 14, 9, 0),
            count=count,
            every=dt.timedelta(seconds=30),
            labels=["happiness", "surprise", "neutral", "sadness"],
            seed=7,
        )
        results, stored = [], {}
        for mode, (flags, batch) in SNAPSHOT_MODES.items():
            env = {"EMOTION_SNAPSHOT_BATCH": batch or get_setting("EMOTION_SNAPSHOT_BATCH")}
            db = Path(tmp) / f"snap{len(results)}.duckdb"
            _cli("campaigns", "add", "Scale", "--db", str(db))
            command = ["ingest-images", str(folder), "--campaign", "Scale"]
            command += ["--stimulus", "Window", "--camera", "window_cam", *flags, "--db", str(db)]
            wall = _cli(*command, env=env)
            fixed = _cli(*command, env=env)  # already stored: the fixed cost
            stored[mode] = stored_rows(db)
            results.append(
                {
                    "mode": mode,
                    "wall_s": round(wall, 2),
                    "fixed_s": round(fixed, 2),
                    "snapshots": int(stored[mode]["jobs"]["frames"].sum()),
                    "face_rows": len(stored[mode]["face_observations"]),
                    "snapshots_per_s_past_fixed": round(count / max(wall - fixed, 1e-9), 2),
                }
            )
    first = results[0]
    for result in results:
        result["vs_before"] = round(
            result["snapshots_per_s_past_fixed"] / first["snapshots_per_s_past_fixed"], 3
        )
        result["differences"] = differences(stored[first["mode"]], stored[result["mode"]])
        result["identical_rows"] = not result["differences"]
    print_table(
        f"A snapshot folder: {count} snapshots of 960x540, 3 faces each",
        [
            (
                str(r["mode"]),
                f"{r['wall_s']:.1f}",
                f"{r['fixed_s']:.1f}",
                str(r["snapshots"]),
                f"{r['snapshots_per_s_past_fixed']:.2f}",
                f"{r['vs_before']:.2f}x",
                "yes" if r["identical_rows"] else "NO",
            )
            for r in results
        ],
        (
            "mode",
            "wall s",
            "fixed s",
            "snapshots",
            "snapshots/s past fixed",
            "vs before",
            "same rows",
        ),
    )
    return results


if __name__ == "__main__":
    main()
