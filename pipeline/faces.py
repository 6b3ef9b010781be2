"""Face finding through DeepFace: the one module that imports deepface.

DeepFace's result dicts are turned into ``DetectedFace`` records here, so the rest of the
pipeline never depends on the shape of those dicts (which has drifted between releases).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.errors import InputError

# DeepFace picks its PyTorch backend when torch is importable (training machines); our
# detectors need neither, so pin the light engine before deepface is first imported.
os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")

# Detectors whose weights ship inside installed wheels (no download at run time).
OFFLINE_DETECTORS = ("opencv", "mediapipe")
# Two detections overlapping more than this are one face (Haar sometimes fires twice on a face
# and a shifted copy of it); the more confident box is kept.
_NMS_IOU = 0.3
# The frame shrinks until the smallest wanted face is this many pixels. Measured on 40 frames
# of 48-300 px faces (benchmarks/detectors.py, benchmarks/face_path.py): 30 px lost half of the
# 48-99 px faces (recall 66.7 %, 161 ms/frame); 40 px kept them (73.0 %, 194 ms/frame), even
# above the full frame (71.2 %, 230 ms/frame).
_SMALLEST_RELIABLE_PX = 40


@dataclass(frozen=True)
class DetectedFace:
    """One face in one frame. Box in pixels of the frame given; crop uint8 BGR (h, w, 3)."""

    x: int
    y: int
    w: int
    h: int
    confidence: float
    crop: np.ndarray
    eyes_found: int = 0

    @property
    def size(self) -> int:
        """Shorter side of the box in pixels (the minimum-face-size gate uses it)."""
        return min(self.w, self.h)


def detection_scale(frame_shape: tuple[int, ...], min_face_px: int) -> float:
    """Factor (<= 1) to shrink a frame by before detection without losing faces >= min_face_px.

    Detection dominates the cost of the naive loop (90-95 %) and Haar's cost grows with pixels,
    so shrinking a 720p frame for 48 px faces cuts it by more than half.
    """
    if min_face_px <= 0:
        return 1.0
    return min(1.0, _SMALLEST_RELIABLE_PX / float(min_face_px))


class FaceFinder:
    """DeepFace detection for BGR uint8 frames of any size; crops come from the full frame.

    align=False on purpose: DeepFace's alignment pads the frame by half its size on every side
    before detection (4x the pixels for Haar), and the expression model is trained with
    +-15 degree tilt, so alignment buys little accuracy for most of the time spent.
    """

    def __init__(
        self,
        detector: str = "opencv",
        margin: float = 0.0,
        align: bool = False,
        min_face_px: int = 0,
    ) -> None:
        if detector not in OFFLINE_DETECTORS:
            raise InputError(
                "Detector not available offline",
                f"{detector!r} needs weights downloaded at run time; use one of "
                f"{', '.join(OFFLINE_DETECTORS)}.",
            )
        from deepface import DeepFace

        self._extract = DeepFace.extract_faces
        self.detector = detector
        self.margin = margin
        self.align = align
        self.min_face_px = min_face_px

    def find(self, frame: np.ndarray) -> list[DetectedFace]:
        """All faces in one BGR uint8 (H, W, 3) frame; an empty list when there are none."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(
                "Unsupported frame", f"expected BGR uint8 (H, W, 3), got {frame.shape}"
            )
        height, width = frame.shape[:2]
        scale = detection_scale(frame.shape, self.min_face_px)
        small = frame
        if scale < 1.0:
            small = cv2.resize(
                frame,
                (max(1, round(width * scale)), max(1, round(height * scale))),
                interpolation=cv2.INTER_AREA,
            )
        try:
            results: list[dict[str, Any]] = self._extract(  # type: ignore[assignment]
                img_path=small,
                detector_backend=self.detector,
                enforce_detection=False,
                align=self.align,
                color_face="bgr",
                normalize_face=False,
            )
        except (ValueError, OSError) as error:
            raise InputError("Face detection failed", str(error)) from error
        small_h, small_w = small.shape[:2]
        faces = []
        for result in results:
            area = result["facial_area"]
            x, y, w, h = int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])
            confidence = float(result.get("confidence") or 0.0)
            # With enforce_detection=False DeepFace returns the whole frame at confidence 0
            # when it found nothing: that is "no face", not a face.
            if confidence <= 0.0 and w >= small_w - 1 and h >= small_h - 1:
                continue
            box = _scale_box((x, y, w, h), 1.0 / scale, width, height)
            if box[2] < self.min_face_px or box[3] < self.min_face_px:
                continue
            # A copy, not a view: a view would keep the whole frame alive while the crop waits
            # for its batch (64 crops could pin ~30 full 720p frames).
            crop = crop_with_margin(frame, box, self.margin).copy()
            if crop.size == 0:
                continue
            eyes = sum(area.get(k) is not None for k in ("left_eye", "right_eye"))
            faces.append(DetectedFace(*box, confidence, crop, eyes))
        return suppress_overlaps(faces)


def suppress_overlaps(faces: list[DetectedFace], max_iou: float = _NMS_IOU) -> list[DetectedFace]:
    """Non-maximum suppression: of faces overlapping by more than ``max_iou``, keep the most
    confident (then the largest). Order of the survivors follows the input."""
    from pipeline.tracking import box_iou

    ranked = sorted(range(len(faces)), key=lambda i: (-faces[i].confidence, -faces[i].w))
    kept: list[int] = []
    for i in ranked:
        box = (faces[i].x, faces[i].y, faces[i].w, faces[i].h)
        if all(
            box_iou(box, (faces[k].x, faces[k].y, faces[k].w, faces[k].h)) <= max_iou for k in kept
        ):
            kept.append(i)
    return [faces[i] for i in sorted(kept)]


def _scale_box(
    box: tuple[int, int, int, int], factor: float, width: int, height: int
) -> tuple[int, int, int, int]:
    x, y, w, h = (round(v * factor) for v in box)
    x, y = max(0, x), max(0, y)
    return x, y, max(0, min(w, width - x)), max(0, min(h, height - y))


def crop_with_margin(
    frame: np.ndarray, box: tuple[int, int, int, int], margin: float
) -> np.ndarray:
    """The box grown by ``margin`` x its side on each edge, clipped to the frame (a view)."""
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(frame.shape[1], x + w + dx), min(frame.shape[0], y + h + dy)
    return frame[y0:y1, x0:x1]
