"""Export trained checkpoints: temperature fit on validation, ONNX graph, manifest, model card
(the measuring and the card are pipeline/emotion/card.py).

Run: ``python -m pipeline.emotion.export runs/emotion/best.pt --out pipeline/models``; with
several checkpoints (seeds of the same recipe) the graph averages their logits, an ensemble
(the README has what a pair measured against one network). Metrics in the manifest are
measured on the exported ONNX file itself through onnxruntime, so they describe exactly what
ships.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
import torch

from pipeline.emotion.adjust import (
    BIAS_CAP,
    BIAS_STEP,
    RULES,
    TARGET_RECALL,
    bias_by_label,
    choose_rare_bias,
    choose_tau,
    prior_bias,
    training_prior,
)
from pipeline.emotion.card import publish
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import FerplusSplit, default_dataset_dir, load_split
from pipeline.emotion.flip_check import compare_flip
from pipeline.emotion.half_weights import store_weights_as_half
from pipeline.emotion.holdout import RARE_CLASSES, holdout_mask, saw_fold
from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import manifest_path_for, sha256_of
from pipeline.emotion.metrics import fit_temperature, majority_accuracy
from pipeline.emotion.mirror import EVERY_FACE, THRESHOLDS, choose_threshold
from pipeline.emotion.network import ExportWrapper, ExpressionNet, LogitAverage, SpecialistMix
from pipeline.emotion.precision_check import compare_precision
from pipeline.emotion.preprocess import INPUT_SIZE, to_model_input
from pipeline.emotion.quantize import DESCRIPTION as INT8_DESCRIPTION
from pipeline.emotion.quantize import append_calibration, calibration_faces, quantize_graph
from pipeline.emotion.train import predict_logits, predict_views

MODEL_FILE = "emotion.onnx"
INPUT_NAME = "faces"


def _write_onnx(wrapper: ExportWrapper, path: Path) -> None:
    """The float32 graph, its large weights stored in float16 (pipeline/emotion/half_weights.py)."""
    _write_float_onnx(wrapper, path)
    store_weights_as_half(path)


def _write_float_onnx(wrapper: ExportWrapper, path: Path) -> None:
    wrapper.eval()
    output = "probabilities" if wrapper.calibrated else "scores"
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=[INPUT_NAME],
        output_names=[output],
        dynamic_axes={INPUT_NAME: {0: "batch"}, output: {0: "batch"}},
    )


def _write_int8_onnx(
    net: torch.nn.Module,
    path: Path,
    faces: np.ndarray,
    flip: bool = False,
    calibration: tuple[float, np.ndarray] | None = None,
) -> None:
    """The int8 graph of ``net`` (pipeline/emotion/quantize.py), ending at its uncalibrated
    scores, or, given (temperature, bias (8,)), at the calibrated probabilities."""
    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / MODEL_FILE
        _write_float_onnx(ExportWrapper(net, 1.0, flip=flip, calibrated=False), float_path)
        quantize_graph(float_path, path, INPUT_NAME, faces)
    if calibration is not None:
        append_calibration(path, *calibration)


def _file_scores(path: Path, images: np.ndarray) -> np.ndarray:
    """float32 (N, 8) scores of uint8 faces from a one-view graph file that ends at its
    uncalibrated scores, averaged with those of their mirror images: a temperature and a bias
    fitted on them are fitted on what the file computes for a mirrored face."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = to_model_input(images)
    views = [
        np.concatenate(
            [
                session.run(None, {INPUT_NAME: view[start : start + 256]})[0]
                for start in range(0, len(view), 256)
            ]
        )
        for view in (inputs, np.ascontiguousarray(inputs[..., ::-1]))
    ]
    return 0.5 * (views[0] + views[1])


