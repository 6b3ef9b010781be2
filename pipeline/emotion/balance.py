"""Class-balanced loss weights for training (deferred re-weighting; training only, needs torch).

Why: contempt and disgust are under 1 % of the FER+ training faces, and post-hoc rules on a
network trained without weights (logit adjustment, a re-trained classifier) did not lift
held-out contempt recall past 0.41, so the features themselves have to learn to separate
the rare expressions. Weighting each face's loss by ``(n_max / n_class) ** beta`` while
training is the standard way to try; applied only in the later part of the schedule (Cao et
al. 2019, "deferred re-weighting") it lets the features form on the natural mix first.
Measured (README): a full run with beta 1 did not lift held-out contempt past 0.41 either,
at 2.6 points of accuracy, so such a network ships only as a specialist whose rare-expression
columns replace an unweighted network's (SpecialistMix, pipeline/emotion/network.py). A face's
weight follows its vote distribution, so a face half the annotators called contempt gets half
contempt's weight.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def class_weights(majority_labels: np.ndarray, beta: float, classes: int = 8) -> torch.Tensor:
    """(classes,) weights ``(n_max / n_c) ** beta`` from the training faces' majority labels
    (-1, no majority, is ignored); beta 0 gives ones."""
    counts = np.bincount(majority_labels[majority_labels >= 0], minlength=classes)
    counts = np.maximum(counts, 1)
    return torch.from_numpy((counts.max() / counts) ** beta).float()


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy against vote distributions; with ``weights`` (per class), each face
    counts ``targets @ weights`` times in a weighted mean."""
    per_face = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if weights is None:
        return per_face.mean()
    face_weights = targets @ weights
    return (per_face * face_weights).sum() / face_weights.sum()
