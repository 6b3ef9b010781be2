"""Make a narrower network out of a trained wide one by keeping its most useful channels.

Run: ``python -m pipeline.emotion.prune runs/wide/best.pt --widths 32,64,128,320 --out
runs/pruned/best.pt``, then train from it: ``python -m pipeline.emotion.train --init
runs/pruned/best.pt --widths 32,64,128,320 ...`` (export only; needs torch).

Why: on a 2-core AVX2 CPU the shipped wide network (widths 48-384) costs about 3 ms per face
against the issue's 2 ms, and narrower networks trained from scratch need a hundred or more
epochs (hours a run there) to come near its accuracy, while fine-tuning an older narrow network
did not reach it (README, "Fine-tuning"). A network cut out of the wide one starts from the wide
one's own features, so a short distillation from the wide model (``train --init --teacher``)
has less to learn back.

Which channels stay: each channel's importance is its mean activation (after the ReLU, on
training faces) times the norm of the weights that read it in the next layer, a first-order
measure of how much the next layer's input changes without it. Channels of a stage's residual
stream are one set for the whole stage (the identity shortcuts add them position by position),
so their importance is summed over the stage's block outputs; the channels inside each block
(conv1's outputs) and the stem's first convolution are chosen on their own.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.finetune import InitMismatch, load_start
from pipeline.emotion.holdout import training_rows
from pipeline.emotion.manifest import sha256_of
from pipeline.emotion.network import ExpressionNet
from pipeline.emotion.preprocess import to_model_input

# Training faces (the fold left out) whose activations rank the channels.
RANKING_FACES = 4096
_NORM_KEYS = ("weight", "bias", "running_mean", "running_var")


class PruneError(ValueError):
    """The wanted widths cannot be cut out of the checkpoint's network."""