def _mirror_rule(model_path: Path, fold_images: np.ndarray | None) -> dict[str, Any]:
    """When the shipped file's classifier scores the mirror image too (pipeline/emotion/
    mirror.py): the threshold chosen on the held-out fold's faces (uint8 (N, 48, 48)) from the
    file's own probabilities, or every face when the model trained on the fold (None)."""
    if fold_images is None:
        return {
            "below": None,
            "rule": "every face: the model trained on the held-out fold, so no unseen faces "
            "were left to choose a threshold on",
            "chosen_on": None,
        }
    classifier = ExpressionClassifier(model_path, mirror_below=0.0)
    below, table = choose_threshold(
        classifier.predict_proba(fold_images),
        classifier.predict_proba(np.ascontiguousarray(fold_images[:, :, ::-1])),
    )
    return {
        "below": None if below == EVERY_FACE else below,
        "rule": "smallest threshold on one view's top probability, in steps of 0.05 from "
        f"{THRESHOLDS[0]} to {THRESHOLDS[-1]}, at which no fold face changes its top "
        "expression against mirroring every face; faces below it get the mirrored pass, "
        "combined by the geometric mean of both views' probabilities (= the mean of logits)",
        "chosen_on": "held-out fold (pipeline/emotion/holdout.py), never validation",
        "fold_by_threshold": table,
    }


