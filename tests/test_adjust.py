"""Rare-expression logit adjustment: the bias, and tau chosen on the fold by the stated rule."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.emotion.adjust import (
    BIAS_CAP,
    BIAS_STEP,
    TAU_GRID,
    adjust_probabilities,
    choose_rare_bias,
    choose_tau,
    prior_bias,
)
from pipeline.emotion.holdout import natural_accuracy
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import wilson_interval

PRIOR = np.array([0.09, 0.01, 0.01, 0.03, 0.26, 0.33, 0.14, 0.13])
RARE = [LABELS.index(n) for n in ("contempt", "disgust", "fear")]


def test_zero_tau_changes_nothing_and_bias_favours_rare_classes() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(8), 50)
    assert np.allclose(adjust_probabilities(probs, prior_bias(PRIOR, 0.0)), probs)
    bias = prior_bias(PRIOR, 0.5)
    assert bias.mean() == pytest.approx(0.0)
    assert bias[LABELS.index("contempt")] > bias[LABELS.index("neutral")]
    adjusted = adjust_probabilities(probs, bias)
    assert np.allclose(adjusted.sum(axis=1), 1.0)
    # Same bias as adding it to the logits: ratios between two classes scale by exp(bias gap).
    i, j = LABELS.index("contempt"), LABELS.index("neutral")
    ratio = (adjusted[:, i] / adjusted[:, j]) / (probs[:, i] / probs[:, j])
    assert np.allclose(ratio, np.exp(bias[i] - bias[j]))


def _fold(margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Rare-class faces whose true class trails neutral by ``margin`` nats, per face."""
    rows, labels = [], []
    for k, label in enumerate(RARE * 10):
        logits = np.zeros(8)
        logits[LABELS.index("neutral")] = 2.0
        logits[label] = 2.0 - margin * (k % 10 + 1) / 10
        rows.append(np.exp(logits) / np.exp(logits).sum())
        labels.append(label)
    return np.array(rows), np.array(labels)


def test_choose_tau_takes_the_smallest_tau_that_reaches_the_target() -> None:
    probs, labels = _fold(margin=1.0)
    tau, table = choose_tau(probs, labels, PRIOR, target=0.45)
    assert [t for t, _ in table] == TAU_GRID.tolist()
    reached = [t for t, recall in table if min(recall.values()) >= 0.45]
    assert tau == reached[0] > 0.0
    below = [recall for t, recall in table if t < tau]
    assert all(min(recall.values()) < 0.45 for recall in below)


def test_choose_tau_is_zero_when_the_model_already_reaches_it() -> None:
    probs, labels = _fold(margin=-1.0)  # the true class already wins every face
    tau, _ = choose_tau(probs, labels, PRIOR, target=0.45)
    assert tau == 0.0


def test_choose_tau_falls_back_to_the_best_minimum_when_unreachable() -> None:
    probs, labels = _fold(margin=40.0)
    tau, table = choose_tau(probs, labels, PRIOR, target=0.99)
    best = max(min(recall.values()) for _, recall in table)
    first_best = next(t for t, recall in table if min(recall.values()) == best)
    assert tau == first_best


