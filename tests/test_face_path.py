"""DeepFace detection + our model on frames with planted faces of known expression."""

from __future__ import annotations

from pipeline.emotion.classifier import shared_classifier
from pipeline.face_eval import evaluate_face_path, labelled_scenes
from pipeline.faces import FaceFinder


def test_face_path_accuracy_matches_direct_crops(ferplus_valid) -> None:
    scenes = labelled_scenes(ferplus_valid, frames=40, seed=11)
    report = evaluate_face_path(
        scenes, FaceFinder("opencv", min_face_px=48), shared_classifier()
    ).as_dict()
    assert report["planted_faces"] >= 100
    # Haar misses some FER faces (turned, occluded, cropped chins); most must be found.
    assert report["detection_recall"] >= 0.55
    assert report["false_positives_per_frame"] <= 0.5
    # Detector crops differ from dataset crops; augmentation must close that gap.
    gap = report["direct_accuracy_same_faces"] - report["accuracy_on_detected"]
    assert gap <= 0.05, report


def test_frame_without_faces_gives_no_face() -> None:
    import numpy as np

    from pipeline.synthetic import make_background

    frame = make_background(np.random.default_rng(3), 480, 640)
    assert FaceFinder("opencv").find(frame) == []
