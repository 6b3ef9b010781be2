"""The model's reported numbers: Wilson intervals, precision, the fixed held-out fold, the card."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.emotion.ferplus import FerplusSplit, dataset_available, load_split
from pipeline.emotion.holdout import holdout_mask, training_rows
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import classification_report, wilson_interval
from pipeline.settings import PROJECT_ROOT


def test_wilson_interval_known_values() -> None:
    # Published values (e.g. Newcombe 1998, Table I; Brown, Cai & DasGupta 2001).
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert math.isnan(wilson_interval(0, 0)[0])
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(("k", "n"), [(6, 16), (9, 25), (1, 3), (29, 30), (500, 1000)])
def test_wilson_bounds_are_where_the_score_test_is_at_its_limit(k: int, n: int) -> None:
    """Wilson's interval is every q with |p - q| <= z sqrt(q(1-q)/n): equality at the ends."""
    p, z = k / n, 1.96
    low, high = wilson_interval(k, n)
    for q in (low, high):
        assert abs(p - q) == pytest.approx(z * math.sqrt(q * (1 - q) / n), abs=1e-9)
    assert 0.0 <= low < p < high <= 1.0


def test_precision_and_recall_come_from_the_confusion_matrix() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 2])
    probs = np.full((6, 8), 0.01, np.float32)
    probs[np.arange(6), predicted] = 0.93
    report = classification_report(probs, labels)
    assert report.per_class_recall["anger"] == pytest.approx(2 / 3)
    assert report.per_class_precision["anger"] == pytest.approx(2 / 3)
    assert report.per_class_recall["contempt"] == pytest.approx(1 / 2)
    assert report.per_class_precision["contempt"] == pytest.approx(1 / 2)
    assert report.per_class_precision["disgust"] == 1.0
    assert math.isnan(report.per_class_precision["fear"])  # never predicted
    assert report.per_class_recall_ci95["anger"] == pytest.approx(list(wilson_interval(2, 3)))


@pytest.fixture(scope="module")
def ferplus_train() -> FerplusSplit:
    if not dataset_available():
        pytest.skip("FER+ data not found: set EMOTION_FERPLUS_DIR to ../shared/datasets/ferplus")
    return load_split("train")


def test_holdout_fold_is_fixed(ferplus_train: FerplusSplit) -> None:
    fold = holdout_mask(ferplus_train)
    labels = ferplus_train.majority_labels()
    counts = {name: int((fold & (labels == i)).sum()) for i, name in enumerate(LABELS)}
    # Pinned: a change here means the fold moved and old fold numbers no longer compare.
    assert counts == {
        "anger": 102,
        "contempt": 32,
        "disgust": 21,
        "fear": 103,
        "happiness": 359,
        "neutral": 444,
        "sadness": 168,
        "surprise": 150,
    }
    assert not (fold & (labels < 0)).any()
    # Drawn by file name alone: reversing the archive's rows selects the same faces.
    order = np.arange(len(labels))[::-1]
    reordered = FerplusSplit(
        ferplus_train.images[order], ferplus_train.votes[order], ferplus_train.names[order]
    )
    assert np.array_equal(holdout_mask(reordered), fold[order])


def test_training_leaves_the_fold_out_by_default(ferplus_train: FerplusSplit) -> None:
    fold = holdout_mask(ferplus_train)
    default = training_rows(ferplus_train)
    everything = training_rows(ferplus_train, include_holdout=True)
    assert not (default & fold).any()
    assert np.array_equal(everything, ferplus_train.usable_for_training())
    assert np.array_equal(default | (everything & fold), everything)


def test_card_reports_intervals_precision_confusion_and_fold() -> None:
    models = PROJECT_ROOT / "pipeline" / "models"
    manifest = json.loads((models / "emotion.json").read_text())
    card = (models / "MODEL_CARD.md").read_text()
    validation = manifest["validation"]
    for name in LABELS:
        low, high = validation["per_class_recall_ci95"][name]
        assert low <= validation["per_class_recall"][name] <= high
        assert f"{low:.0%}-{high:.0%}" in card
        assert f"{validation['per_class_precision'][name]:.1%}" in card
    assert "Confusion matrix" in card
    assert f"{manifest['holdout']['faces']} faces" in card
    if manifest["training"]["holdout_in_training"]:
        assert "trained on these faces" in card


