"""Train the expression model on FER+ vote distributions and export it to ONNX.

Run: ``python -m pipeline.emotion.train --out runs/emotion`` (CPU: a time budget keeps the
cosine schedule complete on a slow or shared machine; a CUDA GPU is used when present).
Resumes from ``<out>/last.pt`` automatically. Needs requirements-train.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.emotion.augment import augment_batch, mix_batch
from pipeline.emotion.balance import class_weights, soft_cross_entropy
from pipeline.emotion.distill import blend_targets, teacher_probabilities, teacher_record
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.finetune import InitMismatch, init_record, initial_state, load_start
from pipeline.emotion.holdout import training_rows
from pipeline.emotion.metrics import majority_accuracy
from pipeline.emotion.network import ExpressionNet
from pipeline.emotion.preprocess import to_model_input


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="FER+ folder")
    parser.add_argument("--out", type=Path, default=Path("runs/emotion"), help="checkpoints/logs")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--time-budget-min",
        type=float,
        default=0.0,
        help="if > 0, the schedule ends when this many minutes have passed",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--widths", type=str, default="32,64,128,256")
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--mix-prob",
        type=float,
        default=0.4,
        help="share of batches blended by CutMix or mixup (pipeline/emotion/augment.py)",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=0.999,
        help="if > 0, also keep an exponential moving average of the weights; the better of "
        "it and the live weights on validation is the epoch's candidate for best.pt",
    )
    parser.add_argument(
        "--balance-beta",
        type=float,
        default=0.0,
        help="if > 0, weight each face's loss by (n_max / n_class) ** beta of its votes' classes "
        "(pipeline/emotion/balance.py); best.pt is then the last epoch, not the most accurate",
    )
    parser.add_argument(
        "--balance-from",
        type=float,
        default=0.5,
        help="share of the schedule after which --balance-beta applies (deferred re-weighting)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        default=None,
        help="an exported emotion.onnx (with its manifest) whose probabilities are blended into "
        "the targets: distillation (pipeline/emotion/distill.py)",
    )
    parser.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        help="share of the teacher's probabilities in the targets, with --teacher",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this checkpoint's weights (a best.pt, or one from "
        "pipeline/emotion/recover.py) instead of random ones: a fine-tune "
        "(pipeline/emotion/finetune.py); give the same, unchanged file to resume the run",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--include-holdout",
        action="store_true",
        help="also train on the held-out fold (pipeline/emotion/holdout.py); its rare-class "
        "recall is then no longer an unseen-face figure",
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="train on the first N usable faces only (smoke tests)"
    )
    parser.add_argument(
        "--export",
        type=Path,
        default=None,
        help="write the calibrated ONNX model + manifest here at the end",
    )
    args = parser.parse_args(argv)
    if args.balance_beta < 0 or not 0 <= args.balance_from < 1:
        parser.error("--balance-beta must be >= 0 and --balance-from in [0, 1)")
    if not 0 <= args.teacher_weight <= 1:
        parser.error("--teacher-weight must be in [0, 1]")
    if args.teacher is not None and not args.teacher.is_file():
        parser.error(f"--teacher {args.teacher}: no such model file")
    if args.init is not None and not args.init.is_file():
        parser.error(f"--init {args.init}: no such checkpoint")
    return args


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


@torch.no_grad()
def predict_views(
    net: torch.nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, 8) of uint8 (N, 48, 48) faces and of their mirror images, kept apart so that
    a graph combining several networks can be scored from each network's single pass."""
    net.eval()
    faces, mirrored = [], []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(to_model_input(images[start : start + batch_size])).to(device)
        faces.append(net(x).float().cpu().numpy())
        mirrored.append(net(torch.flip(x, dims=[3])).float().cpu().numpy())
    return np.concatenate(faces), np.concatenate(mirrored)


def predict_logits(
    net: torch.nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 512
) -> np.ndarray:
    """Flip-averaged logits (N, 8) for uint8 (N, 48, 48) faces, as the export computes them."""
    faces, mirrored = predict_views(net, images, device, batch_size)
    return 0.5 * (faces + mirrored)


