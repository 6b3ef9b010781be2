"""Export a trained checkpoint: temperature fit on validation, ONNX graph, manifest, model card.

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

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import manifest_path_for, sha256_of
from pipeline.emotion.metrics import classification_report, fit_temperature
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


def export_checkpoint(checkpoint_path: Path, out_dir: Path, data_dir: Path | None = None) -> Path:
    """Write ``emotion.onnx``, ``emotion.json`` and ``MODEL_CARD.md`` into out_dir."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    net = ExpressionNet(tuple(config["widths"]), config["blocks"])
    net.load_state_dict(checkpoint["model"])
    net.eval()
    valid = load_split("valid", data_dir or default_dataset_dir())
    labels = valid.majority_labels()
    temperature = fit_temperature(predict_logits(net, valid.images, torch.device("cpu")), labels)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    _write_onnx(ExportWrapper(net, temperature), model_path)
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
            **config,
            "parameters": sum(p.numel() for p in net.parameters()),
        },
        "training": {
            "data": "FER+ train split (FER2013 Training rows), annotator vote distributions",
            "loss": "cross-entropy against the 8-emotion vote distribution (votes <= 1 removed)",
            "epochs": checkpoint["state"]["epoch"],
            "train_minutes": round(checkpoint["state"]["elapsed_s"] / 60, 1),
            "seed": config["seed"],
        },
        "licence": {
            "images": "FER2013 (Goodfellow et al., 2013): research use",
            "labels": "FER+ annotations (Microsoft, MIT licence)",
            "model": "weights derived from the above; check both before commercial use",
        },
        "sha256": sha256_of(model_path),
        "size_bytes": model_path.stat().st_size,
    }
    manifest_path = manifest_path_for(model_path)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")

    # Measure the file that ships, through the same code path as inference.
    report = classification_report(
        ExpressionClassifier(model_path).predict_proba(valid.images), labels
    )
    manifest["validation"] = {
        "split": "FER+ valid (FER2013 PublicTest), majority rule",
        **report.as_dict(),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(render_model_card(manifest))
    print(
        json.dumps(
            {
                "temperature": temperature,
                "accuracy": report.accuracy,
                "ece": report.ece,
                "recall": report.per_class_recall,
            },
            indent=2,
        )
    )
    return model_path


def render_model_card(manifest: dict) -> str:
    """Short human-readable card; the dashboard's About page shows the same facts."""
    validation = manifest["validation"]
    recall_rows = "\n".join(
        f"| {name} | {validation['per_class_recall'][name]:.1%} |" for name in manifest["labels"]
    )
    return f"""# Model card: {manifest["name"]} {manifest["version"]}

**What it does.** Scores a face crop on eight facial *expressions*
({", ".join(manifest["labels"])}). It reads the configuration of the face, not an inner state:
a facial expression is not proof of emotion, and it is never an identity. No face embeddings
are computed.

**Input.** {manifest["input"]["layout"]}, {manifest["input"]["colour"]},
{manifest["input"]["scaling"]}. Crop: {manifest["input"]["crop"]}.
**Output.** {manifest["output"]["meaning"]}, columns in the label order above; flip-averaged,
temperature {manifest["temperature"]:.3f}.

**Architecture.** {manifest["architecture"]["kind"]}, widths {manifest["architecture"]["widths"]},
{manifest["architecture"]["blocks"]} block(s) per stage,
{manifest["architecture"]["parameters"]:,} parameters, {manifest["size_bytes"] / 1e6:.1f} MB ONNX.

**Training.** {manifest["training"]["data"]}; {manifest["training"]["loss"]};
{manifest["training"]["epochs"]} epochs ({manifest["training"]["train_minutes"]} min on 2 CPU
cores), seed {manifest["training"]["seed"]}.

**Validation** ({validation["split"]}, {validation["faces"]} faces): accuracy
**{validation["accuracy"]:.1%}**, expected calibration error {validation["ece"]:.3f},
NLL {validation["nll"]:.3f}. Test-split figures are measured independently of this project.

| expression | recall |
|---|---|
{recall_rows}

**Limits.** FER2013 faces are web images, mostly frontal, with skewed classes (contempt and
disgust are rare: their recall is the least reliable). Accuracy across age, gender and skin tone
has not been measured, because FER+ carries no such labels; do not use scores about a single
person, and report crowds only above the minimum crowd size.

**Licence.** Images: {manifest["licence"]["images"]}. Labels: {manifest["licence"]["labels"]}.
Model: {manifest["licence"]["model"]}.

sha256 `{manifest["sha256"]}`
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    export_checkpoint(args.checkpoint, args.out, args.data_dir)


if __name__ == "__main__":
    main()
