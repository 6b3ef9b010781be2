"""Faces and expression scores of one image, in the Emotion API and Face API shapes.

The same detector (``FaceFinder``, EMOTION_DETECTOR) and model (``shared_classifier``) as the
CLI, with the original service's smallest face (EMOTION_API_MIN_FACE_PX, 36 px). Results are
ordered largest face first, as the original documented.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier, shared_classifier
from pipeline.emotion.labels import LABELS
from pipeline.faces import FaceFinder, crop_with_margin
from pipeline.service.errors import ApiError
from pipeline.settings import get_float, get_int, get_setting
from pipeline.vision.pose import estimate_pose

FACE_ATTRIBUTES = ("emotion", "headPose")


@dataclass(frozen=True)
class ScoredFace:
    box: tuple[int, int, int, int]  # left, top, width, height in image pixels
    scores: np.ndarray  # (8,) in LABELS order
    head_pose: tuple[float, float, float] | None  # pitch, roll, yaw in degrees
    landmarks: np.ndarray | None = None  # (5, 2) picture order, see DetectedFace


class Recognizer:
    """One detector and one model for the whole server (both are costly to build)."""

    def __init__(self, classifier: ExpressionClassifier | None = None) -> None:
        self.finder = FaceFinder(
            get_setting("EMOTION_DETECTOR"),
            margin=get_float("EMOTION_FACE_MARGIN"),
            min_face_px=get_int("EMOTION_API_MIN_FACE_PX"),
            threads=get_int("EMOTION_THREADS"),
            align_faces=bool(get_int("EMOTION_ALIGN_FACES")),
        )
        self.classifier = classifier or shared_classifier()
        # DeepFace builds its detector lazily in a module-level cache; the first call is made
        # here, under a lock, so concurrent first requests never build it twice.
        self._warm = threading.Lock()
        with self._warm:
            self.finder.find(np.full((64, 64, 3), 127, np.uint8))

    def faces(
        self, image: np.ndarray, rectangles: list[tuple[int, int, int, int]] | None = None
    ) -> list[ScoredFace]:
        """Scored faces, largest first: detected ones, or exactly ``rectangles`` when given
        (scored as the model sees a detected face of that box, without head pose)."""
        if rectangles is not None:
            boxes = list(rectangles)
            crops = [
                crop_with_margin(image, self.finder.crop_box(b), self.finder.margin).copy()
                for b in boxes
            ]
            poses: list[tuple[float, float, float] | None] = [None] * len(boxes)
            points: list[np.ndarray | None] = [None] * len(boxes)
        else:
            found = self.finder.find(image)
            boxes = [f.box for f in found]
            crops = [f.crop for f in found]
            poses = [_pose(f.landmarks, image.shape) for f in found]
            points = [f.landmarks for f in found]
        if not boxes:
            return []
        scores = self.classifier.predict_proba(crops)
        faces = [ScoredFace(*parts) for parts in zip(boxes, scores, poses, points, strict=True)]
        return sorted(faces, key=lambda f: -(f.box[2] * f.box[3]))


def _pose(
    landmarks: np.ndarray | None, shape: tuple[int, ...]
) -> tuple[float, float, float] | None:
    if landmarks is None:
        return None
    pose = estimate_pose(landmarks, shape)
    return None if pose is None else (pose.pitch, pose.roll, pose.yaw)


def parse_rectangles(text: str, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """``faceRectangles=left,top,width,height;...`` (the original's syntax), inside the image."""
    height, width = shape[:2]
    boxes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            left, top, w, h = (int(v) for v in part.split(","))
        except ValueError:
            raise _bad_rectangles(f"{part!r} is not left,top,width,height") from None
        if left < 0 or top < 0 or w < 1 or h < 1 or left + w > width or top + h > height:
            raise _bad_rectangles(f"{part!r} is not inside the {width}x{height} image")
        boxes.append((left, top, w, h))
    if not boxes:
        raise _bad_rectangles("no rectangle given")
    if len(boxes) > 64:
        raise _bad_rectangles("at most 64 rectangles")
    return boxes


def _bad_rectangles(why: str) -> ApiError:
    return ApiError(400, "BadArgument", f"Invalid faceRectangles: {why}.")


def parse_attributes(text: str | None) -> tuple[str, ...]:
    """``returnFaceAttributes`` of the Face API; only emotion and headPose exist here."""
    if not text:
        return ()
    asked = tuple(filter(None, (a.strip() for a in text.split(","))))
    unknown = [a for a in asked if a not in FACE_ATTRIBUTES]
    if unknown:
        raise ApiError(
            400,
            "BadArgument",
            f"Invalid argument returnFaceAttributes: {', '.join(map(repr, unknown))}. Supported "
            f"values are: {', '.join(FACE_ATTRIBUTES)} (this service estimates no identity, age or "
            "gender).",
        )
    return asked


def rectangle(box: tuple[int, int, int, int]) -> dict[str, int]:
    left, top, width, height = box
    return {"left": int(left), "top": int(top), "width": int(width), "height": int(height)}


def scores(values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(LABELS, values, strict=True)}


def emotion_api_faces(faces: list[ScoredFace]) -> list[dict[str, Any]]:
    """``[{"faceRectangle": {...}, "scores": {...}}]``: the Emotion API recognize answer."""
    return [{"faceRectangle": rectangle(f.box), "scores": scores(f.scores)} for f in faces]


# The Face API's names of the five points CenterFace gives, in our picture order.
LANDMARK_NAMES = ("pupilLeft", "pupilRight", "noseTip", "mouthLeft", "mouthRight")


def face_api_faces(
    faces: list[ScoredFace], attributes: tuple[str, ...], landmarks: bool = False
) -> list[dict[str, Any]]:
    """The Face API detect answer: ``faceRectangle``, the asked ``faceAttributes`` and, when
    asked, ``faceLandmarks`` (the five of the Face API's 27 points the detector gives).

    headPose is ``{"pitch", "roll", "yaw"}`` in degrees when the detector gives landmarks
    (CenterFace), else null. No faceId: nothing about a face is kept to refer to later.
    """
    out = []
    for face in faces:
        item: dict[str, Any] = {"faceRectangle": rectangle(face.box)}
        if landmarks:
            item["faceLandmarks"] = (
                None
                if face.landmarks is None
                else {
                    name: {"x": round(float(x), 1), "y": round(float(y), 1)}
                    for name, (x, y) in zip(LANDMARK_NAMES, face.landmarks, strict=True)
                }
            )
        attrs: dict[str, Any] = {}
        if "emotion" in attributes:
            attrs["emotion"] = scores(face.scores)
        if "headPose" in attributes:
            attrs["headPose"] = (
                None
                if face.head_pose is None
                else dict(
                    zip(
                        ("pitch", "roll", "yaw"), (round(v, 1) for v in face.head_pose), strict=True
                    )
                )
            )
        if attributes:
            item["faceAttributes"] = attrs
        out.append(item)
    return out
