"""Rebuild a training checkpoint from an exported graph, so a shipped model can be exported
again (new quantization settings, calibration or bias rule) without its training run's files.

Run: ``python -m pipeline.emotion.recover pipeline/models/emotion.onnx runs/recovered/best.pt``,
then ``python -m pipeline.emotion.export runs/recovered/best.pt ...`` as after training.

Why: a training run's checkpoints live on the machine that trained (hours of CPU); the model
file is what every later machine has. Each convolution of the exported graph already holds its
batch normalisation folded in (weight and bias), and the graph keeps the network's module
names (``/net/stages/stages.2/conv1/Conv``), so the float network is recovered exactly up to the
storage: an int8 graph gives back its int8 weights times their scales, which the network then
computes in float32. The recovered batch normalisations are identities carrying the folded
biases. Only single-network graphs (one ``ExpressionNet`` under the export wrapper, with the
mirrored pass inside, as models up to 2026.12.07-f08577e7 had it, or without) are supported:
ensembles and specialist mixes name their members differently.

The checkpoint's configuration comes from the model's manifest (widths, blocks, the member's
seed, epochs and minutes), with ``recovered_from`` naming the file, so the next manifest says
where its weights came from.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from pipeline.emotion.manifest import ModelManifest, sha256_of
from pipeline.emotion.network import ExpressionNet

# A node of the first (unmirrored) pass: "/net/<module path>/Conv" or ".../Gemm"; the mirrored
# pass's copies end their module name in "_1" and share the same weights.
_NODE = re.compile(r"^/net/(?P<path>.+)/(?P<op>Conv|Gemm)$")
_MIRRORED = re.compile(r"_\d+$")


class RecoveryError(ValueError):
    """The graph is not one the recovery understands."""


def _float_tensors(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every constant of the graph as float32: initializers, and the outputs of the nodes
    that widen them: ``Cast`` (float16 storage, pipeline/emotion/half_weights.py) and
    ``DequantizeLinear`` (the int8 weights and int32 biases of an int8 graph)."""
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    tensors = {name: value.astype(np.float32) for name, value in values.items()}
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0] in values:
            tensors[node.output[0]] = values[node.input[0]].astype(np.float32)
        if node.op_type != "DequantizeLinear" or node.input[0] not in values:
            continue
        quantized = values[node.input[0]].astype(np.float64)
        scale = values[node.input[1]].astype(np.float64)
        zero = values[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros(1)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * quantized.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        tensors[node.output[0]] = ((quantized - zero) * scale).astype(np.float32)
    return tensors


def _prefix(path: str) -> str:
    parts = path.split("/")
    # Each nn.Sequential level repeats its name in the next part ("stem/stem.0").
    kept = [
        p
        for i, p in enumerate(parts)
        if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))
    ]
    return ".".join(kept)


def recovered_state(
    model_path: Path, widths: tuple[int, ...], blocks: int
) -> dict[str, torch.Tensor]:
    """The state_dict of an ``ExpressionNet(widths, blocks)`` that computes what the graph at
    ``model_path`` computes before its calibration (temperature, bias, softmax)."""
    graph = onnx.load(str(model_path)).graph
    tensors = _float_tensors(graph)
    net = ExpressionNet(widths, blocks)
    state = {name: value.clone() for name, value in net.state_dict().items()}
    filled: set[str] = set()
    for node in graph.node:
        match = _NODE.match(node.name)
        if match is None or any(_MIRRORED.search(p) for p in match["path"].split("/")):
            continue
        prefix = _prefix(match["path"])
        if len(node.input) < 3 or not node.input[2]:
            raise RecoveryError(f"{node.name}: no bias (batch normalisation was not folded in)")
        weight, bias = (tensors.get(name) for name in node.input[1:3])
        if weight is None or bias is None:
            raise RecoveryError(f"{node.name}: its weight or bias is not a constant")
        if match["op"] == "Gemm":
            transposed = next((a.i for a in node.attribute if a.name == "transB"), 0)
            weight = weight if transposed else weight.T
        _check_layer(state, prefix, weight, node.name, widths)
        state[f"{prefix}.weight"] = torch.from_numpy(weight.copy())
        if match["op"] == "Gemm":
            state[f"{prefix}.bias"] = torch.from_numpy(bias.copy())
            filled.update({f"{prefix}.weight", f"{prefix}.bias"})
            continue
        norm = _norm_after(prefix)
        if f"{norm}.weight" not in state:
            raise RecoveryError(f"{node.name}: no batch normalisation after it in the network")
        # The batch normalisation becomes an identity that adds the folded bias: with a
        # running mean of 0 and a variance of 1, its scale is weight / sqrt(1 + eps).
        eps = float(getattr(net.get_submodule(norm), "eps", 1e-5))
        channels = bias.shape[0]
        state[f"{norm}.weight"] = torch.full((channels,), math.sqrt(1 + eps))
        state[f"{norm}.bias"] = torch.from_numpy(bias.copy())
        state[f"{norm}.running_mean"] = torch.zeros(channels)
        state[f"{norm}.running_var"] = torch.ones(channels)
        filled.update({f"{prefix}.weight", f"{norm}.weight", f"{norm}.bias"})
    missing = [
        name
        for name, value in state.items()
        if value.dtype.is_floating_point
        and not name.endswith(("running_mean", "running_var"))
        and name not in filled
    ]
    if missing:
        raise RecoveryError(f"the graph holds no weights for {', '.join(missing[:5])}")
    return state


