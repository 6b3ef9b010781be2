"""The training entry point: seeded, checkpoints, resumes, exports a loadable ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs requirements-train.txt")

pytestmark = pytest.mark.training


def test_train_resume_and_export(ferplus_valid, tmp_path: Path) -> None:
    from pipeline.emotion.classifier import ExpressionClassifier
    from pipeline.emotion.export import export_checkpoint
    from pipeline.emotion.train import main

    out = tmp_path / "run"
    common = [
        "--out",
        str(out),
        "--limit",
        "256",
        "--batch-size",
        "64",
        "--widths",
        "8,16,16,16",
        "--blocks",
        "1",
    ]
    main([*common, "--epochs", "1"])
    first = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in first] == [1]
    assert 0.0 < first[0]["valid_majority_acc"] < 1.0
    main([*common, "--epochs", "2"])  # resumes at epoch 1, runs only epoch 2
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    model = export_checkpoint(out / "best.pt", tmp_path / "model")
    classifier = ExpressionClassifier(model)
    probs = classifier.predict_proba(list(ferplus_valid.images[:5]))
    assert probs.shape == (5, 8)
    manifest = json.loads((tmp_path / "model" / "emotion.json").read_text())
    assert manifest["validation"]["faces"] == 3191
    # Trained without the held-out fold (the default), so the rare-class adjustment is chosen
    # on it and baked into the graph: the same as adding the bias to the plain model's logits.
    import numpy as np

    from pipeline.emotion.adjust import TAU_GRID, adjust_probabilities

    assert manifest["training"]["holdout_in_training"] is False
    adjustment = manifest["logit_adjustment"]
    assert adjustment["tau"] in TAU_GRID.tolist()
    plain = export_checkpoint(out / "best.pt", tmp_path / "plain", adjust_rare=False)
    faces = list(ferplus_valid.images[:32])
    bias = np.array([adjustment["bias"][name] for name in manifest["labels"]])
    expected = adjust_probabilities(ExpressionClassifier(plain).predict_proba(faces), bias)
    assert np.allclose(classifier.predict_proba(faces), expected, atol=1e-4)
    assert json.loads((tmp_path / "plain" / "emotion.json").read_text())["logit_adjustment"] is None