def test_shipped_card_is_what_its_manifest_renders() -> None:
    """The committed card is rendered from the committed manifest by today's code, so a
    manifest written by an older export (no ensemble members, no float16 note) still renders."""
    from pipeline.emotion.card import render_model_card

    models = PROJECT_ROOT / "pipeline" / "models"
    manifest = json.loads((models / "emotion.json").read_text())
    assert render_model_card(manifest) == (models / "MODEL_CARD.md").read_text()


def test_card_names_the_weights_each_member_ships() -> None:
    """Averaged or live weights: read from each ensemble member, or from the top of a manifest
    written before ensembles."""
    from pipeline.emotion.card import _recipe_text

    def members(*kinds: str) -> dict[str, object]:
        return {"ema_decay": 0.999, "members": [{"weights": kind} for kind in kinds]}

    assert "(the averaged weights ship)" in _recipe_text(members("ema", "ema"))
    assert "(the live weights ship)" in _recipe_text(members("live"))
    assert "(the averaged and live weights ship)" in _recipe_text(members("live", "ema"))
    assert "(the averaged weights ship)" in _recipe_text({"ema_decay": 0.999, "weights": "ema"})
    assert "weights ship" not in _recipe_text({"ema_decay": 0.0, "weights": "ema"})


def test_card_shows_the_alignment_comparison_it_was_given() -> None:
    models = PROJECT_ROOT / "pipeline" / "models"
    manifest = json.loads((models / "emotion.json").read_text())
    card = (models / "MODEL_CARD.md").read_text()
    alignment = manifest.get("alignment")
    if alignment is None:
        assert "Face alignment" not in card
        return
    for row in alignment["planted"].values():
        assert f"{row['box_accuracy']:.1%} | {row['aligned_accuracy']:.1%}" in card
    for face in alignment["changed"]:
        assert f"| {face['photo']} | {face['box_top']} ({face['box_p']:.2f})" in card


def test_card_says_whether_a_rare_class_adjustment_is_in_the_model() -> None:
    """Each case the card can meet: no adjustment (with or without the fold seen in training),
    the prior rule (a tau) and the per-class rule (no tau; only the classes it raised)."""
    from pipeline.emotion.card import _adjustment_text

    def manifest(adjustment: dict[str, object] | None, seen: bool = False) -> dict[str, object]:
        return {"logit_adjustment": adjustment, "training": {"holdout_in_training": seen}}

    common = {"rule": "the rule", "chosen_on": "held-out fold"}
    prior = {**common, "tau": 0.35, "bias": {"anger": 0.1, "contempt": 0.9, "neutral": -0.4}}
    per_class = {**common, "tau": None, "bias": {"anger": 0.0, "contempt": 0.7, "disgust": 0.0}}
    assert "probabilities stay calibrated" in _adjustment_text(manifest(None))
    assert "which this model saw in training" in _adjustment_text(manifest(None, seen=True))
    text = _adjustment_text(manifest(prior))
    assert "adjustment: tau 0.35 (the rule, chosen on the held-out fold)" in text
    assert "logit bias anger +0.10, contempt +0.90, neutral -0.40." in text
    text = _adjustment_text(manifest(per_class))
    assert "tau" not in text
    assert text.endswith("(the rule, chosen on the held-out fold); logit bias contempt +0.70.")


def test_the_card_says_which_members_had_their_head_re_fitted() -> None:
    """An ensemble's member line names a re-fitted head (rebalance.py), not a kept one."""
    from pipeline.emotion.card import _members_text

    def member(seed: int, refit: dict | None) -> dict:
        row = {"seed": seed, "epochs": 10, "train_minutes": 5.0, "valid_accuracy": 0.8}
        return row | ({"head_refit": refit} if refit else {})

    text = _members_text(
        {
            "members": [
                member(1, {"beta": 0.75, "pull": 0.01, "kept_trained_head": False}),
                member(2, {"beta": None, "pull": None, "kept_trained_head": True}),
                member(3, None),
            ],
            "train_minutes": 15.0,
        }
    )
    assert text.count("head re-fitted") == 1 and "beta 0.75, pull 0.01" in text
