"""The face path end to end: DeepFace detection + our model on frames with planted faces.

Compares our settings (detection on a downscaled frame, no alignment padding, batched scoring)
with DeepFace's defaults (full frame, align=True) on the same frames, and faces scored through
the detector with the same faces scored directly from their dataset crops.
Run: ``.venv/bin/python benchmarks/face_path.py [--frames 150] [--margins 0,0.1]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.classifier import shared_classifier
from pipeline.emotion.ferplus import load_split
from pipeline.face_eval import evaluate_face_path, labelled_scenes
from pipeline.faces import FaceFinder
from pipeline.settings import get_float, get_int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--margins", type=str, default=None, help="comma list to sweep")
    args = parser.parse_args()
    valid = load_split("valid")
    classifier = shared_classifier()
    margins = (
        [float(m) for m in args.margins.split(",")]
        if args.margins
        else [get_float("EMOTION_FACE_MARGIN")]
    )
    configs = [
        (
            f"ours (margin {m:g})",
            FaceFinder("opencv", margin=m, min_face_px=get_int("EMOTION_MIN_FACE_PX")),
        )
        for m in margins
    ]
    configs.append(("DeepFace defaults (align, full frame)", FaceFinder("opencv", align=True)))
    results = {}
    for name, finder in configs:
        scenes = labelled_scenes(valid, args.frames, args.seed)
        results[name] = evaluate_face_path(scenes, finder, classifier).as_dict()
    rows = []
    baseline_ms = results[configs[-1][0]]["detect_ms_per_frame"]
    for name, r in results.items():
        rows.append(
            (
                name,
                f"{r['detection_recall']:.1%}",
                f"{r['false_positives_per_frame']:.2f}",
                f"{r['accuracy_on_detected']:.1%}",
                f"{r['direct_accuracy_same_faces']:.1%}",
                f"{r['detect_ms_per_frame']:.0f}",
                f"{baseline_ms / max(1e-9, r['detect_ms_per_frame']):.2f}x",
            )
        )
    print_table(
        f"Face path on {args.frames} 1280x720 frames, 1-6 faces of 80-300 px",
        rows,
        (
            "config",
            "recall",
            "FP/frame",
            "acc detected",
            "acc direct same faces",
            "detect ms/frame",
            "speed vs DeepFace defaults",
        ),
    )
    first = results[configs[0][0]]
    print_table(
        "Detection recall by face size (first config)",
        [
            (k, f"{v:.1%}", str(first["faces_by_size"][k]))
            for k, v in first["recall_by_size"].items()
        ],
        ("face size", "recall", "faces"),
    )
    save_json("face_path", {"frames": args.frames, "seed": args.seed, "results": results})


if __name__ == "__main__":
    main()
