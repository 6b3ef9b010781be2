"""Face alignment: eyes levelled and FER+ framing from five landmarks, on real photos too."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.emotion.align import aligned_crop, alignment_matrix, fer_framing
from pipeline.emotion.labels import LABELS
from pipeline.emotion.preprocess import to_gray_square
from pipeline.faces import FaceFinder, crop_with_margin
from pipeline.vision.follow import DETECTED, Detections, Sighting, follow
from tests.real_photos import photo, portraits


def _face_points(roll_deg: float, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """Picture-order landmarks of an upright face (eyes 60 px apart), turned by roll_deg."""
    upright = np.array([[-30, 0], [30, 0], [0, 35], [-22, 62], [22, 62]], np.float64) * scale
    a = math.radians(roll_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return upright @ rotation.T + centre


@pytest.mark.parametrize("roll", [-35.0, -10.0, 0.0, 20.0])
def test_alignment_levels_the_eyes_and_uses_the_measured_framing(roll: float) -> None:
    framing = fer_framing()
    points = _face_points(roll, 1.7, (400.0, 300.0))
    found = alignment_matrix(points)
    assert found is not None
    matrix, side = found
    mapped = np.c_[points, np.ones(5)] @ matrix.T
    left, right = mapped[0], mapped[1]
    assert right[1] == pytest.approx(left[1], abs=1e-6)  # level
    assert right[0] > left[0]  # not mirrored
    eyes = (left + right) / 2
    assert eyes / side == pytest.approx((framing.eye_x, framing.eye_y), abs=0.01)
    mouth = (mapped[3] + mapped[4]) / 2
    if framing.scale_from == "eye_mouth":
        assert np.linalg.norm(mouth - eyes) / side == pytest.approx(framing.scale_share, abs=0.01)
    # The face keeps its own resolution (no scaling), whatever its tilt.
    assert np.linalg.norm(right - left) == pytest.approx(60 * 1.7)


def test_degenerate_landmarks_fall_back() -> None:
    assert alignment_matrix(np.zeros((5, 2))) is None
    assert aligned_crop(np.zeros((50, 50, 3), np.uint8), np.zeros((5, 2))) is None


def _turned_crops(finder: FaceFinder, image: np.ndarray, degrees: float) -> tuple:
    """(box crop, aligned crop) of the main face of ``image`` turned by ``degrees``, as the
    model's 48x48 grey input."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    turned = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    main = max(finder.find(turned), key=lambda f: f.w * f.h)
    assert main.landmarks is not None
    box = to_gray_square(finder.face_crop(turned, main.box, None))
    return box.astype(np.float64), to_gray_square(main.crop).astype(np.float64)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_aligned_crops_of_real_portraits_do_not_turn_with_the_head() -> None:
    """A portrait turned by +20 and by -20 degrees: the two aligned crops show the face the
    same way up (they correlate), the two box crops do not."""
    finder = FaceFinder("centerface", align_faces=True)
    box, aligned = [], []
    for name in portraits()[:8]:
        image = photo(name)
        box_a, aligned_a = _turned_crops(finder, image, 20)
        box_b, aligned_b = _turned_crops(finder, image, -20)
        assert aligned_a.shape == (48, 48)
        box.append(_correlation(box_a, box_b))
        aligned.append(_correlation(aligned_a, aligned_b))
    assert np.median(aligned) > 0.6, aligned
    assert np.median(aligned) > np.median(box) + 0.3, (box, aligned)


def test_faces_without_landmarks_keep_the_box_crop() -> None:
    image = photo("img1.jpg")
    haar = FaceFinder("opencv", align_faces=True)
    faces = haar.find(image)
    assert faces and all(f.landmarks is None for f in faces)
    for face in faces:
        assert np.array_equal(face.crop, crop_with_margin(image, haar.crop_box(face.box), 0.0))


def test_followed_faces_carry_interpolated_landmarks() -> None:
    a = np.zeros((5, 2), np.float32)
    b = np.full((5, 2), 10.0, np.float32)
    before = Detections(0.0, [Sighting((0, 0, 50, 50), 0.9, 2, None, DETECTED, a)])
    after = Detections(1.0, [Sighting((4, 0, 50, 50), 0.9, 2, None, DETECTED, b)])
    (middle,) = follow(before, after, 0.5)
    assert middle.landmarks is not None
    assert np.allclose(middle.landmarks, 5.0)
    (carried,) = follow(before, None, 0.5)
    assert carried.landmarks is a


def test_job_key_changes_only_when_alignment_is_on() -> None:
    import dataclasses
    import hashlib
    import json

    off = dataclasses.replace(AnalysisParams(), align_faces=False)
    on = dataclasses.replace(AnalysisParams(), align_faces=True)
    assert off.digest("v1") != on.digest("v1")
    # With alignment off, the key is the one jobs had before the setting existed.
    fields = dataclasses.asdict(off)
    del fields["align_faces"]
    before = json.dumps({**fields, "model": "v1"}, sort_keys=True)
    assert off.digest("v1") == hashlib.sha256(before.encode()).hexdigest()[:16]


def test_setting_default_matches_the_analysis_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.analysis import ALIGN_FACES_DEFAULT, params_from_settings
    from pipeline.settings import get_int

    monkeypatch.delenv("EMOTION_ALIGN_FACES", raising=False)
    assert bool(get_int("EMOTION_ALIGN_FACES")) is ALIGN_FACES_DEFAULT
    assert params_from_settings().align_faces is ALIGN_FACES_DEFAULT
    monkeypatch.setenv("EMOTION_ALIGN_FACES", "1")
    assert params_from_settings().align_faces is True


def test_frame_pass_scores_aligned_crops_when_asked() -> None:
    """Ingest's frame pass on a turned real portrait: with alignment the face row is scored
    from the aligned crop (the same scores FaceFinder(align_faces=True) gives), else the box."""
    import dataclasses

    from pipeline.analysis import FramePass
    from pipeline.emotion.classifier import shared_classifier
    from pipeline.sources.frames import SampledFrame

    image = photo("img2.jpg")
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    turned = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    classifier = shared_classifier()
    scores = {}
    for align in (False, True):
        params = dataclasses.replace(AnalysisParams(), align_faces=align, min_face_px=36)
        finder = FaceFinder("centerface", min_face_px=36)
        frame_pass = FramePass(finder, classifier, params)
        frame_pass.add(SampledFrame(0, 0.0, None, turned))
        rows = frame_pass.close().faces
        main = max(rows, key=lambda r: r["w"] * r["h"])
        scores[align] = np.array([main[name] for name in LABELS])
    aligned_finder = FaceFinder("centerface", min_face_px=36, align_faces=True)
    reference = max(aligned_finder.find(turned), key=lambda f: f.w * f.h)
    expected = classifier.predict_proba([reference.crop])[0]
    assert np.allclose(scores[True], expected, atol=1e-5)
    assert not np.allclose(scores[False], expected, atol=1e-3)
