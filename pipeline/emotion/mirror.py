"""The mirrored pass, run only for faces the model is unsure of (inference and export; numpy).

Why: averaging a face's scores with its mirror image's removes left/right bias (a smirk, i.e.
contempt, is one-sided) and bought a point of FER+ validation accuracy, but it doubled the
work per face, which put the model over the issue's 2 ms per face on two AVX2 cores. Most
faces do not need it: when one view alone is sure of its top expression, the mirror image
rarely changes it (on the held-out fold no face at or above the shipped threshold of 0.80 did;
on validation 1 of 3,191). So the shipped graph scores one view, and the classifier scores the
mirror image only of faces whose top probability is below a threshold that export chooses on
the held-out fold (:func:`choose_threshold`).

Combining two views' calibrated probabilities by their geometric mean, renormalised, gives
exactly what averaging their logits before the calibration gives: each view's log-probability
is its logits / temperature + bias minus a constant of its own, and constants cancel in a
softmax. So a face that is mirrored gets the same answer a graph averaging both views would.
"""

from __future__ import annotations

import numpy as np

# Thresholds tried, smallest first; when none keeps every top expression, every face is
# mirrored (EVERY_FACE).
THRESHOLDS = tuple(round(0.5 + 0.05 * step, 2) for step in range(10))
EVERY_FACE = float("inf")
# Probabilities are float32; a log of an underflowed zero would poison the mean.
_TINY = np.finfo(np.float32).tiny


def combine_views(faces: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """float32 (N, 8): the calibrated probabilities of both views combined, as if their logits
    had been averaged before the temperature and bias (module docstring)."""
    mean_log = 0.5 * (
        np.log(np.maximum(faces, _TINY), dtype=np.float64)
        + np.log(np.maximum(mirrored, _TINY), dtype=np.float64)
    )
    weights = np.exp(mean_log - mean_log.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def unsure(probabilities: np.ndarray, below: float) -> np.ndarray:
    """bool (N,): the faces whose top probability from one view is below ``below``."""
    return probabilities.max(axis=1) < below


def mirror_where_unsure(faces: np.ndarray, mirrored: np.ndarray, below: float) -> np.ndarray:
    """What the classifier returns when both views are already scored: the combined
    probabilities for unsure faces, the single view's for the others."""
    return np.where(unsure(faces, below)[:, None], combine_views(faces, mirrored), faces)


def choose_threshold(
    faces: np.ndarray, mirrored: np.ndarray
) -> tuple[float, list[dict[str, float]]]:
    """The smallest threshold of :data:`THRESHOLDS` at which no face changes its top
    expression against mirroring every face, and each threshold's share of faces mirrored
    and faces changed. :data:`EVERY_FACE` when none of them is reached.

    faces, mirrored: calibrated probabilities (N, 8) of one view and of the mirror images, of
    faces the model never trained on (export passes the held-out fold, never validation).
    Why this rule: it keeps what mirroring buys on those faces and pays only for the faces
    that need it; a looser one would trade accuracy for speed on a fold of 1,379 faces, too
    few to tell a few faces' loss from noise.
    """
    every = combine_views(faces, mirrored).argmax(axis=1)
    table: list[dict[str, float]] = []
    chosen = EVERY_FACE
    for below in THRESHOLDS:
        picked = mirror_where_unsure(faces, mirrored, below).argmax(axis=1)
        changed = int((picked != every).sum())
        table.append(
            {
                "below": below,
                "mirrored_share": float(unsure(faces, below).mean()),
                "changed_faces": changed,
            }
        )
        if changed == 0 and chosen == EVERY_FACE:
            chosen = below
    return chosen, table
