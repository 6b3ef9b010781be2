"""Measuring the face path (DeepFace detection + our model) on scenes with planted faces.

Shared by ``benchmarks/face_path.py`` and the end-to-end test, so the number in the closing
note and the number the test asserts come from the same code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import FerplusSplit
from pipeline.faces import FaceFinder
from pipeline.synthetic import PlantedFace, compose_scene
from pipeline.tracking import box_iou

SIZE_BUCKETS: tuple[tuple[int, int], ...] = ((30, 60), (60, 100), (100, 180), (180, 301))


@dataclass(frozen=True)
class Scene:
    """A frame, the faces pasted into it and their source crops (uint8 48x48)."""

    frame: np.ndarray
    planted: list[PlantedFace]
    sources: list[np.ndarray]


def labelled_scenes(
    split: FerplusSplit,
    frames: int,
    seed: int,
    min_side: int = 80,
    max_side: int = 300,
    max_faces: int = 6,
) -> Iterator[Scene]:
    """1280x720 frames with 1..max_faces majority-labelled validation faces each."""
    rng = np.random.default_rng(seed)
    labels = split.majority_labels()
    candidates = np.flatnonzero(labels >= 0)
    for _ in range(frames):
        count = int(rng.integers(1, max_faces + 1))
        picked = rng.choice(candidates, count, replace=False)
        sides = [int(s) for s in rng.integers(min_side, max_side + 1, count)]
        sources = [split.images[i] for i in picked]
        frame, planted = compose_scene(rng, sources, [int(labels[i]) for i in picked], sides)
        yield Scene(frame, planted, [sources[p.index] for p in planted])


@dataclass
class FacePathReport:
    """What the face path got right; ``as_dict`` feeds benchmark JSON and closing notes."""

    planted: int = 0
    detected: int = 0
    false_positives: int = 0
    per_size: dict[str, list[int]] = field(default_factory=dict)
    correct_detected: int = 0
    correct_direct_same_faces: int = 0
    correct_direct_all: int = 0
    detect_seconds: float = 0.0
    classify_seconds: float = 0.0
    frames: int = 0

    def as_dict(self) -> dict[str, object]:
        detected = max(1, self.detected)
        return {
            "frames": self.frames,
            "planted_faces": self.planted,
            "detection_recall": self.detected / max(1, self.planted),
            "recall_by_size": {k: v[0] / max(1, v[1]) for k, v in self.per_size.items()},
            "faces_by_size": {k: v[1] for k, v in self.per_size.items()},
            "false_positives_per_frame": self.false_positives / max(1, self.frames),
            "accuracy_on_detected": self.correct_detected / detected,
            "direct_accuracy_same_faces": self.correct_direct_same_faces / detected,
            "direct_accuracy_all_planted": self.correct_direct_all / max(1, self.planted),
            "detect_ms_per_frame": 1000 * self.detect_seconds / max(1, self.frames),
            "classify_ms_per_face": 1000 * self.classify_seconds / detected,
        }


def evaluate_face_path(
    scenes: Iterator[Scene],
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    iou_threshold: float = 0.4,
) -> FacePathReport:
    """Detect and score every scene; match detections to planted faces by IoU."""
    report = FacePathReport(per_size={f"{lo}-{hi - 1}px": [0, 0] for lo, hi in SIZE_BUCKETS})
    for scene in scenes:
        report.frames += 1
        start = time.perf_counter()
        faces = finder.find(scene.frame)
        report.detect_seconds += time.perf_counter() - start
        start = time.perf_counter()
        probs = classifier.predict_proba([f.crop for f in faces]) if faces else np.zeros((0, 8))
        report.classify_seconds += time.perf_counter() - start
        direct = classifier.predict_proba(scene.sources).argmax(axis=1)
        used: set[int] = set()
        for planted, direct_label in zip(scene.planted, direct, strict=True):
            report.planted += 1
            report.correct_direct_all += int(direct_label == planted.label)
            bucket = next(f"{lo}-{hi - 1}px" for lo, hi in SIZE_BUCKETS if lo <= planted.side < hi)
            report.per_size[bucket][1] += 1
            box = (planted.x, planted.y, planted.side, planted.side)
            overlaps = [(box_iou(box, (f.x, f.y, f.w, f.h)), i) for i, f in enumerate(faces)]
            best_iou, best = max(overlaps, default=(0.0, -1))
            if best_iou < iou_threshold or best in used:
                continue
            used.add(best)
            report.detected += 1
            report.per_size[bucket][0] += 1
            report.correct_detected += int(probs[best].argmax() == planted.label)
            report.correct_direct_same_faces += int(direct_label == planted.label)
        report.false_positives += len(faces) - len(used)
    return report
