"""The expression model: ``LABELS`` (output order) and ``predict_proba(faces) -> (N, 8)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.emotion.labels import LABELS


def predict_proba(faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Calibrated expression probabilities float32 (N, 8), columns in ``LABELS`` order.

    faces: a list of uint8 face crops, grayscale (H, W) or BGR (H, W, 3), any size.
    """
    from pipeline.emotion.classifier import shared_classifier

    return shared_classifier().predict_proba(faces)


__all__ = ["LABELS", "predict_proba"]
