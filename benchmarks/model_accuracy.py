"""FER+ validation accuracy, per-class recall and precision, calibration and speed of the
shipped expression model, plus rare-class recall on the held-out training fold.

Run: ``.venv/bin/python benchmarks/model_accuracy.py``. Prints tables, writes
benchmarks/results/model_accuracy.json. The naive baseline for speed is one face per call;
the product's figure is batch 64 on 2 onnxruntime threads. Recall intervals are Wilson 95 %:
validation holds only 16 contempt and 25 disgust faces.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import load_split
from pipeline.emotion.holdout import DESCRIPTION, holdout_mask
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import ClassificationReport, classification_report
from pipeline.emotion.speed import ms_per_face
from pipeline.settings import get_setting


def _recall_rows(report: ClassificationReport, precision: bool) -> list[tuple[str, ...]]:
    rows = []
    for i, name in enumerate(LABELS):
        low, high = report.per_class_recall_ci95[name]
        row = (
            name,
            str(sum(report.confusion[i])),
            f"{report.per_class_recall[name]:.1%}",
            f"{low:.1%}-{high:.1%}",
        )
        rows.append((*row, f"{report.per_class_precision[name]:.1%}") if precision else row)
    return rows


def main() -> None:
    model_path = Path(get_setting("EMOTION_MODEL_PATH"))
    classifier = ExpressionClassifier(model_path, threads=2, batch_size=64)
    valid = load_split("valid")
    report = classification_report(classifier.predict_proba(valid.images), valid.majority_labels())
    train = load_split("train")
    fold = holdout_mask(train)
    held = classification_report(
        classifier.predict_proba(train.images[fold]), train.majority_labels()[fold]
    )
    seen = classifier.manifest.raw["training"].get("holdout_in_training", True)
    ms_b1 = ms_per_face(classifier, valid.images, 1, 300)
    ms_b64 = ms_per_face(classifier, valid.images, 64, 30)
    size_mb = model_path.stat().st_size / 1e6

    print_table(
        f"Shipped model {classifier.version} on FER+ validation (majority rule)",
        [
            ("faces", str(report.faces)),
            ("accuracy", f"{report.accuracy:.2%}"),
            ("ECE (15 bins)", f"{report.ece:.4f}"),
            ("NLL", f"{report.nll:.4f}"),
            ("ms/face, batch 1 (naive)", f"{ms_b1:.2f}"),
            ("ms/face, batch 64, 2 threads", f"{ms_b64:.2f}"),
            ("speed-up batch 64 vs 1", f"{ms_b1 / ms_b64:.1f}x"),
            ("model file (MB)", f"{size_mb:.1f}"),
        ],
        ("metric", "value"),
    )
    print_table(
        "Per class on validation",
        _recall_rows(report, precision=True),
        ("expression", "faces", "recall", "recall 95% (Wilson)", "precision"),
    )
    print_table(
        "Confusion matrix on validation (rows: truth, columns: predicted)",
        [(n, *map(str, row)) for n, row in zip(LABELS, report.confusion, strict=True)],
        ("truth", *[n[:5] for n in LABELS]),
    )
    print_table(
        f"Recall on the held-out training fold ({held.faces} faces)"
        + (" - the model TRAINED on these faces: optimistic" if seen else " - unseen faces"),
        _recall_rows(held, precision=False),
        ("expression", "faces", "recall", "recall 95% (Wilson)"),
    )
    save_json(
        "model_accuracy",
        {
            "model_version": classifier.version,
            "validation": report.as_dict(),
            "holdout": {
                "split": DESCRIPTION,
                "seen_in_training": seen,
                **held.as_dict(),
            },
            "ms_per_face_batch1": ms_b1,
            "ms_per_face_batch64_2threads": ms_b64,
            "model_mb": size_mb,
        },
    )


if __name__ == "__main__":
    main()
