"""Crop a face the way FER+ crops are framed, from the detector's five landmarks.

The model learnt from FER+ crops (pipeline/emotion/framing.py measured them with CenterFace:
eye centre at 0.50 / 0.40 of the side, eyes-to-mouth 0.37 of the side). A detector's box is
framed its own way and follows the head's tilt; here the face is rotated so its eyes are level
and cut out with FER+'s framing, in one ``cv2.warpAffine`` at the face's own resolution (the
model's preprocessing then shrinks it with INTER_AREA, as for any crop). Faces without
landmarks (Haar boxes, rectangles a caller gives) keep the unaligned box crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from pipeline.emotion.framing import load_framing

# Landmarks closer than this (px) carry no usable direction or size.
_MIN_LENGTH_PX = 2.0


@dataclass(frozen=True)
class Framing:
    """Where FER+ puts a face: eye centre (fractions of the side) and the face length whose
    share of the side is the steadiest (``scale_from``: eye_mouth, inter_ocular, eye_scale)."""

    eye_x: float
    eye_y: float
    scale_from: str
    scale_share: float


@lru_cache(maxsize=1)
def fer_framing() -> Framing:
    """The committed measurement (pipeline/emotion/fer_framing.json), read once."""
    raw = load_framing()
    measures = raw["measures"]
    scale_from = raw["scale_from"]
    return Framing(
        eye_x=measures["eye_centre_x"]["median"],
        eye_y=measures["eye_centre_y"]["median"],
        scale_from=scale_from,
        scale_share=measures[scale_from]["median"],
    )


def alignment_matrix(
    landmarks: np.ndarray, margin: float = 0.0, framing: Framing | None = None
) -> tuple[np.ndarray, int] | None:
    """(2x3 affine frame -> crop, crop side px) for (5, 2) picture-order landmarks.

    None when the landmarks are degenerate (eyes or eyes-to-mouth under 2 px).
    """
    framing = framing or fer_framing()
    points = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye = points[0], points[1]
    eyes = (left_eye + right_eye) / 2
    mouth = (points[3] + points[4]) / 2
    inter_ocular = float(np.linalg.norm(right_eye - left_eye))
    eye_mouth = float(np.linalg.norm(mouth - eyes))
    if min(inter_ocular, eye_mouth) < _MIN_LENGTH_PX:
        return None
    length = {
        "inter_ocular": inter_ocular,
        "eye_mouth": eye_mouth,
        "eye_scale": math.sqrt(inter_ocular * eye_mouth),
    }[framing.scale_from]
    side = length / framing.scale_share
    out = max(1, round(side * (1 + 2 * margin)))
    angle = math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    cos, sin = math.cos(angle), math.sin(angle)
    # Rotate by -angle about the eye centre, then put the eye centre where FER+ has it.
    target_x = (margin + framing.eye_x) * side
    target_y = (margin + framing.eye_y) * side
    matrix = np.array(
        [
            [cos, sin, target_x - (cos * eyes[0] + sin * eyes[1])],
            [-sin, cos, target_y - (-sin * eyes[0] + cos * eyes[1])],
        ]
    )
    return matrix, out


def aligned_crop(
    frame: np.ndarray, landmarks: np.ndarray, margin: float = 0.0
) -> np.ndarray | None:
    """The face of ``frame`` with level eyes in FER+ framing, uint8 (side, side[, C]).

    Pixels beyond the frame repeat its edge (as the box crop's clipping would keep real
    pixels, not a black band the model never saw). None for degenerate landmarks.
    """
    found = alignment_matrix(landmarks, margin)
    if found is None:
        return None
    matrix, side = found
    return cv2.warpAffine(
        frame, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
