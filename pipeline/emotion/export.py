"""Export a trained checkpoint: temperature fit on validation, ONNX graph, manifest, model card
(the measuring and the card are pipeline/emotion/card.py).

Run: ``python -m pipeline.emotion.export runs/emotion/best.pt --out pipeline/models``.
Metrics in the manifest are measured on the exported ONNX file itself through onnxruntime,
so they describe exactly what ships.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import torch

from pipeline.emotion.adjust import (
    TARGET_RECALL,
    bias_by_label,
    choose_tau,
    prior_bias,
    training_prior,
)
from pipeline.emotion.card import publish
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.flip_check import compare_flip
from pipeline.emotion.holdout import RARE_CLASSES, holdout_mask
from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import manifest_path_for, sha256_of
from pipeline.emotion.metrics import fit_temperature
from pipeline.emotion.network import ExportWrapper, ExpressionNet
from pipeline.emotion.preprocess import INPUT_SIZE
from pipeline.emotion.train import predict_logits

MODEL_FILE = "emotion.onnx"
INPUT_NAME = "faces"


def _write_onnx(wrapper: ExportWrapper, path: Path) -> None:
    wrapper.eval()
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=[INPUT_NAME],
        output_names=["probabilities"],
        dynamic_axes={INPUT_NAME: {0: "batch"}, "probabilities": {0: "batch"}},
    )


def _rare_adjustment(
    net: ExpressionNet, temperature: float, folder: Path, seen_fold: bool
) -> dict[str, object] | None:
    """The logit adjustment chosen on the held-out fold (pipeline/emotion/adjust.py), or None
    when the model trained on the fold (its fold probabilities are too optimistic to choose
    by)."""
    if seen_fold:
        return None
    train = load_split("train", folder)
    fold = holdout_mask(train)
    logits = predict_logits(net, train.images[fold], torch.device("cpu")) / temperature
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    prior = training_prior(train)
    tau, table = choose_tau(probs, train.majority_labels()[fold], prior)
    return {
        "tau": tau,
        "bias": bias_by_label(prior_bias(prior, tau)),
        "chosen_on": "held-out fold (pipeline/emotion/holdout.py), never validation",
        "rule": f"smallest tau reaching fold recall {TARGET_RECALL} for {', '.join(RARE_CLASSES)}",
        "fold_recall_by_tau": [{"tau": t, **recall} for t, recall in table],
    }


def export_checkpoint(
    checkpoint_path: Path,
    out_dir: Path,
    data_dir: Path | None = None,
    adjust_rare: bool = False,
) -> Path:
    """Write ``emotion.onnx``, ``emotion.json`` and ``MODEL_CARD.md`` into out_dir."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    net = ExpressionNet(tuple(config["widths"]), config["blocks"])
    net.load_state_dict(checkpoint["model"])
    net.eval()
    folder = data_dir or default_dataset_dir()
    valid = load_split("valid", folder)
    labels = valid.majority_labels()
    temperature = fit_temperature(predict_logits(net, valid.images, torch.device("cpu")), labels)
    # Checkpoints made before the fold existed trained on it.
    seen_fold = bool(config.get("holdout_in_training", True))
    adjustment = _rare_adjustment(net, temperature, folder, seen_fold) if adjust_rare else None
    bias = None
    if adjustment is not None:
        bias = torch.tensor([adjustment["bias"][name] for name in LABELS])  # type: ignore[index]

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    _write_onnx(ExportWrapper(net, temperature, bias=bias), model_path)
    manifest = {
        "name": "reaction-expressions",
        "version": dt.date.today().strftime("%Y.%m.%d"),
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
        "output": {"name": "probabilities", "meaning": "calibrated softmax over labels"},
        "flip_averaged": True,
        "temperature": temperature,
        "architecture": {
            "kind": "ResNet",
            "widths": config["widths"],
            "blocks": config["blocks"],
            "seed": config["seed"],
            "parameters": sum(p.numel() for p in net.parameters()),
        },
        "training": {
            "data": "FER+ train split (FER2013 Training rows), annotator vote distributions",
            "loss": "cross-entropy against the 8-emotion vote distribution (votes <= 1 removed)",
            "epochs": checkpoint["state"]["epoch"],
            "train_minutes": round(checkpoint["state"]["elapsed_s"] / 60, 1),
            "seed": config["seed"],
            "holdout_in_training": seen_fold,
            "mix_prob": config.get("mix_prob", 0.0),
            "ema_decay": config.get("ema_decay", 0.0),
            "weights": config.get("weights", "live"),
        },
        "logit_adjustment": adjustment,
        "licence": {
            "images": "FER2013 (Goodfellow et al., 2013): research use",
            "labels": "FER+ annotations (Microsoft, MIT licence)",
            "model": "weights derived from the above; check both before commercial use",
        },
        "sha256": sha256_of(model_path),
        "size_bytes": model_path.stat().st_size,
    }
    # The shipped file's manifest must exist before it can be loaded for the comparison.
    manifest_path_for(model_path).write_text(json.dumps(manifest))
    manifest["flip_averaging"] = compare_flip(
        model_path,
        lambda path: _write_onnx(ExportWrapper(net, temperature, flip=False, bias=bias), path),
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
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--rare-adjustment",
        action="store_true",
        help="bake in the rare-expression logit adjustment chosen on the held-out fold "
        "(pipeline/emotion/adjust.py); off by default: it buys rare-class recall with "
        "calibration and rare-class precision (benchmarks/logit_adjustment.py)",
    )
    args = parser.parse_args(argv)
    export_checkpoint(args.checkpoint, args.out, args.data_dir, args.rare_adjustment)


if __name__ == "__main__":
    main()
