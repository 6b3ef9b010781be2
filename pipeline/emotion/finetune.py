"""Start a training run from an earlier network's weights instead of from random ones.

Why: on a 2-core CPU without VNNI the shipped wide network costs about 3 ms per face, and a
network of the recipe's own widths (32-256) half that; but training one from scratch for the
hundred or more epochs that distillation needs takes 5 to 10 hours there. An earlier shipped
network of those widths (recovered from its model file, pipeline/emotion/recover.py) scores
within a few tenths of a point of the target, so a short distillation from the wide model
can start from it (``train --init``). Measured on 2026-12-07, 28 epochs of it did not gain
(README, "Fine-tuning"); the option stays for starts and schedules yet to be tried.

A recovered network's batch normalisations are identities carrying the folded biases. In
training mode a batch normalisation divides by each batch's own statistics instead, which
would turn the recovered network into another function on the first step. So before training,
each batch normalisation is re-expressed around its input's measured statistics: the same
function in evaluation mode, and nearly the same in training mode.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.emotion.holdout import saw_fold
from pipeline.emotion.manifest import sha256_of
from pipeline.emotion.network import ExpressionNet


class InitMismatch(ValueError):
    """The starting checkpoint is not a network of the widths and blocks asked for."""


def load_start(checkpoint_path: Path) -> dict[str, Any]:
    """A training checkpoint (train's best.pt or last.pt, or recover's output); anything else,
    such as an exported .onnx, is refused in one line."""
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError):
        checkpoint = None
    if not isinstance(checkpoint, dict) or not {"config", "state", "model"} <= checkpoint.keys():
        raise InitMismatch(
            f"{checkpoint_path} is not a training checkpoint; a model file is turned into one "
            "by python -m pipeline.emotion.recover"
        )
    return checkpoint


def init_record(checkpoint: dict[str, Any], checkpoint_path: Path) -> dict[str, Any]:
    """What a run started from: the checkpoint's sha256 and what trained it, so the manifest
    and card of the model it becomes can say so (and a resume with another start is refused).
    Its ``holdout_in_training`` is whether the start saw the fold by any route
    (``holdout.saw_fold``), so a fine-tune of a fine-tune still knows."""
    config, state = checkpoint["config"], checkpoint["state"]
    return {
        "sha256": sha256_of(checkpoint_path),
        "widths": list(config["widths"]),
        "blocks": int(config["blocks"]),
        "seed": config.get("seed"),
        "epochs": int(state["epoch"]),
        "train_minutes": round(float(state["elapsed_s"]) / 60, 1),
        "holdout_in_training": saw_fold(config),
        "recovered_from": config.get("recovered_from"),
        "pruned_from": config.get("pruned_from"),
        "init": config.get("init"),
    }


def initial_state(
    checkpoint: dict[str, Any], widths: tuple[int, ...], blocks: int, inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The starting weights of an ``ExpressionNet(widths, blocks)`` from ``checkpoint``, with
    every batch normalisation re-expressed around its statistics on ``inputs`` (model inputs,
    (N, 1, 48, 48) float32)."""
    config = checkpoint["config"]
    if (tuple(config["widths"]), int(config["blocks"])) != (widths, blocks):
        raise InitMismatch(
            f"the start holds widths {tuple(config['widths'])} with {config['blocks']} blocks "
            f"a stage, not {widths} with {blocks}"
        )
    net = ExpressionNet(widths, blocks)
    net.load_state_dict(checkpoint["model"])
    restore_batch_statistics(net, inputs)
    return net.state_dict()


@torch.no_grad()
def restore_batch_statistics(net: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> None:
    """Give each batch normalisation its input's mean and variance on ``inputs`` as running
    statistics, and scale and shift so that it computes what it computed before.

    In evaluation mode a normalisation computes ``a * x + c`` (``a = weight / sqrt(var +
    eps)``, ``c = bias - a * mean``). With the measured ``mu`` and ``sigma2`` it becomes
    ``weight = a * sqrt(sigma2 + eps)`` and ``bias = a * mu + c``: the same ``a * x + c`` in
    evaluation mode, and in training mode, where it normalises by the batch's own statistics,
    about the same as long as a batch resembles ``inputs``.
    """
    norms = [module for module in net.modules() if isinstance(module, nn.BatchNorm2d)]
    totals: dict[int, list[torch.Tensor]] = {}

    def collect(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().double()
        channels = x.transpose(0, 1).reshape(x.shape[1], -1)
        sums = totals.setdefault(id(module), [x.new_zeros(x.shape[1])] * 3)
        totals[id(module)] = [
            sums[0] + channels.sum(dim=1),
            sums[1] + (channels**2).sum(dim=1),
            sums[2] + channels.shape[1],
        ]

    hooks = [norm.register_forward_pre_hook(collect) for norm in norms]
    was_training = net.training
    net.eval()
    try:
        for start in range(0, len(inputs), batch_size):
            net(inputs[start : start + batch_size])
    finally:
        for hook in hooks:
            hook.remove()
        net.train(was_training)
    for norm in norms:
        total, squares, count = totals[id(norm)]
        mu = total / count
        sigma2 = (squares / count - mu**2).clamp_min(0.0)
        assert norm.running_mean is not None and norm.running_var is not None
        scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
        shift = norm.bias.double() - scale * norm.running_mean.double()
        norm.weight.copy_(scale * torch.sqrt(sigma2 + norm.eps))
        norm.bias.copy_(scale * mu + shift)
        norm.running_mean.copy_(mu)
        norm.running_var.copy_(sigma2)
