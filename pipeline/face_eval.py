"""Measuring the face path (DeepFace detection + our model) on scenes with planted faces.

Shared by ``benchmarks/face_path.py`` and the end-to-end test, so the number in the closing
note and the number the test asserts come from the same code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import FerplusSplit
from pipeline.faces import DetectedFace, FaceFinder
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
    tilt_deg: float = 0.0,
) -> Iterator[Scene]:
    """1280x720 frames with 1..max_faces majority-labelled validation faces each.

    tilt_deg: each face is first turned in the picture plane by this angle, clockwise or
    anticlockwise at random (a head tilted to one side); its source crop is the turned face.
    """
    rng = np.random.default_rng(seed)
    labels = split.majority_labels()
    candidates = np.flatnonzero(labels >= 0)
    for _ in range(frames):
        count = int(rng.integers(1, max_faces + 1))
        picked = rng.choice(candidates, count, replace=False)
        sides = [int(s) for s in rng.integers(min_side, max_side + 1, count)]
        sources = [split.images[i] for i in picked]
        if tilt_deg:
            signs = rng.choice([-1.0, 1.0], count)
            sources = [
                _tilt(face, tilt_deg * sign) for face, sign in zip(sources, signs, strict=True)
            ]
        frame, planted = compose_scene(rng, sources, [int(labels[i]) for i in picked], sides)
        yield Scene(frame, planted, [sources[p.index] for p in planted])


def _tilt(face: np.ndarray, degrees: float) -> np.ndarray:
    side = face.shape[0]
    matrix = cv2.getRotationMatrix2D((side / 2 - 0.5, side / 2 - 0.5), degrees, 1.0)
    return cv2.warpAffine(face, matrix, (side, side), borderMode=cv2.BORDER_REFLECT_101)


def match_planted(
    scene: Scene, faces: list[DetectedFace], iou_threshold: float = 0.4
) -> list[tuple[PlantedFace, int]]:
    """(planted face, index of its detection or -1): each detection matched at most once, to
    the planted face it overlaps most if the overlap reaches ``iou_threshold``."""
    used: set[int] = set()
    pairs = []
    for planted in scene.planted:
        box = (planted.x, planted.y, planted.side, planted.side)
        overlaps = [(box_iou(box, (f.x, f.y, f.w, f.h)), i) for i, f in enumerate(faces)]
        best_iou, best = max(overlaps, default=(0.0, -1))
        if best_iou < iou_threshold or best in used:
            pairs.append((planted, -1))
            continue
        used.add(best)
        pairs.append((planted, best))
    return pairs


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
        matches = match_planted(scene, faces, iou_threshold)
        for (planted, best), direct_label in zip(matches, direct, strict=True):
            report.planted += 1
            report.correct_direct_all += int(direct_label == planted.label)
            bucket = next(f"{lo}-{hi - 1}px" for lo, hi in SIZE_BUCKETS if lo <= planted.side < hi)
            report.per_size[bucket][1] += 1
            if best < 0:
                continue
            report.detected += 1
            report.per_size[bucket][0] += 1
            report.correct_detected += int(probs[best].argmax() == planted.label)
            report.correct_direct_same_faces += int(direct_label == planted.label)
        report.false_positives += len(faces) - sum(best >= 0 for _, best in matches)
    return report


def compare_alignment(
    scenes: Iterator[Scene],
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    iou_threshold: float = 0.4,
) -> dict[str, object]:
    """The same detected faces scored from the box crop and from the aligned crop.

    Faces without landmarks count for both as box crops. Paired counts tell whether a
    difference is more than chance: ``only_aligned_right`` vs ``only_box_right``.
    """
    counts = dict.fromkeys(
        ("faces", "box_right", "aligned_right", "only_aligned_right", "only_box_right"), 0
    )
    counts["direct_right"] = 0
    for scene in scenes:
        faces = finder.find(scene.frame)
        direct = classifier.predict_proba(scene.sources).argmax(axis=1)
        matched = [
            (planted, faces[best], direct_label)
            for (planted, best), direct_label in zip(
                match_planted(scene, faces, iou_threshold), direct, strict=True
            )
            if best >= 0
        ]
        if not matched:
            continue
        box_crops = [finder.face_crop(scene.frame, f.box, None).copy() for _, f, _ in matched]
        aligned_crops = [
            finder.face_crop(scene.frame, f.box, f.landmarks, align=True) for _, f, _ in matched
        ]
        box = classifier.predict_proba(box_crops).argmax(axis=1)
        aligned = classifier.predict_proba(aligned_crops).argmax(axis=1)
        for (planted, _, direct_label), b, a in zip(matched, box, aligned, strict=True):
            counts["faces"] += 1
            counts["direct_right"] += int(direct_label == planted.label)
            counts["box_right"] += int(b == planted.label)
            counts["aligned_right"] += int(a == planted.label)
            counts["only_aligned_right"] += int(a == planted.label != b)
            counts["only_box_right"] += int(b == planted.label != a)
    total = max(1, counts["faces"])
    return {
        **counts,
        "box_accuracy": counts["box_right"] / total,
        "aligned_accuracy": counts["aligned_right"] / total,
        "direct_accuracy": counts["direct_right"] / total,
    }
