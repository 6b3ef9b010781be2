"""Soft targets from a teacher model, for distilling an ensemble into one network.

Why: an ensemble (several seeds, or unweighted networks with class-balanced specialists for
the rare expressions, pipeline/emotion/network.py) is more accurate than one network and
finds more rare expressions, but costs each member's time on every face. Training one network
on a blend of the annotators' votes and the ensemble's calibrated probabilities
(Hinton et al., 2015, "Distilling the knowledge in a neural network") passes on what the
ensemble learnt, at one network's cost per face.

The teacher is an exported model (``emotion.onnx`` with its manifest, from
``python -m pipeline.emotion.export``): its probabilities are what it would ship, flip
averaging, temperature and any rare-expression adjustment included. They are computed once per
run, on the un-augmented training faces, and kept next to the checkpoints keyed by the
teacher's sha256, so a resumed run reuses them and cannot mix two teachers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.manifest import ModelManifest

TARGETS_FILE = "teacher_targets.npz"


def teacher_sha256(teacher_path: Path) -> str:
    return ModelManifest.load(teacher_path).sha256


def teacher_probabilities(teacher_path: Path, faces: np.ndarray, cache_dir: Path) -> np.ndarray:
    """float32 (N, 8): the teacher's probabilities for uint8 (N, 48, 48) ``faces``, from the
    cache in ``cache_dir`` when it holds this teacher's for these faces."""
    sha = teacher_sha256(teacher_path)
    cache = cache_dir / TARGETS_FILE
    if cache.exists():
        saved = np.load(cache)
        if str(saved["sha256"]) == sha and saved["probabilities"].shape[0] == len(faces):
            return np.asarray(saved["probabilities"], dtype=np.float32)
    probabilities = ExpressionClassifier(teacher_path).predict_proba(faces)
    temporary = cache.with_suffix(".tmp.npz")
    np.savez(temporary, sha256=np.array(sha), probabilities=probabilities)
    temporary.replace(cache)
    return probabilities


def blend_targets(votes: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * votes + weight * teacher, row-normalised (both are distributions)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the teacher's weight must be in [0, 1], got {weight}")
    blended = (1.0 - weight) * votes.astype(np.float32) + weight * teacher.astype(np.float32)
    return blended / blended.sum(axis=1, keepdims=True)
