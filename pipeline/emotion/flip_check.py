"""What the mirrored pass buys: accuracy and ms/face of the exported model with the mirror
image scored for no face, for the faces it is unsure of (what ships) and for every face
(export only).

Why: averaging a face with its mirror image doubles the model's work for that face. The
issue's rule is that it ships only if it pays in accuracy per millisecond, so export measures
the three the same way (validation through onnxruntime, ms/face at the card's batch and
threads) and writes the comparison into the manifest and card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.emotion.card import SPEED_BATCH, SPEED_REPEATS, SPEED_ROUNDS, SPEED_THREADS
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.metrics import classification_report
from pipeline.emotion.mirror import EVERY_FACE, unsure
from pipeline.emotion.speed import ms_per_face_in_turn


def measure(
    classifiers: dict[str, ExpressionClassifier], valid: FerplusSplit
) -> dict[str, tuple[dict[str, float], np.ndarray]]:
    """Each classifier's validation accuracy and ms/face (the card's batch and threads, timed
    in turn: medians of :data:`SPEED_ROUNDS` rounds), with its probabilities (N, 8) of the
    validation faces, so that they can be compared face by face without scoring them again."""
    labels = valid.majority_labels()
    timed = ms_per_face_in_turn(classifiers, valid.images, SPEED_BATCH, SPEED_REPEATS, SPEED_ROUNDS)
    measured = {}
    for name, classifier in classifiers.items():
        probs = classifier.predict_proba(valid.images)
        accuracy = classification_report(probs, labels).accuracy
        measured[name] = ({"accuracy": accuracy, "ms_per_face": timed[name]}, probs)
    return measured


def measure_graphs(
    model_paths: list[Path], valid: FerplusSplit
) -> list[tuple[dict[str, float], np.ndarray]]:
    """:func:`measure` of graph files that each have a manifest beside them, in their order,
    with each one's top expression per validation face (int (N,))."""
    classifiers = {
        str(path): ExpressionClassifier(path, threads=SPEED_THREADS, batch_size=SPEED_BATCH)
        for path in model_paths
    }
    measured = measure(classifiers, valid)
    return [(measured[str(path)][0], measured[str(path)][1].argmax(axis=1)) for path in model_paths]


def compare_flip(model_path: Path, valid: FerplusSplit) -> dict[str, Any]:
    """The shipped file scored three ways: "with_flip" as it ships (the mirror image of unsure
    faces), "every_face" and "without_flip" (no mirror image); their ms/face timed in turn,
    medians of :data:`SPEED_ROUNDS` rounds."""
    modes = {"with_flip": None, "every_face": EVERY_FACE, "without_flip": 0.0}
    classifiers = {
        mode: ExpressionClassifier(
            model_path, threads=SPEED_THREADS, batch_size=SPEED_BATCH, mirror_below=below
        )
        for mode, below in modes.items()
    }
    results = measure(classifiers, valid)
    measured = {mode: figures for mode, (figures, _) in results.items()}
    one_view = results["without_flip"][1]
    share = float(unsure(one_view, classifiers["with_flip"].mirror_below).mean())
    shipped, without = measured["with_flip"], measured["without_flip"]
    gain = shipped["accuracy"] - without["accuracy"]
    extra_ms = shipped["ms_per_face"] - without["ms_per_face"]
    return {
        **measured,
        "mirrored_share": share,
        "accuracy_gain_points": 100 * gain,
        "extra_ms_per_face": extra_ms,
        "points_per_extra_ms": float(100 * gain / extra_ms) if extra_ms > 0 else float(np.nan),
        "speed_ratio_to_every_face": shipped["ms_per_face"] / measured["every_face"]["ms_per_face"],
        "rounds": SPEED_ROUNDS,
        "batch": SPEED_BATCH,
        "threads": SPEED_THREADS,
    }