def _mixed_precision(device: torch.device) -> bool:
    """Whether to train under autocast (bfloat16 on a CPU, float16 on a GPU).

    Why: bfloat16 halves the work only where the CPU computes it natively (AVX-512 BF16 or
    AMX). Elsewhere PyTorch emulates it: on a 2-core AVX2 EPYC a training step of the
    32-256 network (batch 128) took 9.7 s under bfloat16 autocast against 0.8 s in float32
    (2026-12-07), so a run there spent its whole time budget on a handful of epochs.
    """
    if device.type != "cpu":
        return True
    # Private helpers of torch.cpu (present in 2.13); a release without them trains in float32.
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _lr_at(progress: float, base_lr: float, warmup: float = 0.03) -> float:
    if progress < warmup:
        return base_lr * progress / warmup
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def _finished(state: dict[str, float], args: argparse.Namespace) -> bool:
    """Whether the run has trained all its epochs or spent its time budget."""
    over_budget = args.time_budget_min > 0 and state["elapsed_s"] >= args.time_budget_min * 60
    return state["epoch"] >= args.epochs or over_budget


# Training faces whose statistics re-express a starting network's batch normalisations.
_INIT_FACES = 4096


class ResumeMismatch(ValueError):
    """A run's folder holds a checkpoint trained with other settings than those asked for."""


# What a checkpoint written before a setting existed was trained with.
_BEFORE_THE_SETTING: dict[str, object] = {"teacher": None, "balance_beta": 0.0, "init": None}


def _check_resumable(saved: dict[str, object], wanted: dict[str, object], path: Path) -> None:
    """Refuse to resume a run with other settings: the rest of it would train another recipe
    than the one its checkpoints and card record."""
    known = {**_BEFORE_THE_SETTING, **saved}
    changed = [key for key, value in wanted.items() if key in known and known[key] != value]
    if changed:
        differences = ", ".join(f"{key} {known[key]} -> {wanted[key]}" for key in changed)
        raise ResumeMismatch(
            f"{path} was trained with other settings ({differences}); use another --out"
        )


