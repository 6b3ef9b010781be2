"""What test-time flip averaging buys: accuracy and ms/face of the exported graph with and
without the mirrored pass (export only; needs torch).

Why: averaging a face with its mirror image doubles the model's work per face. The issue's
rule is that it ships only if it pays in accuracy per millisecond, so export measures both
graphs the same way (validation through onnxruntime, ms/face at the card's batch and threads)
and writes the comparison into the manifest and card.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.emotion.card import SPEED_BATCH, SPEED_THREADS
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.manifest import manifest_path_for, sha256_of
from pipeline.emotion.metrics import classification_report
from pipeline.emotion.speed import ms_per_face

SPEED_REPEATS = 30


def measure_graph(model_path: Path, valid: FerplusSplit) -> tuple[dict[str, float], np.ndarray]:
    """Validation accuracy and ms/face (the card's batch and threads) of a graph file that has
    a manifest beside it, and its top expression per validation face (int (N,)), so that two
    graphs can be compared face by face without scoring them again."""
    classifier = ExpressionClassifier(model_path, threads=SPEED_THREADS, batch_size=SPEED_BATCH)
    probs = classifier.predict_proba(valid.images)
    report = classification_report(probs, valid.majority_labels())
    measured = {
        "accuracy": report.accuracy,
        "ms_per_face": ms_per_face(classifier, valid.images, SPEED_BATCH, SPEED_REPEATS),
    }
    return measured, probs.argmax(axis=1)


def compare_flip(
    model_path: Path,
    write_plain_graph: Callable[[Path], None],
    manifest: dict[str, Any],
    valid: FerplusSplit,
) -> dict[str, Any]:
    """The shipped flip-averaged file against the graph ``write_plain_graph(path)`` writes
    without the mirrored pass, measured one after the other.

    Both carry the same temperature and bias, so only accuracy and speed are compared.
    """
    with tempfile.TemporaryDirectory() as folder:
        plain_path = Path(folder) / model_path.name
        write_plain_graph(plain_path)
        manifest_path_for(plain_path).write_text(
            json.dumps({**manifest, "sha256": sha256_of(plain_path), "flip_averaged": False})
        )
        with_flip, _ = measure_graph(model_path, valid)
        without, _ = measure_graph(plain_path, valid)
    gain = with_flip["accuracy"] - without["accuracy"]
    extra_ms = with_flip["ms_per_face"] - without["ms_per_face"]
    return {
        "with_flip": with_flip,
        "without_flip": without,
        "accuracy_gain_points": 100 * gain,
        "extra_ms_per_face": extra_ms,
        "points_per_extra_ms": float(100 * gain / extra_ms) if extra_ms > 0 else float(np.nan),
        "batch": SPEED_BATCH,
        "threads": SPEED_THREADS,
    }
