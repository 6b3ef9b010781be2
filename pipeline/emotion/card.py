"""The model's published numbers: measured on the ONNX file that ships, written into its
manifest (``emotion.json``) and rendered as ``MODEL_CARD.md``.

Run ``python -m pipeline.emotion.card`` to re-measure the installed model without retraining
(the model file and its sha256 are untouched); the export step calls the same code, so a new
model's card and an old model's refreshed card report the same things the same way.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.holdout import DESCRIPTION as HOLDOUT_DESCRIPTION
from pipeline.emotion.holdout import holdout_mask
from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import manifest_path_for
from pipeline.emotion.metrics import classification_report
from pipeline.emotion.speed import cpu_description, ms_per_face_in_turn

VALIDATION_SPLIT = "FER+ valid (FER2013 PublicTest), majority rule"
SPEED_THREADS = 2
SPEED_BATCH = 64
# Timed as rounds of batches, each file or mode in turn, the median kept (speed.py): 5 rounds
# of 12 batches time 3,840 faces each, more than one round of 30 did, in the time the tests'
# dozen exports of tiny networks can afford.
SPEED_REPEATS = 12
SPEED_ROUNDS = 5


def measure(model_path: Path, data_dir: Path | None = None) -> dict[str, Any]:
    """Validation report, held-out-fold recall and ms/face of the model file itself."""
    folder = data_dir or default_dataset_dir()
    classifier = ExpressionClassifier(model_path, threads=SPEED_THREADS, batch_size=SPEED_BATCH)
    valid = load_split("valid", folder)
    report = classification_report(classifier.predict_proba(valid.images), valid.majority_labels())
    train = load_split("train", folder)
    fold = holdout_mask(train)
    held = classification_report(
        classifier.predict_proba(train.images[fold]), train.majority_labels()[fold]
    )
    return {
        "validation": {"split": VALIDATION_SPLIT, **report.as_dict()},
        "holdout": {
            "split": HOLDOUT_DESCRIPTION,
            "faces": held.faces,
            "accuracy": held.accuracy,
            "per_class_faces": {
                name: int(sum(row)) for name, row in zip(LABELS, held.confusion, strict=True)
            },
            "per_class_recall": held.per_class_recall,
            "per_class_recall_ci95": held.per_class_recall_ci95,
        },
        "speed": {
            # The median of 5 rounds: one timing on a shared machine wanders (speed.py).
            "ms_per_face": ms_per_face_in_turn(
                {"shipped": classifier}, valid.images, SPEED_BATCH, SPEED_REPEATS, SPEED_ROUNDS
            )["shipped"],
            "batch": SPEED_BATCH,
            "threads": SPEED_THREADS,
            "runtime": "onnxruntime CPUExecutionProvider",
            "cpu": cpu_description(),
        },
    }


def publish(model_path: Path, manifest: dict[str, Any], data_dir: Path | None = None) -> None:
    """Measure ``model_path``, store the numbers in its manifest and rewrite the card.

    The manifest is written first: the classifier checks the file against its sha256.
    """
    path = manifest_path_for(model_path)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest.update(measure(model_path, data_dir))
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    (model_path.parent / "MODEL_CARD.md").write_text(render_model_card(manifest))


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def _interval(ci: list[float]) -> str:
    return "n/a" if any(math.isnan(v) for v in ci) else f"{ci[0]:.0%}-{ci[1]:.0%}"


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table's lines: one copy of the pipes and the separator row for every
    table on the card."""
    return [
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def _validation_tables(manifest: dict[str, Any]) -> str:
    validation = manifest["validation"]
    labels = manifest["labels"]
    confusion = np.asarray(validation["confusion"])
    rows: list[list[object]] = [
        [
            name,
            int(confusion[i].sum()),
            _pct(validation["per_class_recall"][name]),
            _interval(validation["per_class_recall_ci95"][name]),
            _pct(validation["per_class_precision"][name]),
        ]
        for i, name in enumerate(labels)
    ]
    matrix: list[list[object]] = [[name, *confusion[i]] for i, name in enumerate(labels)]
    header = ["expression", "faces", "recall", "recall 95 % interval (Wilson)", "precision"]
    return "\n".join(
        [
            *_table(header, rows),
            "",
            "Confusion matrix (rows: true expression, columns: predicted):",
            "",
            *_table(["true \\ predicted", *labels], matrix),
        ]
    )


def _holdout_section(manifest: dict[str, Any]) -> str:
    held = manifest.get("holdout")
    if not held:
        return ""
    seen = manifest["training"].get("holdout_in_training", True)
    caveat = (
        "**This model was trained on these faces**, so these recalls are optimistic: they are "
        "not unseen-face figures. Models trained with the default settings leave the fold out."
        if seen
        else "This model never saw these faces in training."
    )
    if manifest.get("logit_adjustment"):
        caveat += (
            " Its rare-expression logit adjustment (and a re-fitted head's settings, if any) "
            "was chosen on them, so its figures here are where that choice aimed, not an "
            "independent check; validation is, except for choices made after seeing it, which "
            "the README names."
        )
    rows: list[list[object]] = [
        [
            name,
            held["per_class_faces"][name],
            _pct(held["per_class_recall"][name]),
            _interval(held["per_class_recall_ci95"][name]),
        ]
        for name in manifest["labels"]
    ]
    return "\n".join(
        [
            f"**Held-out fold** ({held['split']}, {held['faces']} faces): {caveat}",
            "",
            *_table(["expression", "faces", "recall", "recall 95 % interval (Wilson)"], rows),
            "",
        ]
    )


def _alignment_section(manifest: dict[str, Any]) -> str:
    """Aligned vs box crops (benchmarks/face_alignment.py --card writes the numbers)."""
    found = manifest.get("alignment")
    if not found:
        return ""
    planted: list[list[object]] = [
        [
            f"FER+ validation faces in frames, {name}",
            r["faces"],
            f"{r['box_accuracy']:.1%}",
            f"{r['aligned_accuracy']:.1%}",
            f"{r['only_aligned_right']} / {r['only_box_right']}",
        ]
        for name, r in found["planted"].items()
    ]
    photos = found["real_photos"]
    # How often the classifier also scored the mirror image (unsure faces) outside FER+.
    mirrored = (
        f" The mirror image was scored too for {photos['mirrored']['box']} of {photos['faces']} "
        f"faces with box crops, {photos['mirrored']['aligned']} with aligned crops."
        if "mirrored" in photos
        else ""
    )
    changed: list[list[object]] = [
        [
            r["photo"],
            f"{r['box_top']} ({r['box_p']:.2f})",
            f"{r['aligned_top']} ({r['aligned_p']:.2f})",
        ]
        for r in found["changed"]
    ]
    counts = ", ".join(
        f"{name} {photos['top_counts']['box'][name]} / {photos['top_counts']['aligned'][name]}"
        for name in manifest["labels"]
        if photos["top_counts"]["box"][name] or photos["top_counts"]["aligned"][name]
    )
    return "\n".join(
        [
            "**Face alignment** (CenterFace's five landmarks: eyes levelled, FER+ framing; "
            "box: the FER+-like square of the detector's box; benchmarks/face_alignment.py). "
            "Same detections, scored both ways:",
            "",
            *_table(
                [
                    "faces",
                    "n",
                    "box crop accuracy",
                    "aligned accuracy",
                    "only aligned right / only box right",
                ],
                planted,
            ),
            "",
            f"Real photos (../shared/datasets/real-photos, no expression labels; {photos['faces']} "
            "faces: the main face of each portrait and the selfie's): the top expression is the "
            f"same both ways for {photos['same_top_expression']} of {photos['faces']}; top "
            f"expression box / aligned: {counts}. Turning each portrait by "
            f"+-{photos['tilt_deg']:g} degrees keeps the upright answer for "
            f"{photos['kept_when_turned']['box']} of {photos['turned_photos']} turned photos with "
            f"box crops, {photos['kept_when_turned']['aligned']} with aligned crops.{mirrored} "
            "Faces whose answer changes:",
            "",
            *_table(["photo", "box crop", "aligned crop"], changed),
            "",
        ]
    )


def _has_specialists(training: dict[str, Any]) -> bool:
    """Whether the graph mixes general members with class-balanced specialists (SpecialistMix)."""
    return any(m.get("role") == "specialist" for m in training.get("members") or [])


def _recipe_text(training: dict[str, Any]) -> str:
    """CutMix/mixup, weight averaging and class-balanced weights, when the model was trained
    with them."""
    parts = []
    if training.get("mix_prob"):
        parts.append(f"CutMix or mixup on {training['mix_prob']:.0%} of batches")
    if training.get("ema_decay"):
        # Each member records which of its weights ship; manifests before ensembles, the one.
        kinds = {
            "averaged" if m.get("weights") == "ema" else "live"
            for m in training.get("members") or [training]
        }
        parts.append(
            f"weights averaged with decay {training['ema_decay']} "
            f"(the {' and '.join(sorted(kinds))} weights ship)"
        )
    whose = "the specialists' " if _has_specialists(training) else ""
    if training.get("balance_beta"):
        parts.append(
            f"{whose}loss weighted by (n_max / n_class) ^ {training['balance_beta']:g} from "
            f"{training['balance_from']:.0%} of the schedule on"
        )
    teacher = training.get("teacher")
    if teacher:
        parts.append(
            f"{'the general members ' if whose else ''}distilled: targets blend the votes "
            f"with {teacher['weight']:.0%} of a teacher model's probabilities (sha256 "
            f"{teacher['sha256'][:12]}, pipeline/emotion/distill.py)"
        )
    text = "; ".join(parts)
    return f" {text[:1].upper()}{text[1:]}." if parts else ""


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def _members_text(training: dict[str, Any], combined: str | None = None) -> str:
    """How each network was trained and, for an ensemble, how each scores alone (manifests
    written before ensembles name one network's seed, epochs and minutes at the top level)."""
    members = training.get("members") or [
        {k: training[k] for k in ("seed", "epochs", "train_minutes")}
    ]
    if len(members) == 1:
        (only,) = members
        source = only.get("recovered_from")
        recovered = (
            f" Weights recovered from the {source['precision']} graph of model "
            f"{source['version']} (pipeline/emotion/recover.py) and exported again."
            if source
            else ""
        )
        return (
            f"{_epochs(only['epochs'])} ({only['train_minutes']} min on 2 CPU cores), "
            f"seed {only['seed']}.{_fine_tune_text(only.get('fine_tuned_from'))}{recovered}"
            f"{_cut_text(only.get('pruned_from'))}{_refit_text(only.get('head_refit'))}"
        )
    each = "; ".join(
        f"{'specialist, ' if m.get('role') == 'specialist' else ''}seed {m['seed']}, "
        f"{_epochs(m['epochs'])} in {m['train_minutes']} min"
        + (
            f" fine-tuning a network of {_epochs(m['fine_tuned_from']['epochs'])}"
            if m.get("fine_tuned_from")
            else ""
        )
        + (
            f", cut from widths {_widths_text(m['pruned_from'])} untrained since"
            if m.get("pruned_from")
            else ""
        )
        + (
            f", head re-fitted (beta {m['head_refit']['beta']}, pull {m['head_refit']['pull']})"
            if m.get("head_refit") and not m["head_refit"].get("kept_trained_head")
            else ""
        )
        + f", validation {m['valid_accuracy']:.2%} alone"
        for m in members
    )
    how = (
        f"{len(members)} networks trained from different seeds: {combined}"
        if _has_specialists(training) and combined
        else f"{len(members)} networks of this recipe trained from different seeds, their "
        "logits averaged"
    )
    return f"{how} ({each}; {training['train_minutes']} min on 2 CPU cores in all)."


def _widths_text(pruned: dict[str, Any]) -> str:
    return "-".join(str(w) for w in pruned["widths"])


def _cut_text(pruned: dict[str, Any] | None) -> str:
    """A network exported as ``prune`` cut it, with no training since: the epochs and minutes
    above are the wider network's, and its accuracy is what the cut kept of that network's."""
    if not pruned:
        return ""
    return (
        " Then cut to these widths from the channels of that wider network (widths "
        f"{_widths_text(pruned)}, pipeline/emotion/prune.py; checkpoint sha256 "
        f"{pruned['sha256'][:12]}) and exported without training since."
    )


def _refit_text(refit: dict[str, Any] | None) -> str:
    """A head re-fitted for balanced classes after training (pipeline/emotion/rebalance.py)."""
    if not refit:
        return ""
    if refit.get("kept_trained_head"):
        return (
            " No class-balanced re-fit of its head beat the trained one on the held-out fold "
            "(pipeline/emotion/rebalance.py): the trained head ships."
        )
    return (
        " Before this export its classifier head was re-fitted on the training faces' features "
        "with each "
        f"face's loss weighted by (n_max / n_class)^{refit['beta']} of its votes, held near the "
        f"trained head (pull {refit['pull']}; pipeline/emotion/rebalance.py), the pair chosen "
        "on the held-out fold: fold accuracy at the training class mix "
        f"{refit['fold_accuracy_before']:.2%} before, {refit['fold_accuracy']:.2%} after."
    )


def _fine_tune_text(start: dict[str, Any] | None) -> str:
    """Where a fine-tuned network's training began (train --init, pipeline/emotion/finetune.py),
    so the epochs and minutes above read as the fine-tune's, not the whole network's."""
    if not start:
        return ""
    source = start.get("recovered_from")
    origin = (
        f", recovered from the {source['precision']} graph of model {source['version']}"
        if source
        else ""
    )
    seed = f", seed {start['seed']}" if start.get("seed") is not None else ""
    pruned = start.get("pruned_from")
    network = (
        "a network cut from the channels of a wider one (widths "
        f"{_widths_text(pruned)}, pipeline/emotion/prune.py)"
        if pruned
        else "a network of the same widths"
    )
    return (
        f" Those epochs fine-tune {network} that had trained "
        f"{_epochs(start['epochs'])} ({start['train_minutes']} min{seed}"
        f"{origin}; checkpoint sha256 {start['sha256'][:12]})."
    )


def _adjustment_text(manifest: dict[str, Any]) -> str:
    adjustment = manifest.get("logit_adjustment")
    if not adjustment:
        return (
            " No rare-expression logit adjustment (pipeline/emotion/adjust.py): it is chosen on "
            "the held-out fold, which this model saw in training."
            if manifest["training"].get("holdout_in_training", True)
            else " No rare-expression logit adjustment: the probabilities stay calibrated "
            "(benchmarks/logit_adjustment.py measures what it would trade)."
        )
    bias = ", ".join(f"{k} {v:+.2f}" for k, v in adjustment["bias"].items() if v)
    tau = "" if adjustment.get("tau") is None else f": tau {adjustment['tau']:.2f}"
    return (
        f" Rare-expression logit adjustment{tau} ({adjustment['rule']}, "
        f"chosen on the {adjustment['chosen_on']}); logit bias {bias or 'none'}."
    )


def _mirror_rule_text(manifest: dict[str, Any]) -> str:
    """Which faces the classifier also scores from their mirror image, and why those."""
    mirror = manifest.get("mirror")
    if not mirror:
        return "flip-averaged inside the graph (every face)"
    if mirror.get("below") is None:
        return f"the mirror image's scores averaged in for every face ({mirror.get('rule', '')})"
    return (
        f"the mirror image's scores averaged in for faces whose top probability is below "
        f"{mirror['below']:.2f} ({mirror['rule']}; chosen on the {mirror['chosen_on']})"
    )


def _flip_text(manifest: dict[str, Any]) -> str:
    found = manifest.get("flip_averaging")
    if not found:
        return ""
    with_flip, without = found["with_flip"], found["without_flip"]
    every = found.get("every_face")
    if every is None:
        return (
            f" Flip averaging measured at export: validation accuracy "
            f"{with_flip['accuracy']:.2%} with the mirrored pass, {without['accuracy']:.2%} "
            f"without; {with_flip['ms_per_face']:.2f} vs {without['ms_per_face']:.2f} ms per "
            f"face ({found['accuracy_gain_points']:+.2f} points for "
            f"{found['extra_ms_per_face']:+.2f} ms)."
        )
    return (
        f" The mirrored pass measured at export on validation: for the unsure faces "
        f"({found['mirrored_share']:.0%} of them, as shipped) {with_flip['accuracy']:.2%} at "
        f"{with_flip['ms_per_face']:.2f} ms per face; for every face {every['accuracy']:.2%} at "
        f"{every['ms_per_face']:.2f} ms; for none {without['accuracy']:.2%} at "
        f"{without['ms_per_face']:.2f} ms ({found['accuracy_gain_points']:+.2f} points for "
        f"{found['extra_ms_per_face']:+.2f} ms as shipped). The share of faces mirrored, and "
        f"so the time per face, is higher where the model is unsure more often."
    )


def _precision_text(manifest: dict[str, Any]) -> str:
    """What int8 cost and bought, as export measured it; nothing for a float32 model."""
    comparison = manifest.get("int8_vs_float32")
    if not comparison:
        return ""
    int8, float32 = comparison["int8"], comparison["float32"]
    return (
        f" int8 against the same graph in float32, measured at export: validation accuracy "
        f"{int8['accuracy']:.2%} vs {float32['accuracy']:.2%}, the same top expression for "
        f"{comparison['same_top_expression']:.1%} of the faces; {int8['ms_per_face']:.2f} vs "
        f"{float32['ms_per_face']:.2f} ms per face ({comparison['speed_ratio']:.2f}x the time)."
    )


def render_model_card(manifest: dict[str, Any]) -> str:
    """Short human-readable card; the dashboard's About page shows the same facts."""
    validation = manifest["validation"]
    speed = manifest.get("speed")
    speed_text = (
        f" Speed: {speed['ms_per_face']:.2f} ms per face ({speed['runtime']}, batch "
        f"{speed['batch']}, {speed['threads']} threads, on the machine that made this card: "
        f"{speed.get('cpu', 'CPU not recorded')})."
        if speed
        else ""
    )
    recipe = _recipe_text(manifest["training"])
    members = _members_text(manifest["training"], manifest["architecture"].get("combined"))
    return f"""# Model card: {manifest["name"]} {manifest["version"]}

**What it does.** Scores a face crop on eight facial *expressions*
({", ".join(manifest["labels"])}). It reads the configuration of the face, not an inner state:
a facial expression is not proof of emotion, and it is never an identity. No face embeddings
are computed.

**Input.** {manifest["input"]["layout"]}, {manifest["input"]["colour"]},
{manifest["input"]["scaling"]}. Crop: {manifest["input"]["crop"]}.
**Output.** {manifest["output"]["meaning"]}, columns in the label order above;
{_mirror_rule_text(manifest)}, temperature {manifest["temperature"]:.3f}.{_flip_text(manifest)}

**Architecture.** {manifest["architecture"]["kind"]}, widths {manifest["architecture"]["widths"]},
{manifest["architecture"]["blocks"]} block(s) per stage,
{manifest["architecture"]["parameters"]:,} parameters, {manifest["size_bytes"] / 1e6:.1f} MB ONNX
({manifest["architecture"].get("stored", "weights in float32")}).{_precision_text(manifest)}

**Training.** {manifest["training"]["data"]}; {manifest["training"]["loss"]};
{members}{recipe}{_adjustment_text(manifest)}

**Validation** ({validation["split"]}, {validation["faces"]} faces): accuracy
**{validation["accuracy"]:.1%}**, expected calibration error {validation["ece"]:.3f},
NLL {validation["nll"]:.3f}.{speed_text} Test-split figures are measured independently of this
project. Validation holds few contempt and disgust faces: read their recall with its interval.

{_validation_tables(manifest)}

{_holdout_section(manifest)}
{_alignment_section(manifest)}
**Limits.** FER2013 faces are web images, mostly frontal, with skewed classes (contempt and
disgust are rare: their recall is the least reliable). Accuracy across age, gender and skin tone
has not been measured, because FER+ carries no such labels; do not use scores about a single
person, and report crowds only above the minimum crowd size.

**Licence.** Images: {manifest["licence"]["images"]}. Labels: {manifest["licence"]["labels"]}.
Model: {manifest["licence"]["model"]}.

sha256 `{manifest["sha256"]}`
"""


def main(argv: list[str] | None = None) -> None:
    from pipeline.settings import get_setting

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path(get_setting("EMOTION_MODEL_PATH")))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    manifest = json.loads(manifest_path_for(args.model).read_text())
    publish(args.model, manifest, args.data_dir)
    print(f"re-measured {args.model}; wrote {manifest_path_for(args.model)} and MODEL_CARD.md")


if __name__ == "__main__":
    main()
