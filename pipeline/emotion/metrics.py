"""Accuracy and calibration measures shared by the export step, benchmarks and tests."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.emotion.labels import LABELS


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-1 ECE with equal-width confidence bins (Guo et al., 2017)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


@dataclass(frozen=True)
class ClassificationReport:
    """Majority-rule scores of probabilities against labels (indices in ``LABELS``)."""

    faces: int
    accuracy: float
    per_class_recall: dict[str, float]
    confusion: list[list[int]]
    ece: float
    nll: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def classification_report(probs: np.ndarray, labels: np.ndarray) -> ClassificationReport:
    """probs float (N, 8) in ``LABELS`` order; labels int (N,), rows with -1 are ignored."""
    keep = labels >= 0
    probs, labels = probs[keep], labels[keep]
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    recall = {
        name: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else float("nan")
        for i, name in enumerate(LABELS)
    }
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return ClassificationReport(
        faces=len(labels),
        accuracy=float((predicted == labels).mean()),
        per_class_recall=recall,
        confusion=confusion.tolist(),
        ece=expected_calibration_error(probs, labels),
        nll=float(-np.log(picked).mean()),
    )


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising NLL of softmax(logits / T); a 1-D search is all it needs."""
    keep = labels >= 0
    logits, labels = logits[keep].astype(np.float64), labels[keep]

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 200))
    best = float(grid[np.argmin([nll(t) for t in grid])])
    fine = np.linspace(best * 0.97, best * 1.03, 61)
    return float(fine[np.argmin([nll(t) for t in fine])])