def _load_member(checkpoint_path: Path) -> tuple[ExpressionNet, dict[str, Any]]:
    """One trained network (eval mode) and what its checkpoint says about its training."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    net = ExpressionNet(tuple(config["widths"]), config["blocks"])
    net.load_state_dict(checkpoint["model"])
    net.eval()
    return net, {**config, "state": checkpoint["state"]}


def _member_record(
    config: dict[str, Any], valid_logits: np.ndarray, labels: np.ndarray, role: str
) -> dict[str, Any]:
    """A member's line in the manifest, with its own validation accuracy (flip-averaged, as
    shipped) so that the card shows what averaging the members adds."""
    return {
        "seed": config["seed"],
        "role": role,
        "epochs": config["state"]["epoch"],
        "train_minutes": round(config["state"]["elapsed_s"] / 60, 1),
        "weights": config.get("weights", "live"),
        "teacher_sha256": (config.get("teacher") or {}).get("sha256"),
        "valid_accuracy": majority_accuracy(valid_logits, labels),
        **({"recovered_from": config["recovered_from"]} if config.get("recovered_from") else {}),
        **({"fine_tuned_from": config["init"]} if config.get("init") else {}),
        # A network cut by pipeline/emotion/prune.py and exported without training since.
        **({"pruned_from": config["pruned_from"]} if config.get("pruned_from") else {}),
        # A head re-fitted for balanced classes by pipeline/emotion/rebalance.py.
        **({"head_refit": config["head_refit"]} if config.get("head_refit") else {}),
    }


def _is_specialist(config: dict[str, Any]) -> bool:
    return bool(config.get("balance_beta", 0.0))


def _shared_recipe(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """The recipe every member was trained with; members of different recipes are refused
    (the manifest describes one architecture and one recipe). The one difference allowed is
    class-balanced weighting, between general members and specialists (SpecialistMix)."""
    keys = ("widths", "blocks", "mix_prob", "ema_decay", "balance_beta", "teacher")
    recipes = [
        {key: list(c[key]) if key == "widths" else c.get(key, 0.0) for key in keys} for c in configs
    ]
    for recipe, config in zip(recipes, configs, strict=True):
        recipe["teacher"] = config.get("teacher") or None
        # When re-weighting took over matters only when there was re-weighting.
        recipe["balance_from"] = config.get("balance_from") if recipe["balance_beta"] else None
    weighted = [recipe for recipe in recipes if recipe["balance_beta"]]
    unweighted = [recipe for recipe in recipes if not recipe["balance_beta"]]
    for group in (weighted, unweighted):
        if any(recipe != group[0] for recipe in group):
            raise ValueError(f"an ensemble's members must share one recipe, got {recipes}")
    if not (weighted and unweighted):
        return recipes[0]
    # Specialists may differ from the general members in their weighting and in whether they
    # were distilled; the recipe recorded is the general members', with the specialists'
    # weighting.
    own = ("balance_beta", "balance_from", "teacher")
    common = {k: v for k, v in unweighted[0].items() if k not in own}
    if any(common[k] != weighted[0][k] for k in common):
        raise ValueError(f"specialists must share the general members' recipe, got {recipes}")
    return {
        **unweighted[0],
        "balance_beta": weighted[0]["balance_beta"],
        "balance_from": weighted[0]["balance_from"],
    }


def _combine(
    nets: list[ExpressionNet], configs: list[dict[str, Any]]
) -> tuple[ExpressionNet | LogitAverage | SpecialistMix, str | None]:
    """The network that ships and how it combines its members, by their roles: unweighted
    members alone are averaged; class-balanced members next to them become specialists for
    the rare expressions."""
    specialist = [_is_specialist(config) for config in configs]
    if len(nets) == 1:
        return nets[0], None
    if all(specialist) or not any(specialist):
        return LogitAverage(nets), "mean of the members' logits"
    general = [net for net, s in zip(nets, specialist, strict=True) if not s]
    specialists = [net for net, s in zip(nets, specialist, strict=True) if s]
    rare = [LABELS.index(name) for name in RARE_CLASSES]
    from_general = (
        "the unweighted network's log-probabilities"
        if len(general) == 1
        else f"the mean log-probabilities of the {len(general)} unweighted networks"
    )
    from_specialists = (
        "the class-balanced specialist's"
        if len(specialists) == 1
        else f"the mean of the {len(specialists)} class-balanced specialists'"
    )
    return SpecialistMix(general, specialists, rare), (
        f"{from_general}, with those of {', '.join(RARE_CLASSES)} taken from {from_specialists}"
    )


def _graph_scores(
    net: ExpressionNet | LogitAverage | SpecialistMix,
    views: list[tuple[np.ndarray, np.ndarray]],
    configs: list[dict[str, Any]],
) -> np.ndarray:
    """The combined graph's flip-averaged scores (N, 8), before temperature, from each member's
    logits of the faces and of their mirror images (as ExportWrapper computes them)."""
    if not isinstance(net, SpecialistMix):
        return np.mean([0.5 * (faces + mirrored) for faces, mirrored in views], axis=0)
    specialist = [_is_specialist(config) for config in configs]
    mixed_views = []
    for side in (0, 1):
        logits = [torch.from_numpy(view[side]) for view in views]
        general = [z for z, s in zip(logits, specialist, strict=True) if not s]
        specialists = [z for z, s in zip(logits, specialist, strict=True) if s]
        with torch.no_grad():
            mixed_views.append(net.mix(general, specialists).numpy())
    return 0.5 * (mixed_views[0] + mixed_views[1])


def _rare_adjustment(
    fold_scores: np.ndarray, fold_labels: np.ndarray, train: FerplusSplit, rule: str
) -> dict[str, object]:
    """The logit adjustment chosen on the held-out fold (pipeline/emotion/adjust.py) from the
    graph's calibrated scores (N, 8) of the fold's faces."""
    probs = torch.softmax(torch.from_numpy(fold_scores), dim=1).numpy()
    chosen_on = "held-out fold (pipeline/emotion/holdout.py), never validation"
    if rule in ("per-class", "confident"):
        confident = rule == "confident"
        bias, steps, reached = choose_rare_bias(probs, fold_labels, confident=confident)
        reaching = (
            "fold recall whose 95 % Wilson interval starts at or above"
            if confident
            else "fold recall"
        )
        return {
            "rule_name": rule,
            "tau": None,
            "bias": bias_by_label(bias),
            "reached": reached,
            "chosen_on": chosen_on,
            "rule": f"smallest bias per rare expression, in steps of {BIAS_STEP} up to "
            f"{BIAS_CAP}, reaching {reaching} {TARGET_RECALL} for {', '.join(RARE_CLASSES)}"
            + ("" if reached else "; not reached by all: those keep their best fold recall"),
            "fold_recall_by_bias": [{"bias": b, **recall} for b, recall in steps],
        }
    prior = training_prior(train)
    tau, table = choose_tau(probs, fold_labels, prior)
    return {
        "rule_name": "prior",
        "tau": tau,
        "bias": bias_by_label(prior_bias(prior, tau)),
        "chosen_on": chosen_on,
        "rule": f"smallest tau reaching fold recall {TARGET_RECALL} for {', '.join(RARE_CLASSES)}",
        "fold_recall_by_tau": [{"tau": t, **recall} for t, recall in table],
    }


def export_checkpoint(
    checkpoint_paths: str | Path | Sequence[str | Path],
    out_dir: Path,
    data_dir: Path | None = None,
    adjust_rare: bool | Literal["prior", "per-class", "confident"] = False,
    int8: bool = False,
) -> Path:
    """Write ``emotion.onnx``, ``emotion.json`` and ``MODEL_CARD.md`` into out_dir.

    One checkpoint ships as it is; several ship as one graph that averages their logits, or,
    when class-balanced and unweighted runs are given together, a SpecialistMix.
    ``adjust_rare`` bakes in a rare-expression logit adjustment chosen on the held-out fold:
    True or "prior" for the prior shift, "per-class" for biases on the rare expressions only,
    "confident" for those biases with the fold's recall held to the target at its 95 % lower
    bound (pipeline/emotion/adjust.py). ``int8`` ships the graph quantized
    (pipeline/emotion/quantize.py), its temperature and bias fitted on the quantized graph's
    scores.
    """
    rule = "prior" if adjust_rare is True else adjust_rare or None
    if rule is not None and rule not in RULES:
        raise ValueError(f"unknown rare adjustment {rule!r}; choose one of {RULES}")
    one = isinstance(checkpoint_paths, (str, Path))
    paths = [Path(checkpoint_paths)] if one else [Path(p) for p in checkpoint_paths]
    loaded = [_load_member(path) for path in paths]
    recipe = _shared_recipe([config for _, config in loaded])
    folder = data_dir or default_dataset_dir()
    valid = load_split("valid", folder)
    labels = valid.majority_labels()
    nets = [member for member, _ in loaded]
    configs = [config for _, config in loaded]
    # Each member runs once on validation, on the faces and their mirror images: its own
    # accuracy and the shipped graph's scores both come from these.
    views = [predict_views(member, valid.images, torch.device("cpu")) for member in nets]
    net, combined = _combine(nets, configs)
    net.eval()
    mixed = isinstance(net, SpecialistMix)
    members = [
        _member_record(
            config,
            0.5 * (faces + mirrored),
            labels,
            "specialist" if mixed and _is_specialist(config) else "general",
        )
        for config, (faces, mirrored) in zip(configs, views, strict=True)
    ]
    seen_fold = any(saw_fold(c) for _, c in loaded)
    choose_bias = bool(rule) and not seen_fold
    # The training split gives the held-out fold (the mirror threshold, the bias) and the
    # int8 calibration faces.
    train = load_split("train", folder)
    fold = None if seen_fold else holdout_mask(train)
    faces = calibration_faces(train) if int8 else None

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    # The temperature and the bias are fitted on the scores of the arithmetic that ships:
    # the members' float32 logits, or the int8 graph's own output. The uncalibrated int8
    # graph waits in a folder of its own, so a failure never leaves it where a model ships.
    staging = Path(tempfile.mkdtemp(prefix="emotion-int8-")) if faces is not None else None
    scored = staging / MODEL_FILE if staging is not None else model_path
    if faces is not None:
        _write_int8_onnx(net, scored, faces)
        temperature = fit_temperature(_file_scores(scored, valid.images), labels)
    else:
        temperature = fit_temperature(_graph_scores(net, views, configs), labels)
    adjustment = None
    if fold is not None and choose_bias:
        fold_images = train.images[fold]
        fold_scores = (
            _file_scores(scored, fold_images)
            if faces is not None
            else predict_logits(net, fold_images, torch.device("cpu"))
        )
        adjustment = _rare_adjustment(
            fold_scores / temperature, train.majority_labels()[fold], train, rule
        )
    bias = np.zeros(len(LABELS))
    if adjustment is not None:
        bias = np.array([adjustment["bias"][name] for name in LABELS])  # type: ignore[index]

    if staging is not None:
        append_calibration(scored, temperature, bias)
        shutil.move(scored, model_path)
        shutil.rmtree(staging)
    else:
        _write_onnx(
            ExportWrapper(net, temperature, flip=False, bias=torch.from_numpy(bias)), model_path
        )
    sha256 = sha256_of(model_path)
    manifest = {
        "name": "reaction-expressions",
        # Jobs are keyed by model version, so two models exported the same day must differ:
        # the date says when, the start of the file's sha256 says which.
        "version": f"{dt.date.today():%Y.%m.%d}-{sha256[:8]}",
        "labels": list(LABELS),
        "input": {
            "name": INPUT_NAME,
            "size": INPUT_SIZE,
            "layout": "NCHW float32 (N, 1, 48, 48)",
            "colour": "grayscale (OpenCV BGR2GRAY weights)",
            "scaling": "pixel / 255, in [0, 1]; per-image standardisation is inside the graph",
            "resize": "INTER_AREA when shrinking, INTER_LINEAR when enlarging",
            "crop": "face box as found by a detector; trained with 0.8-1.25x zoom jitter",
        },
        "output": {
            "name": "probabilities",
            "meaning": "calibrated softmax over labels, of the face as given (one view); the "
            "classifier adds the mirror image's for unsure faces (see mirror)",
        },
        "temperature": temperature,
        "architecture": {
            "kind": "ResNet"
            if len(nets) == 1
            else f"{len(nets)} ResNets: general network(s) and class-balanced specialist(s)"
            if mixed
            else f"ensemble of {len(nets)} ResNets",
            "widths": recipe["widths"],
            "blocks": recipe["blocks"],
            "members": len(nets),
            "combined": combined,
            "parameters": sum(p.numel() for p in net.parameters()),
            "precision": "int8" if int8 else "float32",
            "stored": f"{INT8_DESCRIPTION} (pipeline/emotion/quantize.py)"
            if int8
            else "weights in float16, computed in float32 (pipeline/emotion/half_weights.py)",
        },
        "training": {
            "data": "FER+ train split (FER2013 Training rows), annotator vote distributions",
            "loss": "cross-entropy against the 8-emotion vote distribution (votes <= 1 removed)",
            "members": members,
            "train_minutes": round(sum(m["train_minutes"] for m in members), 1),
            "holdout_in_training": seen_fold,
            "mix_prob": recipe["mix_prob"],
            "ema_decay": recipe["ema_decay"],
            "balance_beta": recipe["balance_beta"],
            "balance_from": recipe["balance_from"],
            "teacher": recipe["teacher"],
        },
        "logit_adjustment": adjustment,
        "licence": {
            "images": "FER2013 (Goodfellow et al., 2013): research use",
            "labels": "FER+ annotations (Microsoft, MIT licence)",
            "model": "weights derived from the above; check both before commercial use",
        },
        "sha256": sha256,
        "size_bytes": model_path.stat().st_size,
    }
    # The shipped file's manifest must exist before it can be loaded to choose its mirror
    # threshold; the comparisons then run with the threshold in place.
    manifest_path_for(model_path).write_text(json.dumps(manifest))
    manifest["mirror"] = _mirror_rule(
        model_path, None if fold is None else np.asarray(train.images[fold])
    )
    manifest_path_for(model_path).write_text(json.dumps(manifest))
    manifest["flip_averaging"] = compare_flip(model_path, valid)
    if int8:
        manifest["int8_vs_float32"] = compare_precision(
            model_path,
            lambda path: _write_onnx(
                ExportWrapper(net, temperature, flip=False, bias=torch.from_numpy(bias)), path
            ),
            manifest,
            valid,
        )
    # Measure the file that ships, through the same code path as inference.
    publish(model_path, manifest, data_dir)
    print(
        json.dumps(
            {
                "temperature": temperature,
                "accuracy": manifest["validation"]["accuracy"],
                "ece": manifest["validation"]["ece"],
                "recall": manifest["validation"]["per_class_recall"],
                "holdout_recall": manifest["holdout"]["per_class_recall"],
            },
            indent=2,
        )
    )
    return model_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        help="best.pt of each run; several are averaged into one graph (an ensemble), or, "
        "with class-balanced runs beside unweighted ones, mixed (SpecialistMix)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--rare-adjustment",
        nargs="?",
        const="prior",
        choices=RULES,
        default=None,
        help="bake in a rare-expression logit adjustment chosen on the held-out fold "
        "(pipeline/emotion/adjust.py): 'prior' (the default rule) shifts every class by its "
        "frequency, 'per-class' raises only the rare expressions, 'confident' raises them until "
        "the fold's recall reaches the target at its 95 %% lower bound; off by default: it buys "
        "rare-class recall with calibration and rare-class precision "
        "(benchmarks/logit_adjustment.py)",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="quantize the convolutions and the head to int8 (pipeline/emotion/quantize.py): "
        "about half the time per face on the CPU; the card compares it with float32",
    )
    args = parser.parse_args(argv)
    export_checkpoint(args.checkpoints, args.out, args.data_dir, args.rare_adjustment, args.int8)


if __name__ == "__main__":
    main()
