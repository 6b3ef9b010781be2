"""Head pose (yaw, pitch, roll) from five face landmarks, and whether a face looks our way.

A 3D mean face (eye centres, nose tip, mouth corners; millimetres, adult averages) is fitted
to the detector's five points with OpenCV's SQPnP solver and a pinhole camera whose focal
length is the frame's longer side (about 55 degrees of view, typical of retail cameras and
webcams; the exact value barely moves angles near the centre of the picture). Angles are those
of the head relative to the line from the face to the camera, so a shopper at the edge of a
wide shot who looks straight into the lens has yaw and pitch near 0, not the angle of the
lens axis.

Conventions, in degrees: yaw > 0 when the person turns to their left (the face points to the
right of the picture), pitch > 0 when they look up, roll > 0 when the head tilts clockwise in
the picture. A flat warp of a photo does not turn a head, so the tests project this mean face
at known angles instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Mean face, camera-aligned when frontal: x to the right of the picture, y down, z away from
# the camera (the nose tip is closest). Interpupillary distance 63 mm; the eyes sit 35 mm above
# and 30 mm behind the nose tip, the mouth corners 50 mm apart, 25 mm below and 20 mm behind
# (ratios checked against CenterFace landmarks of the 62 real portraits: eyes-to-nose 0.56 and
# nose-to-mouth 0.40 of the eye distance).
MEAN_FACE_MM = np.array(
    [
        [-31.5, -35.0, 30.0],  # eye on the left of the picture (the person's right eye)
        [31.5, -35.0, 30.0],  # eye on the right of the picture
        [0.0, 0.0, 0.0],  # nose tip
        [-25.0, 25.0, 20.0],  # mouth corner on the left of the picture
        [25.0, 25.0, 20.0],  # mouth corner on the right of the picture
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class HeadPose:
    """Degrees; see the module docstring for signs."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class LookingCone:
    """A face "looks" when yaw and pitch are within these half-angles (degrees) of the
    camera's offsets: cameras mounted beside or above a display see a person who looks at
    the display turned by a fixed angle (say yaw -20 for a camera 20 degrees to their right)."""

    yaw_deg: float = 25.0
    pitch_deg: float = 25.0
    yaw_offset_deg: float = 0.0
    pitch_offset_deg: float = 0.0

    def contains(self, pose: HeadPose) -> bool:
        return (
            abs(pose.yaw - self.yaw_offset_deg) <= self.yaw_deg
            and abs(pose.pitch - self.pitch_offset_deg) <= self.pitch_deg
        )


def camera_matrix(frame_shape: tuple[int, ...]) -> np.ndarray:
    """Pinhole intrinsics for a frame of (H, W, ...): focal = longer side, centre = middle."""
    height, width = frame_shape[:2]
    focal = float(max(height, width))
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)


def estimate_pose(landmarks: np.ndarray, frame_shape: tuple[int, ...]) -> HeadPose | None:
    """Pose from (5, 2) landmarks in frame pixels (picture order: left eye, right eye, nose,
    left mouth corner, right mouth corner); None when no head pose explains them."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 1, 2)
    if not np.all(np.isfinite(points)):
        return None
    ok, rvec, tvec = cv2.solvePnP(
        MEAN_FACE_MM, points, camera_matrix(frame_shape), None, flags=cv2.SOLVEPNP_SQPNP
    )
    if not ok or tvec[2, 0] <= 0:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    return pose_from_rotation(rotation, tvec.reshape(3))


def pose_from_rotation(rotation: np.ndarray, translation: np.ndarray) -> HeadPose:
    """Yaw and pitch of the face's forward direction relative to the direction from the face
    to the camera, and roll of its eye line, for a model-to-camera rotation and translation."""
    forward = rotation @ np.array([0.0, 0.0, -1.0])  # out of the face, towards the camera
    to_camera = -translation / np.linalg.norm(translation)
    yaw = _heading(forward) - _heading(to_camera)
    pitch = _elevation(forward) - _elevation(to_camera)
    across = rotation @ np.array([1.0, 0.0, 0.0])
    roll = math.degrees(math.atan2(across[1], across[0]))
    return HeadPose(yaw=_wrap(yaw), pitch=_wrap(pitch), roll=_wrap(roll))


def rotation_for(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """The model-to-camera rotation of a head at these angles (degrees) on the lens axis; the
    inverse of ``pose_from_rotation`` there. Used to project the mean face in tests."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    # Turning left (yaw > 0) swings the forward vector (0, 0, -1) towards +x: about -y.
    turn = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    # Looking up (pitch > 0) swings it towards -y (up in the picture): about +x.
    nod = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    tilt = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return turn @ nod @ tilt


def project_mean_face(
    yaw: float, pitch: float, roll: float, frame_shape: tuple[int, ...], distance_mm: float
) -> np.ndarray:
    """(5, 2) picture-order landmarks of the mean face at these angles, centred in the frame."""
    rvec, _ = cv2.Rodrigues(rotation_for(yaw, pitch, roll))
    tvec = np.array([0.0, 0.0, distance_mm])
    points, _ = cv2.projectPoints(MEAN_FACE_MM, rvec, tvec, camera_matrix(frame_shape), None)
    return points.reshape(5, 2)


def _heading(v: np.ndarray) -> float:
    return math.degrees(math.atan2(v[0], -v[2]))


def _elevation(v: np.ndarray) -> float:
    return math.degrees(math.atan2(-v[1], math.hypot(v[0], v[2])))


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0
