"""Ingestion speed and memory: our pipeline against the naive DeepFace loop and decode alone.

Clips: generated 720p and 1080p footage at 30 fps with 1 and 4 people (FER+ faces of
120-200 px drifting over a background), sampled at 5 frames/s, as in the "Eyes" issue.

- **ours**: ``pipeline.ingest`` end to end with the default settings (CenterFace on every
  3rd sampled frame, faces followed in between, both cores on time-range chunks, batched
  scoring, tracking, the DuckDB commit).
- **today's**: the same command with the previous defaults (Haar on every sampled frame, one
  chunk): "faces found must not drop" compares face rows with it.
- **naive loop**: what users hand-roll: read every frame, keep one in six, call DeepFace's
  ``extract_faces`` with its default detector (Haar, align=True, full frame) and score each
  face on its own. ``DeepFace.analyze`` would download its emotion weights at run time, which
  this offline product cannot do, so the loop scores with our model at batch 1 (generous to
  the loop). It runs on the first ``--naive-seconds`` of each clip: its frames/s is a rate.
- **decode only**: grab every frame, retrieve the sampled ones: the ceiling.

A stage profile (decode, detect, score, track, write) of one single-threaded pass over the
4-person 1080p clip shows where the time goes. RSS is sampled over a long clip to show memory
stays flat. Run: ``.venv/bin/python benchmarks/ingest_speed.py [--seconds 30]``; writes
benchmarks/results/ingest_speed.json. Ratios against the naive loop and decode-only are
measured in the same run, so a busy machine slows both sides.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.analysis import AnalysisParams, FramePass
from pipeline.assemble import assemble
from pipeline.emotion.classifier import shared_classifier
from pipeline.emotion.ferplus import load_split
from pipeline.faces import FaceFinder
from pipeline.ingest import Target, ingest
from pipeline.sources import iter_video_frames
from pipeline.store import catalog, jobs
from pipeline.store.database import connect
from pipeline.synthetic_footage import planted_clip

SAMPLE_FPS = 5.0
NATIVE_FPS = 30.0
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def naive_loop(path: Path, seconds: float) -> tuple[int, int, float]:
    """(sampled frames, faces, seconds) for the hand-rolled DeepFace loop."""
    from deepface import DeepFace

    classifier = shared_classifier()
    capture = cv2.VideoCapture(str(path))
    step = max(1, round(capture.get(cv2.CAP_PROP_FPS) / SAMPLE_FPS))
    frames = faces = index = 0
    start = time.perf_counter()
    while index < seconds * NATIVE_FPS:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames += 1
            for found in DeepFace.extract_faces(frame, enforce_detection=False):
                if found["confidence"] > 0:
                    faces += 1
                    classifier.predict_proba([(found["face"] * 255).astype("uint8")])
        index += 1
    capture.release()
    return frames, faces, time.perf_counter() - start


def decode_only(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    frames = sum(1 for _ in iter_video_frames(path, SAMPLE_FPS))
    return frames, time.perf_counter() - start


def ingest_run(
    path: Path, db: Path, name: str, params: AnalysisParams, workers: int, chunk_s: float
) -> tuple[int, int, float, list[float]]:
    """(sampled frames, faces, seconds, RSS samples in MB) for pipeline.ingest."""
    os.environ["EMOTION_FILE_WORKERS"] = str(workers)
    os.environ["EMOTION_CHUNK_S"] = str(chunk_s)
    rss: list[float] = []

    def progress(fraction: float, frames: int, faces: int) -> None:
        if frames % 25 == 0:
            rss.append(_rss_mb())

    summary = ingest(
        "video", path, Target("Bench", name, "ad", name), params, db, progress=progress
    )
    assert summary.status == "done", summary.message
    return summary.frames, summary.faces, summary.seconds, rss


class _TimedPass(FramePass):
    """FramePass with a stopwatch on detection and scoring (benchmark only)."""

    timings: Counter[str]

    def _detect(self, frame):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return super()._detect(frame)
        finally:
            self.timings["detect (CenterFace + pose)"] += time.perf_counter() - start

    def _flush(self) -> None:
        start = time.perf_counter()
        super()._flush()
        self.timings["score (expression model)"] += time.perf_counter() - start


def stage_profile(path: Path, db: Path) -> dict[str, float]:
    """Seconds per stage for one single-threaded pass with the default parameters."""
    params = AnalysisParams()
    finder = FaceFinder(params.detector, min_face_px=params.min_face_px, threads=2)
    frame_pass = _TimedPass(finder, shared_classifier(), params)
    frame_pass.timings = Counter()
    frames = iter_video_frames(path, SAMPLE_FPS)
    total_start = time.perf_counter()
    decode = 0.0
    while True:
        start = time.perf_counter()
        frame = next(frames, None)
        decode += time.perf_counter() - start
        if frame is None:
            break
        frame_pass.add(frame)
    rows = frame_pass.close()
    pass_s = time.perf_counter() - total_start
    start = time.perf_counter()
    result = assemble([rows], params.sample_fps, params.min_track_hits)
    track_s = time.perf_counter() - start
    start = time.perf_counter()
    with connect(db) as con:
        stimulus = catalog.ensure_stimulus(con, catalog.get_campaign(con, "Bench"), "profile", "ad")
        source = catalog.ensure_source(con, stimulus, "footage", "profile")
        key = jobs.JobKey(source.source_id, "profile", "profile")
        job_id = jobs.start_job(con, key, path.name, "{}", "bench", params.detector)
        jobs.commit_job(con, job_id, source, result, [])
    write_s = time.perf_counter() - start
    timings = dict(frame_pass.timings)
    stages = {"decode (sampled frames)": decode, **timings}
    stages["crop, quality, follow"] = pass_s - sum(stages.values())
    stages["track (people)"] = track_s
    stages["write (DuckDB)"] = write_s
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    parser.add_argument("--long-seconds", type=float, default=180.0)
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=list(SIZES))
    args = parser.parse_args()
    valid = load_split("valid")
    shared_classifier()
    today = AnalysisParams(detector="opencv", detect_every=1)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "bench.duckdb"
        with connect(db) as con:
            catalog.create_campaign(con, "Bench")
        clips = {}
        for size_name, size in SIZES.items():
            if size_name not in args.sizes:
                continue
            for people in (1, 4):
                clips[(size_name, people)] = planted_clip(
                    work / f"{size_name}_{people}.mp4",
                    valid,
                    people,
                    [
                        (0.0, args.seconds / 2, "happiness"),
                        (args.seconds / 2, args.seconds, "neutral"),
                    ],
                    fps=NATIVE_FPS,
                    size=size,
                    face_px=(120, 200) if size_name == "1080p" else (100, 160),
                    seed=people,
                ).path
        for (size_name, people), clip in clips.items():
            name = f"{size_name}_{people}"
            d_frames, d_s = decode_only(clip)
            n_frames, n_faces, n_s = naive_loop(clip, args.naive_seconds)
            o_frames, o_faces, o_s, _ = ingest_run(clip, db, name, AnalysisParams(), 2, 10.0)
            t_frames, t_faces, t_s, _ = ingest_run(clip, db, name + "_today", today, 1, 0.0)
            footage_s = o_frames / SAMPLE_FPS
            entry = {
                "sampled_frames": o_frames,
                "decode_only_frames_per_s": d_frames / d_s,
                "naive_frames_per_s": n_frames / n_s,
                "ours_frames_per_s": o_frames / o_s,
                "today_frames_per_s": t_frames / t_s,
                "ours_real_time_factor": footage_s / o_s,
                "today_real_time_factor": footage_s / t_s,
                "naive_real_time_factor": (n_frames / SAMPLE_FPS) / n_s,
                "decode_only_real_time_factor": (d_frames / SAMPLE_FPS) / d_s,
                "speedup_vs_naive": (o_frames / o_s) / (n_frames / n_s),
                "speedup_vs_today": (o_frames / o_s) / (t_frames / t_s),
                "ours_face_rows": o_faces,
                "today_face_rows": t_faces,
                "naive_faces_per_frame": n_faces / max(1, n_frames),
            }
            results[name] = entry
            rows.append(
                (
                    f"{size_name}, {people} face(s)",
                    f"{entry['decode_only_frames_per_s']:.0f} "
                    f"({entry['decode_only_real_time_factor']:.0f}x)",
                    f"{entry['naive_frames_per_s']:.1f} ({entry['naive_real_time_factor']:.2f}x)",
                    f"{entry['today_frames_per_s']:.1f} ({entry['today_real_time_factor']:.2f}x)",
                    f"{entry['ours_frames_per_s']:.1f} ({entry['ours_real_time_factor']:.2f}x)",
                    f"{entry['speedup_vs_naive']:.1f}x",
                    f"{o_faces} / {t_faces}",
                )
            )
        print_table(
            f"Sampled frames per second (real-time factor) at {SAMPLE_FPS:g} of "
            f"{NATIVE_FPS:g} fps, {args.seconds:g} s clips",
            rows,
            (
                "clip",
                "decode only",
                "naive DeepFace loop",
                "today (Haar, every frame)",
                "ours",
                "ours / naive",
                "face rows ours / today",
            ),
        )
        profiled = ("1080p", 4) if "1080p" in args.sizes else (args.sizes[0], 4)
        stages = stage_profile(clips[profiled], db)
        total = sum(stages.values())
        print_table(
            f"Stage profile: {profiled[0]}, 4 faces, one thread, default parameters",
            [(k, f"{v:.2f}", f"{100 * v / total:.0f} %") for k, v in stages.items()],
            ("stage", "seconds", "share"),
        )
        results[f"stage_profile_{profiled[0]}_4_faces_s"] = stages
        long_clip = planted_clip(
            work / "long.mp4",
            valid,
            2,
            [(0.0, args.long_seconds, "neutral")],
            fps=15.0,
            size=(1280, 720),
            seed=9,
        ).path
        _, _, long_s, rss = ingest_run(long_clip, db, "long", AnalysisParams(), 2, 10.0)
        frames_per_sample = 25  # the progress callback samples RSS every 25 frames
        slope = float(np.polyfit(np.arange(len(rss)) * frames_per_sample, rss, 1)[0]) * 1000
        print_table(
            f"Memory over a {args.long_seconds:.0f} s 720p clip ({len(rss)} samples)",
            [
                ("RSS min (MB)", f"{min(rss):.0f}"),
                ("RSS max (MB)", f"{max(rss):.0f}"),
                ("fitted trend (MB per 1000 frames)", f"{slope:+.1f}"),
                ("seconds", f"{long_s:.1f}"),
            ],
            ("measure", "value"),
        )
        results["long_clip"] = {
            "seconds_of_footage": args.long_seconds,
            "rss_mb": rss,
            "trend_mb_per_1000_frames": slope,
        }
    save_json("ingest_speed", results)


if __name__ == "__main__":
    main()