@torch.no_grad()
def _mean_activations(net: ExpressionNet, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean activation per channel, (C,), of every point a channel can be cut at: the stem's
    first ReLU ("stem.2"), the stem's output ("stem"), each block's inner ReLU
    ("stages.k.inner") and each block's output ("stages.k")."""
    sums: dict[str, torch.Tensor] = {}

    def record(name: str, relu: bool = False) -> Any:
        def hook(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
            values = output.double().clamp_min(0) if relu else output.double()
            per_channel = values.mean(dim=(0, 2, 3)) * len(values)
            sums[name] = sums.get(name, torch.zeros_like(per_channel)) + per_channel

        return hook

    points = {"stem.2": ("stem.2", False), "stem": ("stem", False)}
    for k in range(len(net.stages)):
        points[f"stages.{k}"] = (f"stages.{k}", False)
        # conv1's output after its normalisation and ReLU: the block computes
        # relu(bn1(conv1(x))) inline, so the hook sits on bn1 and applies the ReLU itself.
        points[f"stages.{k}.inner"] = (f"stages.{k}.bn1", True)
    hooks = [
        net.get_submodule(module).register_forward_hook(record(name, relu))
        for name, (module, relu) in points.items()
    ]
    net.eval()
    try:
        for start in range(0, len(inputs), 512):
            net(inputs[start : start + 512])
    finally:
        for hook in hooks:
            hook.remove()
    return {name: total / len(inputs) for name, total in sums.items()}


def _reader_norms(*weights: torch.Tensor) -> torch.Tensor:
    """(C_in,): the L2 norm of all the weights that read each input channel, over the
    convolutions and linear layers given (a block's conv1 and its projection shortcut)."""
    squares = [
        w.double().transpose(0, 1).reshape(w.shape[1], -1).pow(2).sum(dim=1) for w in weights
    ]
    return torch.stack(squares).sum(dim=0).sqrt()


def _readers(weights: dict[str, torch.Tensor], k: int) -> list[torch.Tensor]:
    """The weights (from a state dict) that read the output of block ``k`` (-1: the stem): the
    next block's conv1 and projection shortcut, or the head after the last block. (An identity
    shortcut passes the channel on to the next block output of the same stage, whose readers
    count there.)"""
    following = f"stages.{k + 1}"
    if f"{following}.conv1.weight" not in weights:
        return [weights["head.weight"]]
    projection = weights.get(f"{following}.shortcut.0.weight")
    return [weights[f"{following}.conv1.weight"], *([] if projection is None else [projection])]


def _top(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` highest scores, in channel order."""
    return torch.sort(torch.topk(scores, count).indices).values


def choose_channels(
    net: ExpressionNet, widths: tuple[int, ...], inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Channels to keep at each cut point of ``net`` (names as in :func:`_mean_activations`,
    plus "residual.s" for stage s's residual stream), for a network of ``widths``."""
    blocks = len(net.stages) // len(widths)
    means = _mean_activations(net, inputs)
    weights = net.state_dict()
    kept = {"stem.2": _top(means["stem.2"] * _reader_norms(weights["stem.3.weight"]), widths[0])}
    for s, width in enumerate(widths):
        members = range(s * blocks, (s + 1) * blocks)
        outputs = ["stem"] if s == 0 else []
        outputs += [f"stages.{k}" for k in members]
        score = torch.zeros_like(means[outputs[-1]])
        for name in outputs:
            k = -1 if name == "stem" else int(name.split(".")[1])
            score += means[name] * _reader_norms(*_readers(weights, k))
        kept[f"residual.{s}"] = _top(score, width)
        for k in members:
            readers = _reader_norms(weights[f"stages.{k}.conv2.weight"])
            scores = means[f"stages.{k}.inner"] * readers
            kept[f"stages.{k}.inner"] = _top(scores, width)
    return kept


def _norm(state: dict[str, torch.Tensor], prefix: str, rows: torch.Tensor) -> None:
    for key in _NORM_KEYS:
        state[f"{prefix}.{key}"] = state[f"{prefix}.{key}"][rows]


def _conv(
    state: dict[str, torch.Tensor], name: str, rows: torch.Tensor, cols: torch.Tensor | None
) -> None:
    weight = state[name][rows]
    state[name] = weight if cols is None else weight[:, cols]


def pruned_state(
    net: ExpressionNet, widths: tuple[int, ...], kept: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The state dict of ``ExpressionNet(widths, blocks)`` holding ``net``'s kept channels."""
    state = {key: value.clone() for key, value in net.state_dict().items()}
    blocks = len(net.stages) // len(widths)
    _conv(state, "stem.0.weight", kept["stem.2"], None)
    _norm(state, "stem.1", kept["stem.2"])
    _conv(state, "stem.3.weight", kept["residual.0"], kept["stem.2"])
    _norm(state, "stem.4", kept["residual.0"])
    incoming = kept["residual.0"]
    for s in range(len(widths)):
        out = kept[f"residual.{s}"]
        for k in range(s * blocks, (s + 1) * blocks):
            inner, prefix = kept[f"stages.{k}.inner"], f"stages.{k}"
            _conv(state, f"{prefix}.conv1.weight", inner, incoming)
            _norm(state, f"{prefix}.bn1", inner)
            _conv(state, f"{prefix}.conv2.weight", out, inner)
            _norm(state, f"{prefix}.bn2", out)
            if f"{prefix}.shortcut.0.weight" in state:
                _conv(state, f"{prefix}.shortcut.0.weight", out, incoming)
                _norm(state, f"{prefix}.shortcut.1", out)
            incoming = out
    state["head.weight"] = state["head.weight"][:, incoming]
    return state


def check_widths(checkpoint: dict[str, Any], widths: tuple[int, ...]) -> None:
    """Raise PruneError unless ``widths`` narrow (or keep) each stage of the checkpoint's
    network."""
    source_widths = tuple(checkpoint["config"]["widths"])
    if len(widths) != len(source_widths) or any(
        w < 1 or w > s for w, s in zip(widths, source_widths, strict=True)
    ):
        raise PruneError(
            f"widths {widths} are not a narrowing of the checkpoint's {source_widths} "
            f"({len(source_widths)} stages, each at least 1 and at most its width)"
        )


def prune(checkpoint: dict[str, Any], widths: tuple[int, ...], inputs: torch.Tensor) -> nn.Module:
    """``ExpressionNet(widths)`` cut out of the checkpoint's network (see the module text)."""
    check_widths(checkpoint, widths)
    config = checkpoint["config"]
    net = ExpressionNet(tuple(config["widths"]), int(config["blocks"]))
    net.load_state_dict(checkpoint["model"])
    narrow = ExpressionNet(widths, int(config["blocks"]))
    narrow.load_state_dict(pruned_state(net, widths, choose_channels(net, widths, inputs)))
    return narrow.eval()


def _widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not channels per stage") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint of the wide network")
    parser.add_argument(
        "--widths", required=True, type=_widths, help="channels per stage, e.g. 32,64,128,320"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    widths: tuple[int, ...] = args.widths
    try:
        # The checkpoint and widths are checked before the training faces are loaded.
        checkpoint = load_start(args.checkpoint)
        check_widths(checkpoint, widths)
        train = load_split("train", args.data_dir or default_dataset_dir())
    except (InitMismatch, PruneError, OSError) as error:
        parser.exit(2, f"prune: {error}\n")
    faces = train.images[training_rows(train)][:RANKING_FACES]
    narrow = prune(checkpoint, widths, torch.from_numpy(to_model_input(faces)))
    config = {
        **checkpoint["config"],
        "widths": list(widths),
        "pruned_from": {
            "sha256": sha256_of(args.checkpoint),
            "widths": list(checkpoint["config"]["widths"]),
            "recovered_from": checkpoint["config"].get("recovered_from"),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": narrow.state_dict(), "config": config, "state": checkpoint["state"]}, args.out
    )
    print(f"wrote {args.out}: widths {list(widths)} cut from {config['pruned_from']['widths']}")


if __name__ == "__main__":
    main()
