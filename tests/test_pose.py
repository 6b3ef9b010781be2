"""Head pose from five landmarks: the angle maths on a projected 3D mean face (a flat warp of a
photo does not turn a head), the looking cone, and a sanity check on real portraits."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.faces import FaceFinder
from pipeline.vision.pose import HeadPose, LookingCone, estimate_pose, project_mean_face
from tests.real_photos import SELFIE, photo, portraits

FRAME = (1080, 1920, 3)


@pytest.mark.parametrize("yaw", [-60, -35, -10, 0, 20, 45])
@pytest.mark.parametrize("pitch", [-30, 0, 15])
def test_known_angles_are_recovered(yaw: float, pitch: float) -> None:
    landmarks = project_mean_face(yaw, pitch, 0.0, FRAME, distance_mm=1500)
    pose = estimate_pose(landmarks, FRAME)
    assert pose is not None
    assert pose.yaw == pytest.approx(yaw, abs=0.5)
    assert pose.pitch == pytest.approx(pitch, abs=0.5)


@pytest.mark.parametrize("roll", [-20, 0, 12])
def test_roll_is_recovered(roll: float) -> None:
    pose = estimate_pose(project_mean_face(0, 0, roll, FRAME, 1500), FRAME)
    assert pose is not None and pose.roll == pytest.approx(roll, abs=0.5)


def test_landmark_noise_of_a_pixel_moves_angles_a_few_degrees() -> None:
    rng = np.random.default_rng(3)
    errors = []
    for yaw, pitch in [(0, 0), (20, -10), (-30, 10)]:
        clean = project_mean_face(yaw, pitch, 0, FRAME, distance_mm=1500)  # ~40 px eye distance
        for _ in range(20):
            pose = estimate_pose(clean + rng.normal(0, 1.0, clean.shape), FRAME)
            assert pose is not None
            errors.append(max(abs(pose.yaw - yaw), abs(pose.pitch - pitch)))
    assert float(np.median(errors)) < 6.0


def test_a_turned_head_at_the_edge_of_the_picture_is_judged_against_its_line_of_sight() -> None:
    # Face 600 mm to the right of the lens axis at 1500 mm, turned to look straight at the lens.
    import cv2

    from pipeline.vision.pose import MEAN_FACE_MM, camera_matrix, rotation_for

    angle = np.degrees(np.arctan2(600, 1500))
    rvec, _ = cv2.Rodrigues(rotation_for(-angle, 0, 0))
    points, _ = cv2.projectPoints(
        MEAN_FACE_MM, rvec, np.array([600.0, 0, 1500]), camera_matrix(FRAME), None
    )
    pose = estimate_pose(points.reshape(5, 2), FRAME)
    assert pose is not None and abs(pose.yaw) < 1.0 and LookingCone().contains(pose)


def test_the_cone_follows_the_camera_offsets() -> None:
    straight = HeadPose(yaw=0, pitch=0, roll=0)
    at_display = HeadPose(yaw=-30, pitch=-12, roll=0)
    beside = LookingCone(yaw_offset_deg=-30, pitch_offset_deg=-12)
    assert LookingCone().contains(straight) and not LookingCone().contains(at_display)
    assert beside.contains(at_display) and not beside.contains(straight)
    assert not LookingCone(yaw_deg=10).contains(HeadPose(yaw=15, pitch=0, roll=0))


@pytest.mark.slow
def test_frontal_portraits_are_looking_and_a_turned_selfie_face_is_not() -> None:
    finder = FaceFinder("centerface", min_face_px=48)
    cone = LookingCone()
    looking = 0
    names = portraits()
    for name in names:
        image = photo(name)
        main = max(finder.find(image), key=lambda f: f.w * f.h)
        pose = estimate_pose(main.landmarks, image.shape)
        looking += pose is not None and cone.contains(pose)
    assert looking >= 0.9 * len(names)
    selfie = photo(SELFIE)
    poses = [estimate_pose(f.landmarks, selfie.shape) for f in finder.find(selfie)]
    assert any(p is not None and abs(p.yaw) > 35 for p in poses)  # the man turned to his left
