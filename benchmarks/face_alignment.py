"""Aligned vs box crops with the shipped model: FER+ faces planted in frames, and real photos.

Aligned: eyes levelled and FER+ framing from CenterFace's five landmarks
(pipeline/emotion/align.py); box: the FER+-like square of CenterFace's box (the baseline, the
product's crop before alignment). Both score the same detections, so the comparison is paired.
- Planted: validation faces (known labels) upright, and tilted +-20 deg in the picture plane.
- Real photos (../shared/datasets/real-photos, no expression labels): each method's answer on
  each main face, and whether it keeps that answer when the photo is turned by +-20 deg.
Run: ``.venv/bin/python benchmarks/face_alignment.py [--frames 300] [--card]``; ``--card``
also writes the summary into the model's manifest and card.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from benchmarks.real_photo_sets import PHOTOS, SELFIE, _read
from pipeline.emotion.card import render_model_card
from pipeline.emotion.classifier import ExpressionClassifier, shared_classifier
from pipeline.emotion.ferplus import load_split
from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import manifest_path_for
from pipeline.emotion.mirror import unsure
from pipeline.face_eval import compare_alignment, labelled_scenes
from pipeline.faces import DetectedFace, FaceFinder
from pipeline.settings import get_int, get_setting

TILT_DEG = 20.0


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """The photo turned about its centre, on a canvas large enough to keep every pixel."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = round(w * cos + h * sin), round(w * sin + h * cos)
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    return cv2.warpAffine(image, matrix, (new_w, new_h), borderMode=cv2.BORDER_REPLICATE)


def _answers(finder: FaceFinder, image: np.ndarray, faces: list[DetectedFace]) -> dict:
    """Each method's probabilities as shipped, and whether the classifier mirrored each face
    (its one view's top probability under the model's threshold: pipeline/emotion/mirror.py):
    real photos say how often that happens outside FER+, which sets the time per face."""
    classifier = shared_classifier()
    crops = {
        "box": [finder.face_crop(image, f.box, None) for f in faces],
        "aligned": [finder.face_crop(image, f.box, f.landmarks, align=True) for f in faces],
    }
    answers: dict = {m: classifier.predict_proba(c) for m, c in crops.items()}
    for method, method_crops in crops.items():
        one_view = _one_view().predict_proba(method_crops)
        answers[f"{method}_mirrored"] = unsure(one_view, classifier.mirror_below)
    return answers


@cache
def _one_view() -> ExpressionClassifier:
    """The installed model without the mirrored pass (one session for the whole run)."""
    return ExpressionClassifier(Path(get_setting("EMOTION_MODEL_PATH")), mirror_below=0.0)


def _main_face(faces: list[DetectedFace]) -> list[DetectedFace]:
    return [max(faces, key=lambda f: f.w * f.h)] if faces else []


