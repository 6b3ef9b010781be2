"""Ingestion speed and memory: our pipeline against the naive per-frame DeepFace loop.

The naive loop is what users hand-roll today: read every frame, keep one in ``fps``, call
DeepFace's face extraction with its defaults (align=True, full frame) and score each face on its
own (batch 1). Ours is ``pipeline.ingest`` end to end (decode, detect, score in batches, track,
commit to DuckDB). Both see the same generated 1280x720 clips, sampled at 5 frames/s.
RSS is sampled during a long clip to show memory stays flat.
Run: ``.venv/bin/python benchmarks/ingest_speed.py [--seconds 20] [--long-seconds 240]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.analysis import AnalysisParams
from pipeline.emotion.classifier import shared_classifier
from pipeline.emotion.ferplus import load_split
from pipeline.ingest import Target, ingest
from pipeline.store import catalog
from pipeline.store.database import connect
from pipeline.synthetic_footage import planted_clip


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def naive_loop(path: Path, sample_fps: float) -> tuple[int, int, float]:
    """(sampled frames, faces, seconds) for the hand-rolled DeepFace loop."""
    from deepface import DeepFace

    classifier = shared_classifier()
    capture = cv2.VideoCapture(str(path))
    native = capture.get(cv2.CAP_PROP_FPS)
    step = max(1, round(native / sample_fps))
    frames = faces = index = 0
    start = time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames += 1
            for found in DeepFace.extract_faces(
                frame, detector_backend="opencv", enforce_detection=False
            ):
                if found["confidence"] > 0:
                    faces += 1
                    classifier.predict_proba([(found["face"] * 255).astype("uint8")])
        index += 1
    capture.release()
    return frames, faces, time.perf_counter() - start


def ours(path: Path, db: Path, name: str) -> tuple[int, int, float, list[float]]:
    """(sampled frames, faces, seconds, RSS samples in MB) for pipeline.ingest."""
    rss: list[float] = []

    def progress(fraction: float, frames: int, faces: int) -> None:
        if frames % 25 == 0:
            rss.append(_rss_mb())

    summary = ingest(
        "video", path, Target("Bench", name, "ad", name), AnalysisParams(), db, progress=progress
    )
    return summary.frames, summary.faces, summary.seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--long-seconds", type=float, default=240.0)
    args = parser.parse_args()
    valid = load_split("valid")
    shared_classifier()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "bench.duckdb"
        with connect(db) as con:
            catalog.create_campaign(con, "Bench")
        for people in (1, 4):
            clip = planted_clip(
                work / f"p{people}.mp4",
                valid,
                people,
                [(0.0, args.seconds, "happiness")],
                fps=25.0,
                size=(1280, 720),
                face_px=(120, 180),
                seed=people,
            )
            n_frames, n_faces, naive_s = naive_loop(clip.path, 5.0)
            o_frames, o_faces, ours_s, _ = ours(clip.path, db, f"p{people}")
            naive_fps, ours_fps = n_frames / naive_s, o_frames / ours_s
            results[f"{people}_faces"] = {
                "naive_frames_per_s": naive_fps,
                "ours_frames_per_s": ours_fps,
                "speedup": ours_fps / naive_fps,
                "naive_faces": n_faces,
                "ours_faces": o_faces,
                "sampled_frames": o_frames,
            }
            rows.append(
                (
                    f"720p, {people} face(s)",
                    str(o_frames),
                    f"{naive_fps:.1f}",
                    f"{ours_fps:.1f}",
                    f"{ours_fps / naive_fps:.2f}x",
                    f"{n_faces} / {o_faces}",
                )
            )
        print_table(
            "Sampled 1280x720 frames per second (5 frames/s sampled from 25 fps)",
            rows,
            ("clip", "frames", "naive loop", "ours (ingest)", "speed-up", "faces naive / ours"),
        )
        long_clip = planted_clip(
            work / "long.mp4",
            valid,
            2,
            [(0.0, args.long_seconds, "neutral")],
            fps=15.0,
            size=(1280, 720),
            seed=9,
        )
        _, _, long_s, rss = ours(long_clip.path, db, "long")
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