def save_checkpoint(payload: dict[str, object], path: Path) -> None:
    """Write a checkpoint beside ``path``, then move it into place.

    Why: a CPU run spans sessions and is resumed from ``last.pt``. A run killed while writing
    it (a session ending, a machine handed back) must keep the previous epoch's file, not a
    truncated one that no resume can read.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        torch.save(payload, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def train(args: argparse.Namespace) -> Path:
    """Train (or resume) and return the path of best.pt: the epoch with the best validation
    accuracy, or with class-balanced weights the last epoch."""
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    device = _device()
    data_dir = args.data_dir or default_dataset_dir()
    train_split = load_split("train", data_dir)
    valid_split = load_split("valid", data_dir)
    keep = training_rows(train_split, include_holdout=args.include_holdout)
    if args.limit:
        keep &= np.cumsum(keep) <= args.limit
    train_images = torch.from_numpy(train_split.images[keep])
    teacher = None if args.teacher is None else teacher_record(args.teacher, args.teacher_weight)
    valid_labels = valid_split.majority_labels()
    balance = class_weights(train_split.majority_labels()[keep], args.balance_beta).to(device)

    widths = tuple(int(w) for w in args.widths.split(","))
    last_path, best_path, log_path = (
        args.out / "last.pt",
        args.out / "best.pt",
        args.out / "log.jsonl",
    )
    start = None if args.init is None else load_start(args.init)
    net = ExpressionNet(widths, args.blocks)
    if start is not None and not last_path.exists():
        # The averaged weights below start as a copy of these, so they are loaded first. FER+
        # rows come in no class or source order, so the first faces are as good as any.
        sample = torch.from_numpy(to_model_input(train_split.images[keep][:_INIT_FACES]))
        net.load_state_dict(initial_state(start, widths, args.blocks, sample))
    net = net.to(device).to(memory_format=torch.channels_last)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            net,
            multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema_decay),
            use_buffers=True,
        )
        if args.ema_decay > 0
        else None
    )
    optimizer = torch.optim.SGD(
        net.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay
    )
    args.out.mkdir(parents=True, exist_ok=True)
    config = {
        "widths": list(widths),
        "blocks": args.blocks,
        "seed": args.seed,
        "holdout_in_training": bool(args.include_holdout),
        "mix_prob": args.mix_prob,
        "ema_decay": args.ema_decay,
        "balance_beta": args.balance_beta,
        "balance_from": args.balance_from,
        "teacher": teacher,
        "init": None if start is None else init_record(start, args.init),
    }
    state = {"epoch": 0, "elapsed_s": 0.0, "best_acc": 0.0}
    if last_path.exists():
        checkpoint = torch.load(last_path, map_location=device, weights_only=False)
        _check_resumable(checkpoint.get("config", {}), config, last_path)
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if ema is not None and checkpoint.get("ema") is not None:
            ema.load_state_dict(checkpoint["ema"])
        state = checkpoint["state"]
        torch.set_rng_state(checkpoint["rng"])
        print(f"resumed at epoch {state['epoch']} ({state['elapsed_s'] / 60:.1f} min done)")

    # After the resume check, so that a refused run neither scores nor overwrites anything.
    votes = train_split.vote_distribution()[keep]
    if args.teacher is not None:
        probabilities = teacher_probabilities(args.teacher, train_split.images[keep], args.out)
        votes = blend_targets(votes, probabilities, args.teacher_weight)
    train_targets = torch.from_numpy(votes)

    generator = torch.Generator().manual_seed(args.seed + state["epoch"])
    budget_s = args.time_budget_min * 60
    steps_per_epoch = math.ceil(len(train_images) / args.batch_size)
    autocast_dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    mixed = _mixed_precision(device)
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    # A finished run resumed stays finished (another epoch would move the averaged weights).
    done = _finished(state, args)
    while not done:
        net.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(len(train_images), generator=generator)
        total_loss = 0.0
        for step in range(steps_per_epoch):
            progress = (state["epoch"] + step / steps_per_epoch) / args.epochs
            if budget_s > 0:
                spent = state["elapsed_s"] + time.perf_counter() - epoch_start
                progress = max(progress, spent / budget_s)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(min(progress, 1.0), args.lr)
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            x = augment_batch(train_images[idx].float().div_(255.0).unsqueeze(1), generator)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            y = train_targets[idx].to(device)
            if args.mix_prob > 0 and float(torch.rand(1, generator=generator)) < args.mix_prob:
                x, y = mix_batch(x, y, generator)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=mixed):
                logits = net(x)
            balanced = args.balance_beta > 0 and progress >= args.balance_from
            loss = soft_cross_entropy(logits, y, balance if balanced else None)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if ema is not None:
                ema.update_parameters(net)
            total_loss += float(loss.detach())
        state["epoch"] += 1
        state["elapsed_s"] += time.perf_counter() - epoch_start
        candidates: dict[str, torch.nn.Module] = {"live": net}
        if ema is not None:
            candidates["ema"] = ema.module
        scores = {
            name: majority_accuracy(predict_logits(model, valid_split.images, device), valid_labels)
            for name, model in candidates.items()
        }
        chosen = max(scores, key=lambda name: scores[name])
        accuracy = scores[chosen]
        record = {
            "epoch": state["epoch"],
            "train_loss": total_loss / steps_per_epoch,
            "valid_majority_acc": accuracy,
            "weights": chosen,
            **{f"valid_acc_{name}": score for name, score in scores.items()},
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_s": time.perf_counter() - epoch_start,
            "elapsed_min": state["elapsed_s"] / 60,
        }
        print(json.dumps(record), flush=True)
        with log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
        done = _finished(state, args)
        # A weighted run ships its last epoch: choosing by validation accuracy would pick an
        # epoch from before the weighting moved decisions toward the rare expressions (the
        # weighted run of 2026-12-01 scored 86.9 % as it began and 85.8 % at the end).
        if done if args.balance_beta > 0 else accuracy > state["best_acc"]:
            state["best_acc"] = accuracy
            best_weights = candidates[chosen].state_dict()
            save_checkpoint(
                {
                    "model": best_weights,
                    "config": {**config, "weights": chosen},
                    "state": dict(state),
                },
                best_path,
            )
        save_checkpoint(
            {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "state": state,
                "rng": torch.get_rng_state(),
                "ema": None if ema is None else ema.state_dict(),
                "config": config,
            },
            last_path,
        )
    return best_path


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    try:
        best = train(args)
    except (ResumeMismatch, InitMismatch) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.export is not None:
        from pipeline.emotion.export import export_checkpoint

        export_checkpoint(best, args.export, data_dir=args.data_dir)


if __name__ == "__main__":
    main()
