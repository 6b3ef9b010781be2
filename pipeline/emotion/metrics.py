"""Accuracy and calibration measures shared by the export step, benchmarks and tests."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.emotion.labels import LABELS


def majority_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of faces whose top score is their majority label; faces without a majority
    (label -1) are left out, as in every FER+ figure the project reports."""
    counted = labels >= 0
    return float((scores[counted].argmax(axis=1) == labels[counted]).mean())


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


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % for z = 1.96).

    Why Wilson and not the normal approximation: validation holds ~16 contempt faces, where
    p +- z*sqrt(p(1-p)/n) spills below 0 or collapses to a point at p = 0 or 1; Wilson's
    interval stays inside [0, 1] and keeps a sensible width for small n. (nan, nan) for n = 0.
    """
    if trials <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ClassificationReport:
    """Majority-rule scores of probabilities against labels (indices in ``LABELS``)."""

    faces: int
    accuracy: float
    per_class_recall: dict[str, float]
    confusion: list[list[int]]
    ece: float
    nll: float
    # Wilson 95 % interval [low, high] of each recall (few faces in the rare classes).
    per_class_recall_ci95: dict[str, list[float]]
    # Of the faces predicted as a class, the share that truly are (nan if none predicted).
    per_class_precision: dict[str, float]

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
    precision = {
        name: float(confusion[i, i] / confusion[:, i].sum())
        if confusion[:, i].sum()
        else float("nan")
        for i, name in enumerate(LABELS)
    }
    interval = {
        name: list(wilson_interval(int(confusion[i, i]), int(confusion[i].sum())))
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
        per_class_recall_ci95=interval,
        per_class_precision=precision,
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
