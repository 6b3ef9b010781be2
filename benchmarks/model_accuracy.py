"""FER+ validation accuracy, calibration and speed of the shipped expression model.

Run: ``.venv/bin/python benchmarks/model_accuracy.py``. Prints tables, writes
benchmarks/results/model_accuracy.json. The naive baseline for speed is one face per call.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import load_split
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import classification_report
from pipeline.settings import get_setting


def _ms_per_face(
    classifier: ExpressionClassifier, faces: np.ndarray, batch: int, repeats: int
) -> float:
    classifier.predict_proba(faces[:batch])
    start = time.perf_counter()
    for r in range(repeats):
        offset = (r * batch) % (len(faces) - batch)
        classifier.predict_proba(faces[offset : offset + batch])
    return 1000 * (time.perf_counter() - start) / (repeats * batch)


def main() -> None:
    model_path = Path(get_setting("EMOTION_MODEL_PATH"))
    classifier = ExpressionClassifier(model_path, batch_size=64)
    valid = load_split("valid")
    labels = valid.majority_labels()
    report = classification_report(classifier.predict_proba(valid.images), labels)
    ms_b1 = _ms_per_face(classifier, valid.images, 1, 300)
    ms_b64 = _ms_per_face(classifier, valid.images, 64, 20)
    size_mb = model_path.stat().st_size / 1e6

    print_table(
        "Shipped model on FER+ validation (majority rule)",
        [
            ("faces", str(report.faces)),
            ("accuracy", f"{report.accuracy:.2%}"),
            ("ECE (15 bins)", f"{report.ece:.4f}"),
            ("NLL", f"{report.nll:.4f}"),
            ("ms/face, batch 1 (naive)", f"{ms_b1:.2f}"),
            ("ms/face, batch 64", f"{ms_b64:.2f}"),
            ("speed-up batch 64 vs 1", f"{ms_b1 / ms_b64:.1f}x"),
            ("model file (MB)", f"{size_mb:.1f}"),
        ],
        ("metric", "value"),
    )
    print_table(
        "Per-class recall",
        [
            (n, f"{report.per_class_recall[n]:.2%}", str(sum(report.confusion[i])))
            for i, n in enumerate(LABELS)
        ],
        ("expression", "recall", "faces"),
    )
    print_table(
        "Confusion matrix (rows: truth, columns: predicted)",
        [(n, *map(str, row)) for n, row in zip(LABELS, report.confusion, strict=True)],
        ("truth", *[n[:5] for n in LABELS]),
    )
    save_json(
        "model_accuracy",
        {
            **report.as_dict(),
            "ms_per_face_batch1": ms_b1,
            "ms_per_face_batch64": ms_b64,
            "model_mb": size_mb,
        },
    )


if __name__ == "__main__":
    main()
