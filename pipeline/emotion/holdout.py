"""A fixed held-out fold of the FER+ training split, for rare-expression recall.

Why: validation holds only 16 contempt, 25 disgust and 60 fear faces, too few to tell a
recall of 0.35 from one of 0.55. The fold adds faces of those classes that a model trained
with the default settings never sees (``python -m pipeline.emotion.train`` leaves it out
unless ``--include-holdout`` is given), so rare-class recall can be checked on more faces
than validation has, and post-hoc adjustments can be chosen without touching validation.

The rule, fixed for every model (changing it would make fold numbers incomparable):
- only faces with a majority label (the Barsoum et al. rule) can be in the fold;
- a face is in the fold when ``blake2b("ferplus-holdout-v1:" + its FER+ file name)``, read as a
  fraction in [0, 1), is below its class's share: 20 % for contempt, disgust and fear, 5 % for
  the other five classes.
The draw depends on nothing but the file name, so it is the same on every machine, NumPy
version and re-packing of the archive. On the 28,558-face training split it holds 1,379 faces
(tests/test_model_report.py pins the counts per class).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.labels import LABELS

HOLDOUT_KEY = "ferplus-holdout-v1"
RARE_CLASSES: tuple[str, ...] = ("contempt", "disgust", "fear")
RARE_SHARE = 0.20
OTHER_SHARE = 0.05
DESCRIPTION = (
    "FER+ train split, fixed held-out fold (pipeline/emotion/holdout.py: blake2b of the FER+ "
    f"file name; {RARE_SHARE:.0%} of contempt, disgust and fear, {OTHER_SHARE:.0%} of the other "
    "classes), majority rule"
)


def _fraction(name: str) -> float:
    digest = hashlib.blake2b(f"{HOLDOUT_KEY}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def holdout_mask(split: FerplusSplit) -> np.ndarray:
    """Bool (N,): the faces of ``split`` (the training split) that belong to the fold."""
    if split.names is None:
        raise ValueError("the held-out fold is drawn by FER+ file name; this split has none")
    labels = split.majority_labels()
    # Faces without a majority label (-1) get share 0 through the last entry.
    limits = _share_by_label()[labels]
    fractions = np.fromiter((_fraction(str(n)) for n in split.names), float, len(split.names))
    return fractions < limits


def _share_by_label() -> np.ndarray:
    """(9,) the fold's share of each class in ``LABELS`` order, then 0 for "no majority"."""
    return np.array(
        [RARE_SHARE if name in RARE_CLASSES else OTHER_SHARE for name in LABELS] + [0.0]
    )


def natural_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Majority accuracy of fold ``scores`` (N, 8) with each face weighted by 1 / its class's
    share of the fold: the accuracy at the training split's class mix.

    Why: the fold holds 20 % of each rare expression and 5 % of the others, four times the
    rare faces of the natural mix, so its plain accuracy rewards rare answers four times too
    much for choosing anything that trades common faces for rare ones."""
    keep = labels >= 0
    weights = 1.0 / _share_by_label()[labels[keep]]
    right = np.asarray(scores)[keep].argmax(axis=1) == labels[keep]
    return float((weights * right).sum() / weights.sum()) if keep.any() else float("nan")


def training_rows(split: FerplusSplit, include_holdout: bool = False) -> np.ndarray:
    """Bool (N,): the faces a model trains on: usable ones, minus the fold unless asked."""
    keep = split.usable_for_training()
    if not include_holdout:
        keep &= ~holdout_mask(split)
    return keep


def saw_fold(config: dict[str, Any]) -> bool:
    """Whether a training run's network learnt from the held-out fold, so that its fold
    figures are too optimistic to choose a rare-expression bias by.

    A run saw it when it trained on it (checkpoints from before the fold existed did), when
    it learnt from a teacher that did (distillation passes on the teacher's view of those
    faces), or when it started from a network that did (a fine-tune keeps what its start
    learnt; ``init`` records are made by pipeline/emotion/finetune.py with this rule).
    """
    return (
        bool(config.get("holdout_in_training", True))
        or bool((config.get("teacher") or {}).get("holdout_in_training", False))
        or bool((config.get("init") or {}).get("holdout_in_training", False))
    )
