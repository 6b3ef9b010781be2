"""Faces on sampled frames where the detector is skipped: followed from the nearest detections.

Detection costs far more than scoring, and faces move little in a fifth of a second, so the
detector runs on every k-th sampled frame and the frames between take their boxes (and head
poses) from the detections on either side: linearly interpolated for a face seen at both ends,
carried from the nearer end for a face seen at one end only. The expression is still scored on
each frame's own pixels, inside the followed box. Every row says which it is ("detected",
"interpolated" or "carried"), so a reader can keep only detected rows if they prefer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.tracking import Box, pair_boxes
from pipeline.vision.pose import HeadPose

DETECTED, INTERPOLATED, CARRIED = "detected", "interpolated", "carried"


@dataclass(frozen=True)
class Sighting:
    """Where a face is on one frame, before its pixels are cut out and scored."""

    box: Box
    confidence: float
    eyes_found: int
    pose: HeadPose | None
    source: str
    # (5, 2) picture-order landmarks in frame pixels (DetectedFace.landmarks), or None.
    landmarks: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Detections:
    """The faces found on one detection frame (``offset_s`` seconds into the footage)."""

    offset_s: float
    faces: list[Sighting]


def follow(before: Detections | None, after: Detections | None, offset_s: float) -> list[Sighting]:
    """The faces on a frame at ``offset_s`` between two detection frames (either may be None:
    the start or the end of the footage)."""
    if before is None and after is None:
        return []
    if before is None or after is None:
        known = before or after
        assert known is not None
        return [_as(face, CARRIED) for face in known.faces]
    gap = max(after.offset_s - before.offset_s, 1e-6)
    weight = min(max((offset_s - before.offset_s) / gap, 0.0), 1.0)
    pairs = pair_boxes([f.box for f in before.faces], [f.box for f in after.faces], gap)
    seen_before = {i for i, _ in pairs}
    seen_after = {j for _, j in pairs}
    out = [_blend(before.faces[i], after.faces[j], weight) for i, j in pairs]
    nearer_before = weight <= 0.5
    if nearer_before:
        out += [_as(f, CARRIED) for i, f in enumerate(before.faces) if i not in seen_before]
    else:
        out += [_as(f, CARRIED) for j, f in enumerate(after.faces) if j not in seen_after]
    return out


def _as(face: Sighting, source: str) -> Sighting:
    return Sighting(face.box, face.confidence, face.eyes_found, face.pose, source, face.landmarks)


def _blend(a: Sighting, b: Sighting, w: float) -> Sighting:
    box = tuple(round(p + (q - p) * w) for p, q in zip(a.box, b.box, strict=True))
    pose = None
    if a.pose is not None and b.pose is not None:
        pose = HeadPose(
            yaw=a.pose.yaw + (b.pose.yaw - a.pose.yaw) * w,
            pitch=a.pose.pitch + (b.pose.pitch - a.pose.pitch) * w,
            roll=a.pose.roll + (b.pose.roll - a.pose.roll) * w,
        )
    elif a.pose is not None or b.pose is not None:
        pose = a.pose if w <= 0.5 else b.pose
    # Landmarks move with the face, as the box does.
    landmarks = None
    if a.landmarks is not None and b.landmarks is not None:
        landmarks = a.landmarks + (b.landmarks - a.landmarks) * np.float32(w)
    return Sighting(
        box,  # type: ignore[arg-type]
        min(a.confidence, b.confidence),
        min(a.eyes_found, b.eyes_found),
        pose,
        INTERPOLATED,
        landmarks,
    )