def _fold_by_class(margins: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """One face per margin: its true (rare) class trails neutral by that many nats."""
    rows, labels = [], []
    for name, trailing in margins.items():
        for margin in trailing:
            logits = np.zeros(8)
            logits[LABELS.index("neutral")] = 2.0
            logits[LABELS.index(name)] = 2.0 - margin
            rows.append(np.exp(logits) / np.exp(logits).sum())
            labels.append(LABELS.index(name))
    return np.array(rows), np.array(labels)


def _spread(margin: float) -> list[float]:
    """Ten faces trailing by margin * k / 10 + 0.01 nats (k = 1..10): a bias just past
    margin * k / 10 wins k of them back."""
    return [margin * k / 10 + 0.01 for k in range(1, 11)]


def test_per_class_rule_raises_only_the_rare_classes_that_miss_by_the_smallest_step() -> None:
    # Contempt needs 5 of 10 faces back: its 5th face trails by 1.01 nats, so the bias must pass
    # 1.01; disgust's by 0.51; fear already wins every face.
    probs, labels = _fold_by_class(
        {"contempt": _spread(2.0), "disgust": _spread(1.0), "fear": _spread(-1.0)}
    )
    bias, steps, reached = choose_rare_bias(probs, labels, target=0.5)
    assert reached
    contempt, disgust, fear = (bias[LABELS.index(n)] for n in ("contempt", "disgust", "fear"))
    assert contempt == pytest.approx(1.05) and disgust == pytest.approx(0.55) and fear == 0.0
    others = [b for i, b in enumerate(bias) if i not in RARE]
    assert others == [0.0] * 5
    # Every step before the last left some rare class below the target; the last reaches it.
    assert steps[0][0] == [0.0, 0.0, 0.0]
    assert all(min(recall.values()) < 0.5 for _, recall in steps[:-1])
    assert min(steps[-1][1].values()) >= 0.5
    assert np.allclose(np.diff([s[0][0] for s in steps]), BIAS_STEP)


def test_per_class_rule_keeps_the_smallest_bias_with_the_best_recall_when_out_of_reach() -> None:
    # Half the contempt faces trail by 0.11-0.51 nats, the rest by 40: recall stops at 0.5,
    # first reached at bias 0.55, so a target of 0.6 is out of reach; the steps go on to the
    # cap, but the bias kept is 0.55.
    near = [0.1 * k + 0.01 for k in range(1, 6)]
    probs, labels = _fold_by_class(
        {"contempt": near + [40.0] * 5, "disgust": _spread(-1.0), "fear": _spread(-1.0)}
    )
    bias, steps, reached = choose_rare_bias(probs, labels, target=0.6)
    assert not reached
    assert steps[-1][0][0] == pytest.approx(BIAS_CAP)
    assert bias[LABELS.index("contempt")] == pytest.approx(0.55)
    assert bias[LABELS.index("disgust")] == bias[LABELS.index("fear")] == 0.0


def test_confident_rule_holds_the_target_to_the_lower_end_of_the_fold_s_interval() -> None:
    """40 contempt faces, the k-th trailing neutral by 1.2 k / 40 + 0.01 nats: the per-class
    rule stops once 18 of 40 (0.45) are won back; the confident rule goes on until the 95 %
    Wilson interval of the fold's recall starts at 0.45, and not one step further."""
    spread = [1.2 * k / 40 + 0.01 for k in range(1, 41)]
    probs, labels = _fold_by_class(
        {"contempt": spread, "disgust": _spread(-1.0), "fear": _spread(-1.0)}
    )
    contempt = LABELS.index("contempt")

    def won_back(bias_value: float) -> int:
        bias = np.zeros(8)
        bias[contempt] = bias_value
        chosen = adjust_probabilities(probs, bias).argmax(axis=1)
        return int(((chosen == contempt) & (labels == contempt)).sum())

    point, _, _ = choose_rare_bias(probs, labels, target=0.45)
    sure, _, reached = choose_rare_bias(probs, labels, target=0.45, confident=True)
    assert reached and sure[contempt] > point[contempt]
    assert won_back(point[contempt]) == 18
    assert wilson_interval(won_back(sure[contempt]), 40)[0] >= 0.45
    assert wilson_interval(won_back(sure[contempt] - BIAS_STEP), 40)[0] < 0.45
    # Ten of ten disgust and fear faces: their interval starts above 0.45 already.
    assert sure[LABELS.index("disgust")] == sure[LABELS.index("fear")] == 0.0


def test_fold_accuracy_is_weighted_back_to_the_training_mix() -> None:
    """The fold holds 20 % of each rare expression and 5 % of the others: a wrong contempt
    face and a right neutral one are 1 in 2 plainly, 4 in 5 at the training mix."""
    labels = np.array([LABELS.index("contempt"), LABELS.index("neutral"), -1])
    scores = np.zeros((3, 8))
    scores[:, LABELS.index("neutral")] = 1.0
    assert natural_accuracy(scores, labels) == pytest.approx(0.8)


def test_confident_rule_leaves_an_expression_the_fold_lacks_alone() -> None:
    """No disgust face on the fold: nothing to hold to the target, so no bias (and no error)."""
    probs, labels = _fold_by_class({"contempt": _spread(2.0), "fear": _spread(-1.0)})
    bias, _, reached = choose_rare_bias(probs, labels, target=0.45, confident=True)
    assert bias[LABELS.index("disgust")] == 0.0 and not reached
    assert bias[LABELS.index("contempt")] > 0.0
