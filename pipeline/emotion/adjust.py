"""Post-hoc logit adjustment for the rare expressions, chosen on the held-out fold.

Why: trained on FER+'s skewed classes (contempt and disgust are 1 % of the votes each), the
model's calibrated probabilities carry that prior, so rare expressions lose close calls.
Adding ``-tau * log(prior)`` to the logits (Menon et al., 2021, "Long-tail learning via logit
adjustment") trades a little accuracy on common classes for recall on rare ones; tau = 1 is
the balanced-error optimum, tau = 0 the plain model.

tau is chosen on the held-out training fold (pipeline/emotion/holdout.py), never on
validation, so validation stays an honest check: the smallest tau on a 0.05 grid in [0, 1]
whose fold recall reaches ``TARGET_RECALL`` for each of contempt, disgust and fear, or, when
none does, the tau with the highest of the three's minimum. A model that trained on the fold
(``--include-holdout``, or the model 2026.11.24) sees it too optimistically for that choice:
export skips the adjustment then.

A second rule, ``per-class`` (``choose_rare_bias``), adds a bias to the rare expressions only,
each just large enough to reach the target on the fold: the prior shift also moves every
common class by its frequency, which costs accuracy where the model is already right.

A third, ``confident``, is the per-class rule with the target met with 95 % confidence: the
lower end of the Wilson interval of the fold's recall must reach it. Why: the fold holds 21
disgust and 32 contempt faces, so a point estimate just above 0.45 is as likely as not to be
below it on unseen faces (model 2026.12.02-82339f87's disgust: fold 0.48, validation 0.32). The
shipped model carries this rule's bias; the rule itself was picked over ``per-class`` after
seeing both on validation (README), so for the shipped model validation checks the bias
values, chosen on the fold, but not the choice of rule.

Export bakes one in only when asked (``--rare-adjustment [prior|per-class|confident]``): the
product averages the probabilities over people, so calibrated probabilities matter to it as
well as argmax recall, and the recall bought is paid in rare-class precision, calibration and
accuracy (benchmarks/logit_adjustment.py measures the rules on the installed model; the README
has the figures of the shipped one).
"""

from __future__ import annotations

import numpy as np

from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.holdout import RARE_CLASSES, training_rows
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import classification_report, wilson_interval

TARGET_RECALL = 0.45
TAU_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)
# The per-class rule's steps: each rare expression's bias grows by BIAS_STEP until the fold's
# recall of it reaches the target, up to BIAS_CAP (beyond that it takes faces from everyone).
BIAS_STEP = 0.05
BIAS_CAP = 1.5
RULES = ("prior", "per-class", "confident")


def training_prior(train: FerplusSplit, include_holdout: bool = False) -> np.ndarray:
    """Mean vote distribution (8,) in ``LABELS`` order of the faces a model trained on."""
    prior = train.vote_distribution()[training_rows(train, include_holdout)].mean(axis=0)
    return np.asarray(prior / prior.sum(), dtype=np.float64)


def prior_bias(prior: np.ndarray, tau: float) -> np.ndarray:
    """Per-class logit bias (8,): ``-tau * log(prior)``, shifted so its mean is 0."""
    bias = -tau * np.log(np.clip(prior, 1e-6, 1.0))
    return bias - bias.mean()


def adjust_probabilities(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """softmax(log(probs) + bias): what the model gives once ``bias`` is in its logits."""
    z = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) + bias
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def rare_recall(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    recall = classification_report(probs, labels).per_class_recall
    return {name: recall[name] for name in RARE_CLASSES}


def choose_tau(
    fold_probs: np.ndarray,
    fold_labels: np.ndarray,
    prior: np.ndarray,
    target: float = TARGET_RECALL,
) -> tuple[float, list[tuple[float, dict[str, float]]]]:
    """(tau, [(tau, the fold's rare-class recall)] over the grid), by the rule above."""
    table = [
        (
            float(tau),
            rare_recall(adjust_probabilities(fold_probs, prior_bias(prior, tau)), fold_labels),
        )
        for tau in TAU_GRID
    ]
    reaching = [tau for tau, recall in table if min(recall.values()) >= target]
    if reaching:
        return reaching[0], table
    best = max(table, key=lambda row: (min(row[1].values()), -row[0]))
    return best[0], table


def _evidence(recall: dict[str, float], labels: np.ndarray, confident: bool) -> dict[str, float]:
    """What a rare expression's fold recall is held to the target by: the recall itself, or
    with ``confident`` the lower end of its 95 % Wilson interval."""
    if not confident:
        return recall
    faces = {name: int((labels == LABELS.index(name)).sum()) for name in RARE_CLASSES}
    # No face of an expression on the fold: nothing to hold to the target (NaN, as its recall).
    return {
        name: wilson_interval(round(recall[name] * faces[name]), faces[name])[0]
        if faces[name]
        else float("nan")
        for name in RARE_CLASSES
    }


def choose_rare_bias(
    fold_probs: np.ndarray,
    fold_labels: np.ndarray,
    target: float = TARGET_RECALL,
    confident: bool = False,
) -> tuple[np.ndarray, list[tuple[list[float], dict[str, float]]], bool]:
    """(bias (8,), [(rare biases, the fold's rare-class recall)] per step, whether every rare
    expression reached ``target``): the per-class rule.

    Why: the prior shift moves every class by its frequency, so reaching the target for the
    rarest expression (contempt) also pulls faces from the common ones the model already gets
    right. Raising only the rare expressions that miss the target, each by the smallest step
    that gets it there, costs fewer of those faces. Each step raises, together, every rare
    expression still below the target and not yet at ``BIAS_CAP``. An expression that never
    reaches it gets the smallest of its steps with its best recall, not the cap: bias beyond
    that only takes faces from the others. With ``confident`` the fold's recall must reach
    the target at the lower end of its 95 % Wilson interval (the ``confident`` rule).
    """
    rare = [LABELS.index(name) for name in RARE_CLASSES]
    bias = np.zeros(len(LABELS))
    steps: list[tuple[list[float], dict[str, float]]] = []
    while True:
        recall = rare_recall(adjust_probabilities(fold_probs, bias), fold_labels)
        steps.append(([round(float(bias[c]), 2) for c in rare], recall))
        evidence = _evidence(recall, fold_labels, confident)
        behind = [
            c
            for c, name in zip(rare, RARE_CLASSES, strict=True)
            if evidence[name] < target and bias[c] + BIAS_STEP <= BIAS_CAP + 1e-9
        ]
        if not behind:
            break
        bias[behind] += BIAS_STEP
    reached = all(evidence[name] >= target for name in RARE_CLASSES)
    for position, (c, name) in enumerate(zip(rare, RARE_CLASSES, strict=True)):
        if evidence[name] < target:
            best = max(step_recall[name] for _, step_recall in steps)
            bias[c] = next(b[position] for b, r in steps if r[name] == best)
    return np.round(bias, 2), steps, reached


def bias_by_label(bias: np.ndarray) -> dict[str, float]:
    return {name: float(b) for name, b in zip(LABELS, bias, strict=True)}
