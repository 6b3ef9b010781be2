"""Rare-expression logit adjustments on the installed model: each rule chooses on the held-out
fold, and its cost and gain are measured on FER+ validation (which plays no part in the bias a
rule chooses; the shipped model's rule was itself picked after seeing validation: README).

Run: ``.venv/bin/python benchmarks/logit_adjustment.py``. Prints the fold's table for each rule
(``prior``: ``-tau * log(prior)`` on every class; ``per-class``: a bias on the rare
expressions only; ``confident``: the same with the fold's recall held to the target at its 95 %
lower bound) and the validation figures of the plain model (the baseline) beside each
rule's choice; writes benchmarks/results/logit_adjustment.json. A model that ships with an
adjustment baked in is measured from its plain probabilities (the bias taken back out, which
is exact: the bias is added to the logits before the softmax). pipeline/emotion/adjust.py has
the rules.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.adjust import (
    TAU_GRID,
    adjust_probabilities,
    choose_rare_bias,
    choose_tau,
    prior_bias,
    training_prior,
)
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import load_split
from pipeline.emotion.holdout import RARE_CLASSES, holdout_mask
from pipeline.emotion.labels import LABELS
from pipeline.emotion.metrics import ClassificationReport, classification_report
from pipeline.settings import get_setting


def _shipped_bias(classifier: ExpressionClassifier) -> np.ndarray:
    adjustment = classifier.manifest.raw.get("logit_adjustment") or {}
    bias = adjustment.get("bias") or {}
    return np.array([bias.get(name, 0.0) for name in LABELS])


def _rule_row(
    label: str, fold_recall: dict[str, float], report: ClassificationReport
) -> tuple[str, ...]:
    return (
        label,
        *[f"{fold_recall[n]:.1%}" for n in RARE_CLASSES],
        f"{report.accuracy:.2%}",
        f"{report.ece:.4f}",
        *[f"{report.per_class_recall[n]:.1%}" for n in RARE_CLASSES],
    )


def _columns(first: str) -> tuple[str, ...]:
    return (
        first,
        *[f"fold {n}" for n in RARE_CLASSES],
        "valid acc",
        "valid ECE",
        *[f"valid {n}" for n in RARE_CLASSES],
    )


def _comparison_rows(reports: list[ClassificationReport]) -> list[tuple[str, ...]]:
    rows = [
        ("accuracy", *[f"{r.accuracy:.2%}" for r in reports]),
        ("ECE", *[f"{r.ece:.4f}" for r in reports]),
    ]
    for n in RARE_CLASSES:
        rows.append(
            (
                f"recall {n}",
                *[
                    f"{r.per_class_recall[n]:.1%} ({r.per_class_recall_ci95[n][0]:.0%}-"
                    f"{r.per_class_recall_ci95[n][1]:.0%})"
                    for r in reports
                ],
            )
        )
    for n in RARE_CLASSES:
        rows.append((f"precision {n}", *[f"{r.per_class_precision[n]:.1%}" for r in reports]))
    return rows


def main() -> None:
    classifier = ExpressionClassifier(Path(get_setting("EMOTION_MODEL_PATH")))
    seen = classifier.manifest.raw["training"].get("holdout_in_training", True)
    valid, train = load_split("valid"), load_split("train")
    fold = holdout_mask(train)
    labels, fold_labels = valid.majority_labels(), train.majority_labels()[fold]
    shipped = _shipped_bias(classifier)
    valid_probs = adjust_probabilities(classifier.predict_proba(valid.images), -shipped)
    fold_probs = adjust_probabilities(classifier.predict_proba(train.images[fold]), -shipped)
    where = "SEEN in training (optimistic)" if seen else "unseen"

    prior = training_prior(train, include_holdout=seen)
    tau, table = choose_tau(fold_probs, fold_labels, prior)
    prior_results, rows = [], []
    for t, fold_recall in table:
        report = classification_report(
            adjust_probabilities(valid_probs, prior_bias(prior, t)), labels
        )
        prior_results.append({"tau": t, "fold_recall": fold_recall, "validation": report.as_dict()})
        rows.append(_rule_row(f"{t:.2f}" + (" <- chosen" if t == tau else ""), fold_recall, report))
    print_table(
        f"Prior rule -tau*log(prior), model {classifier.version}; fold {where}; "
        "validation columns are reported, not used to choose",
        rows,
        _columns("tau"),
    )

    bias, steps, reached = choose_rare_bias(fold_probs, fold_labels)
    rare = [LABELS.index(n) for n in RARE_CLASSES]
    per_class_results, rows = [], []
    for step_bias, fold_recall in steps:
        vector = np.zeros(len(LABELS))
        vector[rare] = step_bias
        report = classification_report(adjust_probabilities(valid_probs, vector), labels)
        per_class_results.append(
            {"bias": step_bias, "fold_recall": fold_recall, "validation": report.as_dict()}
        )
        rows.append(_rule_row("/".join(f"{b:.2f}" for b in step_bias), fold_recall, report))
    # The choice is the last step when every rare expression reached the target; otherwise
    # those that did not keep the smallest bias with their best fold recall.
    chosen_recall = classification_report(
        adjust_probabilities(fold_probs, bias), fold_labels
    ).per_class_recall
    rows.append(
        _rule_row(
            "/".join(f"{bias[c]:.2f}" for c in rare) + " <- chosen",
            {n: chosen_recall[n] for n in RARE_CLASSES},
            classification_report(adjust_probabilities(valid_probs, bias), labels),
        )
    )
    print_table(
        f"Per-class rule: bias on {'/'.join(RARE_CLASSES)} only; fold {where}; target "
        + ("reached" if reached else "NOT reached by every rare expression"),
        rows,
        _columns("bias " + "/".join(RARE_CLASSES)),
    )

    sure, _, sure_reached = choose_rare_bias(fold_probs, fold_labels, confident=True)
    reports = {
        "plain": classification_report(valid_probs, labels),
        f"prior, tau {tau:.2f}": classification_report(
            adjust_probabilities(valid_probs, prior_bias(prior, tau)), labels
        ),
        "per-class": classification_report(adjust_probabilities(valid_probs, bias), labels),
        "confident": classification_report(adjust_probabilities(valid_probs, sure), labels),
        "as shipped": classification_report(adjust_probabilities(valid_probs, shipped), labels),
    }
    print_table(
        "Each rule's choice on validation, against the plain model (the baseline)",
        _comparison_rows(list(reports.values())),
        ("measure", *reports),
    )
    save_json(
        "logit_adjustment",
        {
            "model_version": classifier.version,
            "fold_seen_in_training": seen,
            "shipped_bias": shipped.tolist(),
            "prior_rule": {
                "grid": TAU_GRID.tolist(),
                "chosen_tau": tau,
                "prior": prior.tolist(),
                "results": prior_results,
            },
            "per_class_rule": {
                "chosen_bias": bias.tolist(),
                "reached": reached,
                "steps": per_class_results,
            },
            "confident_rule": {"chosen_bias": sure.tolist(), "reached": sure_reached},
            "accuracy_vs_plain": {
                name: report.accuracy / reports["plain"].accuracy
                for name, report in reports.items()
            },
        },
    )


if __name__ == "__main__":
    main()
