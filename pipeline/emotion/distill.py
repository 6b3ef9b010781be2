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

import hashlib
from pathlib import Path

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.manifest import ModelManifest
from pipeline.emotion.mirror import EVERY_FACE

TARGETS_FILE = "teacher_targets.npz"


def teacher_record(teacher_path: Path, weight: float) -> dict[str, object]:
    """What a run's config records of its teacher: which file (sha256), how much of the targets
    it makes, and whether it saw the held-out fold (a student of such a teacher has seen it
    through the teacher, so export must not choose a rare-expression adjustment on it)."""
    raw = ModelManifest.load(teacher_path).raw
    return {
        "sha256": raw["sha256"],
        "weight": weight,
        "holdout_in_training": bool(raw.get("training", {}).get("holdout_in_training", True)),
    }


def _faces_digest(faces: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(faces).tobytes()).hexdigest()


def teacher_probabilities(teacher_path: Path, faces: np.ndarray, cache_dir: Path) -> np.ndarray:
    """float32 (N, 8) in ``LABELS`` order: the teacher's probabilities for uint8 (N, 48, 48)
    ``faces``, from the cache in ``cache_dir`` when it holds this teacher's for these very
    faces (keyed by both sha256s, so other rows or another order are scored again)."""
    teacher = ModelManifest.load(teacher_path).sha256
    faces_digest = _faces_digest(faces)
    cache = cache_dir / TARGETS_FILE
    if cache.exists():
        with np.load(cache) as saved:
            if str(saved["sha256"]) == teacher and str(saved["faces_sha256"]) == faces_digest:
                return np.asarray(saved["probabilities"], dtype=np.float32)
    # Both views of every face: targets as left/right-symmetric as the teacher can make them
    # (the time the mirrored pass costs does not matter offline).
    probabilities = ExpressionClassifier(teacher_path, mirror_below=EVERY_FACE).predict_proba(faces)
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_suffix(".tmp.npz")
    np.savez(
        temporary,
        sha256=np.array(teacher),
        faces_sha256=np.array(faces_digest),
        probabilities=probabilities,
    )
    temporary.replace(cache)
    return probabilities


def blend_targets(votes: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """float32 (N, 8): ``(1 - weight) * votes + weight * teacher``, row-normalised; both inputs
    are (N, 8) distributions in ``LABELS`` order."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the teacher's weight must be in [0, 1], got {weight}")
    blended = (1.0 - weight) * votes.astype(np.float32) + weight * teacher.astype(np.float32)
    return blended / blended.sum(axis=1, keepdims=True)