def real_photos(finder: FaceFinder) -> dict[str, object]:
    rows = []
    names = [*sorted(p.name for p in PHOTOS.glob("img*.jpg")), SELFIE]
    for name in names:
        image = _read(name)
        found = finder.find(image)
        faces = found if name == SELFIE else _main_face(found)
        if not faces:
            continue
        upright = _answers(finder, image, faces)
        kept = {"box": 0, "aligned": 0, "turns": 0}
        if name != SELFIE:
            for degrees in (TILT_DEG, -TILT_DEG):
                turned = _turned(image, degrees)
                main = _main_face(finder.find(turned))
                if not main:
                    continue
                answers = _answers(finder, turned, main)
                kept["turns"] += 1
                for method in ("box", "aligned"):
                    kept[method] += int(answers[method][0].argmax() == upright[method][0].argmax())
        for k in range(len(faces)):
            label = name if name != SELFIE else f"{name} #{k + 1}"
            rows.append(
                {
                    "photo": label,
                    **{f"{m}_top": LABELS[int(upright[m][k].argmax())] for m in ("box", "aligned")},
                    **{f"{m}_p": float(upright[m][k].max()) for m in ("box", "aligned")},
                    **{f"{m}_kept_when_turned": kept[m] for m in ("box", "aligned")},
                    **{
                        f"{m}_mirrored": bool(upright[f"{m}_mirrored"][k])
                        for m in ("box", "aligned")
                    },
                    "turns": kept["turns"],
                }
            )
    turns = sum(r["turns"] for r in rows)
    summary = {
        "faces": len(rows),
        "same_top_expression": sum(r["box_top"] == r["aligned_top"] for r in rows),
        "top_counts": {
            m: {n: sum(r[f"{m}_top"] == n for r in rows) for n in LABELS}
            for m in ("box", "aligned")
        },
        "mirrored": {m: sum(r[f"{m}_mirrored"] for r in rows) for m in ("box", "aligned")},
        "turned_photos": turns,
        "kept_when_turned": {
            m: sum(r[f"{m}_kept_when_turned"] for r in rows) for m in ("box", "aligned")
        },
        "tilt_deg": TILT_DEG,
    }
    return {"summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seeds", type=str, default="7,11", help="scene seeds, comma list")
    parser.add_argument("--card", action="store_true", help="write the summary into the card")
    args = parser.parse_args()
    valid = load_split("valid")
    finder = FaceFinder("centerface", min_face_px=get_int("EMOTION_MIN_FACE_PX"))
    planted = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for tilt in (0.0, TILT_DEG):
            scenes = labelled_scenes(valid, args.frames, seed, tilt_deg=tilt)
            name = f"{'upright' if not tilt else f'tilted +-{tilt:g} deg'}, seed {seed}"
            planted[name] = compare_alignment(scenes, finder, shared_classifier())
    print_table(
        f"FER+ validation faces planted in {args.frames} frames (80-300 px), CenterFace",
        [
            (
                name,
                str(r["faces"]),
                f"{r['box_accuracy']:.1%}",
                f"{r['aligned_accuracy']:.1%}",
                f"{r['aligned_accuracy'] - r['box_accuracy']:+.1%}",
                f"{r['only_aligned_right']} / {r['only_box_right']}",
                f"{r['direct_accuracy']:.1%}",
            )
            for name, r in planted.items()
        ],
        (
            "faces",
            "n",
            "box crop acc",
            "aligned acc",
            "aligned - box",
            "only aligned right / only box right",
            "source crop acc",
        ),
    )
    photos = real_photos(finder)
    s = photos["summary"]
    print_table(
        f"Real photos: {s['faces']} faces (main face of 62 photos + the selfie's faces)",
        [
            ("same top expression, box vs aligned", f"{s['same_top_expression']}/{s['faces']}"),
            *[
                (f"mirror image scored too (unsure), {m}", f"{s['mirrored'][m]}/{s['faces']}")
                for m in ("box", "aligned")
            ],
            *[
                (
                    f"top expression kept when turned +-{TILT_DEG:g} deg, {m}",
                    f"{s['kept_when_turned'][m]}/{s['turned_photos']}",
                )
                for m in ("box", "aligned")
            ],
            *[
                (
                    f"top = {n}: box / aligned",
                    f"{s['top_counts']['box'][n]} / {s['top_counts']['aligned'][n]}",
                )
                for n in LABELS
            ],
        ],
        ("measure", "value"),
    )
    differ = [r for r in photos["rows"] if r["box_top"] != r["aligned_top"]]
    print_table(
        "Real-photo faces whose top expression changes with alignment",
        [
            (
                r["photo"],
                f"{r['box_top']} {r['box_p']:.2f}",
                f"{r['aligned_top']} {r['aligned_p']:.2f}",
            )
            for r in differ
        ],
        ("photo", "box crop", "aligned crop"),
    )
    save_json(
        "face_alignment",
        {"frames": args.frames, "seeds": args.seeds, "planted": planted, "real_photos": photos},
    )
    if args.card:
        publish_to_card(planted, photos)


def publish_to_card(planted: dict, photos: dict) -> None:
    """Write the summary into the installed model's manifest and re-render its card."""
    model = Path(get_setting("EMOTION_MODEL_PATH"))
    manifest = json.loads(manifest_path_for(model).read_text())
    changed = [r for r in photos["rows"] if r["box_top"] != r["aligned_top"]]
    manifest["alignment"] = {
        "planted": planted,
        "real_photos": photos["summary"],
        "changed": changed,
    }
    manifest_path_for(model).write_text(json.dumps(manifest, indent=2) + "\n")
    (model.parent / "MODEL_CARD.md").write_text(render_model_card(manifest))
    print(f"wrote the summary into {manifest_path_for(model)} and MODEL_CARD.md")


if __name__ == "__main__":
    main()
