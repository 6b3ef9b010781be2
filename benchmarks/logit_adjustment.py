"""Rare-expression logit adjustment on the shipped model: tau chosen on the held-out fold,
its cost and gain measured on FER+ validation (which plays no part in the choice).

Run: ``.venv/bin/python benchmarks/logit_adjustment.py``. Prints the fold's rule table and the
validation figures of tau = 0 (the shipped model, the baseline) and of the chosen tau; writes
benchmarks/results/logit_adjustment.json. pipeline/emotion/adjust.py has the rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import print_table, save_json
from pipeline.emotion.adjust import (
    TAU_GRID,
    adjust_probabilities,
    choose_tau,
    prior_bias,
    training_prior,
)
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import load_split
from pipeline.emotion.holdout import RARE_CLASSES, holdout_mask
from pipeline.emotion.metrics import classification_report
from pipeline.settings import get_setting


def main() -> None:
    classifier = ExpressionClassifier(Path(get_setting("EMOTION_MODEL_PATH")))
    seen = classifier.manifest.raw["training"].get("holdout_in_training", True)
    valid, train = load_split("valid"), load_split("train")
    fold = holdout_mask(train)
    valid_probs = classifier.predict_proba(valid.images)
    fold_probs = classifier.predict_proba(train.images[fold])
    prior = training_prior(train, include_holdout=seen)
    tau, table = choose_tau(fold_probs, train.majority_labels()[fold], prior)
    rows, results = [], []
    for t, fold_recall in table:
        report = classification_report(
            adjust_probabilities(valid_probs, prior_bias(prior, t)), valid.majority_labels()
        )
        results.append({"tau": t, "fold_recall": fold_recall, "validation": report.as_dict()})
        rows.append(
            (
                f"{t:.2f}" + (" <- chosen" if t == tau else ""),
                *[f"{fold_recall[n]:.1%}" for n in RARE_CLASSES],
                f"{report.accuracy:.2%}",
                f"{report.ece:.4f}",
                *[f"{report.per_class_recall[n]:.1%}" for n in RARE_CLASSES],
            )
        )
    print_table(
        f"Logit adjustment -tau*log(prior), model {classifier.version}; fold "
        + ("SEEN in training (optimistic)" if seen else "unseen")
        + "; validation columns are reported, not used to choose",
        rows,
        (
            "tau",
            *[f"fold {n}" for n in RARE_CLASSES],
            "valid acc",
            "valid ECE",
            *[f"valid {n}" for n in RARE_CLASSES],
        ),
    )
    base, chosen = results[0]["validation"], next(r for r in results if r["tau"] == tau)
    chosen_valid = chosen["validation"]
    print_table(
        f"Chosen tau {tau:.2f} vs the shipped model on validation",
        [
            ("accuracy", f"{base['accuracy']:.2%}", f"{chosen_valid['accuracy']:.2%}"),
            ("ECE", f"{base['ece']:.4f}", f"{chosen_valid['ece']:.4f}"),
            *[
                (
                    f"recall {n}",
                    f"{base['per_class_recall'][n]:.1%}",
                    f"{chosen_valid['per_class_recall'][n]:.1%} "
                    f"({chosen_valid['per_class_recall_ci95'][n][0]:.0%}-"
                    f"{chosen_valid['per_class_recall_ci95'][n][1]:.0%})",
                )
                for n in RARE_CLASSES
            ],
            *[
                (
                    f"precision {n}",
                    f"{base['per_class_precision'][n]:.1%}",
                    f"{chosen_valid['per_class_precision'][n]:.1%}",
                )
                for n in RARE_CLASSES
            ],
        ],
        ("measure", "tau 0 (shipped)", f"tau {tau:.2f}"),
    )
    save_json(
        "logit_adjustment",
        {
            "model_version": classifier.version,
            "fold_seen_in_training": seen,
            "grid": TAU_GRID.tolist(),
            "chosen_tau": tau,
            "prior": prior.tolist(),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
