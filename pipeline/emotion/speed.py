"""Milliseconds per face of a classifier, measured the same way by the card and benchmarks."""

from __future__ import annotations

import time

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier


def ms_per_face(
    classifier: ExpressionClassifier, faces: np.ndarray, batch: int, repeats: int
) -> float:
    """Mean wall time per face over ``repeats`` calls of ``batch`` faces (after one warm-up).

    faces: uint8 (N, 48, 48) with N > batch; successive calls take different faces.
    """
    if len(faces) <= batch:
        raise ValueError(f"need more than {batch} faces, got {len(faces)}")
    classifier.predict_proba(faces[:batch])
    start = time.perf_counter()
    for r in range(repeats):
        offset = (r * batch) % (len(faces) - batch)
        classifier.predict_proba(faces[offset : offset + batch])
    return 1000 * (time.perf_counter() - start) / (repeats * batch)
