"""How FER+ crops frame a face, measured with the product's own detector (CenterFace).

The expression model learnt from FER+ crops; a detector's crop of a real face is framed and
rotated differently (pipeline/emotion/align.py undoes that). This measures the framing the
aligner must reproduce, instead of guessing it: FER+ training faces are upscaled (bicubic, to
80-300 px) and pasted with a head around them into 1280x720 frames (pipeline/synthetic.py, as
in the planted-face benchmarks), the product's FaceFinder (CenterFace, at its working scale)
finds them, and each face's five landmarks are expressed as fractions of its FER+ crop side.

Why through the product path: CenterFace's landmarks move with the face's size and context.
On one 192 px face on flat grey the eyes-to-mouth distance is 0.37 of the side, with a head
around it 0.43; in frames at the working scale about 0.39. The aligner must match what the
detector reports in use, so that is what is measured.

Run: ``.venv/bin/python -m pipeline.emotion.framing [--faces 600]``; writes
``pipeline/emotion/fer_framing.json`` (committed; the aligner reads it) and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.emotion.ferplus import load_split

FRAMING_PATH = Path(__file__).with_name("fer_framing.json")
FACES_PER_FRAME = 4
MIN_SIDE, MAX_SIDE = 80, 300
MIN_FACE_PX = 36  # the product's default EMOTION_MIN_FACE_PX, which sets the working scale


def geometry(points: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face measures from (N, 5, 2) picture-order landmark fractions of the crop side."""
    eyes = points[:, :2].mean(axis=1)
    mouth = points[:, 3:].mean(axis=1)
    eye_vector = points[:, 1] - points[:, 0]
    iod = np.linalg.norm(eye_vector, axis=1)
    eye_mouth = np.linalg.norm(mouth - eyes, axis=1)
    return {
        "eye_centre_x": eyes[:, 0],
        "eye_centre_y": eyes[:, 1],
        "inter_ocular": iod,
        "eye_mouth": eye_mouth,
        "eye_scale": np.sqrt(iod * eye_mouth),
        "roll_deg": np.degrees(np.arctan2(eye_vector[:, 1], eye_vector[:, 0])),
    }


def _summary(values: np.ndarray) -> dict[str, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "sd": float(values.std()),
        # How well this length predicts the crop side: spread relative to its size.
        "cv": float(values.std() / abs(values.mean())) if values.mean() else float("nan"),
    }


def planted_landmarks(faces: int, seed: int) -> np.ndarray:
    """(N, 5, 2) landmark fractions of the crop side for the planted faces found."""
    from pipeline.face_eval import Scene, match_planted
    from pipeline.faces import FaceFinder
    from pipeline.synthetic import compose_scene

    split = load_split("train")
    rng = np.random.default_rng(seed)
    picked = rng.choice(np.flatnonzero(split.usable_for_training()), faces, replace=False)
    finder = FaceFinder("centerface", min_face_px=MIN_FACE_PX)
    found = []
    for start in range(0, faces, FACES_PER_FRAME):
        sources = [split.images[i] for i in picked[start : start + FACES_PER_FRAME]]
        sides = [int(s) for s in rng.integers(MIN_SIDE, MAX_SIDE + 1, len(sources))]
        frame, planted = compose_scene(rng, sources, [0] * len(sources), sides)
        scene = Scene(frame, planted, [sources[p.index] for p in planted])
        detections = finder.find(frame)
        for face, best in match_planted(scene, detections):
            landmarks = detections[best].landmarks if best >= 0 else None
            if landmarks is not None:
                found.append((landmarks - (face.x, face.y)) / face.side)
    return np.asarray(found, dtype=np.float64)


def measure(faces: int, seed: int) -> dict[str, Any]:
    points = planted_landmarks(faces, seed)
    measures = {name: _summary(v) for name, v in geometry(points).items()}
    scales = ("inter_ocular", "eye_mouth", "eye_scale")
    return {
        "what": "CenterFace landmarks on FER+ training faces, fractions of the FER+ crop side",
        "method": (
            f"faces upscaled to {MIN_SIDE}-{MAX_SIDE} px and pasted with a head, "
            f"{FACES_PER_FRAME} per 1280x720 frame; FaceFinder('centerface', "
            f"min_face_px={MIN_FACE_PX})"
        ),
        "faces_tried": faces,
        "faces_found": len(points),
        "seed": seed,
        "measures": measures,
        # The length that predicts the crop side best (lowest relative spread) sets the scale.
        "scale_from": min(scales, key=lambda name: measures[name]["cv"]),
        "mean_landmarks": points.mean(axis=0).round(4).tolist(),
    }


def load_framing(path: Path = FRAMING_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=600)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.faces, args.seed)
    FRAMING_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['faces_found']} of {result['faces_tried']} FER+ faces have landmarks")
    print(f"{'measure':<14} {'median':>7} {'q1':>7} {'q3':>7} {'sd':>7} {'cv':>6}")
    for name, s in result["measures"].items():
        print(
            f"{name:<14} {s['median']:7.3f} {s['q1']:7.3f} {s['q3']:7.3f} {s['sd']:7.3f} "
            f"{s['cv']:6.3f}"
        )
    print(f"scale from: {result['scale_from']}; wrote {FRAMING_PATH}")


if __name__ == "__main__":
    main()