def _check_layer(
    state: dict[str, torch.Tensor],
    prefix: str,
    weight: np.ndarray,
    node: str,
    widths: tuple[int, ...],
) -> None:
    """Refuse a graph layer that the network lacks or holds in another shape."""
    wanted = state.get(f"{prefix}.weight")
    if wanted is None:
        raise RecoveryError(f"{node}: no such layer in ExpressionNet{widths}")
    if tuple(wanted.shape) != weight.shape:
        raise RecoveryError(
            f"{node}: weight {weight.shape}, the network wants {tuple(wanted.shape)}"
        )


def _norm_after(conv: str) -> str:
    """The batch normalisation that follows a convolution, by ExpressionNet's naming:
    stem.0 -> stem.1, stages.2.conv1 -> stages.2.bn1, stages.2.shortcut.0 -> .shortcut.1."""
    head, _, last = conv.rpartition(".")
    if last.isdigit():
        return f"{head}.{int(last) + 1}"
    return f"{head}.bn{last.removeprefix('conv')}"


def _single_network(raw: dict[str, Any]) -> dict[str, Any]:
    """The one member of a manifest from before ensembles (model 2026.12.01), which names the
    network's seed, epochs and minutes at the top of "training" instead of in a list of
    members: its file is the only network of the recipe's own widths that is still at hand."""
    training = raw["training"]
    return {
        "seed": training["seed"],
        "epochs": training["epochs"],
        "train_minutes": training["train_minutes"],
        "weights": training.get("weights", "live"),
        "valid_accuracy": raw.get("validation", {}).get("accuracy", 0.0),
    }


def recover_checkpoint(model_path: Path, out_path: Path) -> Path:
    """Write a checkpoint of the model at ``model_path`` (as ``train`` writes best.pt)."""
    manifest = ModelManifest.load(model_path)
    sha256 = sha256_of(model_path)
    if manifest.sha256 != sha256:
        raise RecoveryError(f"{model_path.name} is not the file its manifest describes (sha256)")
    raw = manifest.raw
    architecture, training = raw["architecture"], raw["training"]
    if architecture.get("members", 1) != 1:
        raise RecoveryError("only single-network models can be recovered")
    widths, blocks = tuple(architecture["widths"]), int(architecture["blocks"])
    member = (training.get("members") or [_single_network(raw)])[0]
    config: dict[str, Any] = {
        "widths": list(widths),
        "blocks": blocks,
        "seed": member["seed"],
        "holdout_in_training": bool(training.get("holdout_in_training", True)),
        "mix_prob": training.get("mix_prob", 0.0),
        "ema_decay": training.get("ema_decay", 0.0),
        "balance_beta": training.get("balance_beta", 0.0),
        "balance_from": training.get("balance_from"),
        "teacher": training.get("teacher"),
        "weights": member.get("weights", "live"),
        # A fine-tuned network stays one: exported again, its card still says where its
        # training began, and a fine-tune of it still knows whether that start saw the fold.
        "init": member.get("fine_tuned_from"),
        "recovered_from": {
            "version": manifest.version,
            "sha256": sha256,
            "precision": architecture.get("precision", "float32"),
        },
    }
    state = {
        "epoch": member["epochs"],
        "elapsed_s": member["train_minutes"] * 60,
        "best_acc": member.get("valid_accuracy", 0.0),
    }
    payload = {
        "model": recovered_state(model_path, widths, blocks),
        "config": config,
        "state": state,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, out_path)
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path, help="an exported emotion.onnx with its manifest")
    parser.add_argument("out", type=Path, help="where the checkpoint goes (best.pt)")
    args = parser.parse_args(argv)
    try:
        path = recover_checkpoint(args.model, args.out)
    except (ValueError, KeyError, OSError) as error:  # RecoveryError, bad JSON, no file
        parser.exit(2, f"error: cannot recover {args.model}: {error}\n")
    print(json.dumps({"checkpoint": str(path)}))


if __name__ == "__main__":
    main()
