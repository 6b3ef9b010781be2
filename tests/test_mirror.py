"""The mirrored pass for unsure faces (pipeline/emotion/mirror.py): the combination is exactly
a logit average, the threshold is the fold's smallest lossless one, and the classifier
applies it to the faces below it only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.holdout import holdout_mask
from pipeline.emotion.manifest import ModelManifest, sha256_of
from pipeline.emotion.mirror import (
    EVERY_FACE,
    choose_threshold,
    combine_views,
    mirror_where_unsure,
    unsure,
)
from pipeline.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "pipeline" / "models" / "emotion.onnx"


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_combining_calibrated_views_is_averaging_their_logits() -> None:
    """softmax(l1 / T + b) and softmax(l2 / T + b) combine into softmax((l1 + l2) / 2T + b),
    also where a probability underflows; an arithmetic mean of probabilities would not."""
    rng = np.random.default_rng(3)
    l1, l2 = rng.normal(0, 6, (2, 200, 8))
    l1[0, 2] = 90.0  # a view so sure that its other probabilities underflow in float32
    temperature, bias = 0.6, rng.normal(0, 0.5, 8)
    p1 = _softmax(l1 / temperature + bias).astype(np.float32)
    p2 = _softmax(l2 / temperature + bias).astype(np.float32)
    expected = _softmax((l1 + l2) / 2 / temperature + bias)
    combined = combine_views(p1, p2)
    assert combined.dtype == np.float32
    assert np.allclose(combined.sum(axis=1), 1.0, atol=1e-5)
    # Rows whose smallest probability is representable match to float32 precision.
    fine = np.minimum(p1, p2).min(axis=1) > 1e-30
    assert fine.sum() > 150
    assert np.abs(combined[fine] - expected[fine]).max() < 1e-5
    assert combined[0].argmax() == expected[0].argmax()
    assert np.abs(0.5 * (p1 + p2) - expected).max() > 0.05


def test_the_threshold_is_the_smallest_that_changes_no_top_expression() -> None:
    """Built faces: one view is sure at 0.9 and the mirror agrees; one is unsure at 0.62 and
    its mirror image turns it. Only a threshold above 0.62 keeps every top expression."""
    sure = np.array([[0.9] + [0.1 / 7] * 7], dtype=np.float32)
    turned = np.array([[0.62, 0.38] + [0.0] * 6], dtype=np.float32) + 1e-6
    mirrored_turned = np.array([[0.05, 0.95] + [0.0] * 6], dtype=np.float32) + 1e-6
    faces = np.concatenate([sure, turned])
    mirrored = np.concatenate([sure, mirrored_turned])
    below, table = choose_threshold(faces, mirrored)
    assert below == 0.65
    by_below = {row["below"]: row for row in table}
    assert by_below[0.6]["changed_faces"] == 1 and by_below[0.6]["mirrored_share"] == 0.0
    assert by_below[0.65]["changed_faces"] == 0 and by_below[0.65]["mirrored_share"] == 0.5
    # A face sure at 0.99 that its mirror image turns: no threshold of the grid is lossless.
    stubborn = np.array([[0.99, 0.01] + [0.0] * 6], dtype=np.float32) + 1e-7
    flipped = np.array([[0.001, 0.999] + [0.0] * 6], dtype=np.float32) + 1e-7
    assert choose_threshold(stubborn, flipped)[0] == EVERY_FACE


def _tiny_model(tmp_path: Path, flip: bool) -> Path:
    """A small random network exported as a float graph, with or without the mirrored pass
    inside, and the manifest the classifier needs (one view: its threshold mirrors every
    face; both views: it says so, as older manifests do, and nothing more is mirrored)."""
    from pipeline.emotion.export import _write_float_onnx
    from pipeline.emotion.network import ExportWrapper, ExpressionNet

    torch.manual_seed(5)
    net = ExpressionNet((8, 16, 16, 16), 1).eval()
    with torch.no_grad():  # an untrained head scores every face about the same: spread it
        net.head.weight.mul_(40.0)
    bias = torch.tensor([0.0, 0.8, 0.3, 0, 0, 0, 0, 0])
    path = tmp_path / ("flip" if flip else "plain") / "emotion.onnx"
    path.parent.mkdir()
    _write_float_onnx(ExportWrapper(net, 0.4, flip=flip, bias=bias), path)
    manifest = json.loads(MODEL.with_suffix(".json").read_text())
    manifest.update({"sha256": sha256_of(path), "version": "test"})
    manifest.pop("mirror", None)
    if flip:  # as the manifests of models that averaged both views inside the graph
        manifest["flip_averaged"] = True
    else:
        manifest["mirror"] = {"below": None, "rule": "every face"}
    path.with_suffix(".json").write_text(json.dumps(manifest))
    return path


def test_mirroring_every_face_gives_what_a_graph_averaging_both_views_gives(
    ferplus_valid, tmp_path: Path
) -> None:
    faces = ferplus_valid.images[:150]
    inside = ExpressionClassifier(_tiny_model(tmp_path, flip=True)).predict_proba(faces)
    plain = _tiny_model(tmp_path, flip=False)
    outside = ExpressionClassifier(plain).predict_proba(faces)
    assert np.abs(outside - inside).max() < 1e-4
    # Without the mirrored pass the same file gives other probabilities.
    alone = ExpressionClassifier(plain, mirror_below=0.0).predict_proba(faces)
    assert np.abs(alone - inside).max() > 0.05


def test_the_shipped_model_mirrors_the_faces_below_its_fold_threshold(ferplus_valid) -> None:
    """The manifest's threshold is what the rule chooses from the shipped file's fold scores,
    and the classifier mirrors exactly the faces below it (the others keep their one view)."""
    manifest = ModelManifest.load(MODEL)
    below = manifest.mirror_below
    assert 0.0 < below < 1.0
    one_view = ExpressionClassifier(MODEL, mirror_below=0.0)
    train = load_split("train", default_dataset_dir())
    fold_faces = np.asarray(train.images[holdout_mask(train)])
    chosen, table = choose_threshold(
        one_view.predict_proba(fold_faces),
        one_view.predict_proba(np.ascontiguousarray(fold_faces[:, :, ::-1])),
    )
    # On the CPU that exported it these are equal; int8 kernels of another CPU may round a
    # face at a threshold's edge the other way (22 fold faces lie within 0.001 of one).
    assert abs(chosen - below) <= 0.05 + 1e-9
    recorded = manifest.raw["mirror"]["fold_by_threshold"]
    assert [row["below"] for row in table] == [row["below"] for row in recorded]
    for row, saved in zip(table, recorded, strict=True):
        assert abs(row["mirrored_share"] - saved["mirrored_share"]) <= 0.005
        assert abs(row["changed_faces"] - saved["changed_faces"]) <= 2

    faces = ferplus_valid.images[:512]
    single = one_view.predict_proba(faces)
    every = ExpressionClassifier(MODEL, mirror_below=EVERY_FACE).predict_proba(faces)
    shipped = ExpressionClassifier(MODEL).predict_proba(faces)
    mirrored = unsure(single, below)
    assert 0.05 < mirrored.mean() < 0.6
    assert np.array_equal(shipped[~mirrored], single[~mirrored])
    assert np.allclose(shipped[mirrored], every[mirrored], atol=1e-6)
    assert np.allclose(
        shipped,
        mirror_where_unsure(single, one_view.predict_proba(faces[:, :, ::-1]), below),
        atol=1e-6,
    )


@pytest.mark.parametrize("below", [0.0, EVERY_FACE])
def test_an_older_manifest_or_an_override_sets_the_mirrored_faces(
    tmp_path: Path, below: float
) -> None:
    """A manifest from before the mirrored pass left the graph (``flip_averaged``: the graph
    averages both views itself) mirrors nothing more; a one-view manifest without its rule
    (an export cut short) mirrors every face; a caller's threshold wins over the manifest's."""
    plain = _tiny_model(tmp_path, flip=False)
    assert ExpressionClassifier(plain).mirror_below == EVERY_FACE
    assert ExpressionClassifier(plain, mirror_below=below).mirror_below == below
    raw = json.loads(plain.with_suffix(".json").read_text())
    del raw["mirror"]
    plain.with_suffix(".json").write_text(json.dumps(raw))
    assert ExpressionClassifier(plain).mirror_below == EVERY_FACE
    plain.with_suffix(".json").write_text(json.dumps({**raw, "flip_averaged": True}))
    assert ExpressionClassifier(plain).mirror_below == 0.0
    assert ExpressionClassifier(plain, mirror_below=below).mirror_below == below
