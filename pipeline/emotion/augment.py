"""Batch augmentation on tensors (training only).

The detector's crops differ from FER+'s (margin, tilt, blur from upscaling small faces, camera
noise and lighting); each transform here stands for one of those differences, so the shipped
model copes with DeepFace crops without a second preprocessing path.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x: float32 (N, 1, 48, 48) in [0, 1] -> augmented copy, same shape and range."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    # Geometry: zoom 0.8-1.25 (detector margins), tilt +-15 deg, shift +-10 %, mirror.
    scale = torch.exp(uniform(math.log(0.8), math.log(1.25)))
    angle = uniform(-15, 15) * math.pi / 180
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = uniform(-0.1, 0.1)
    theta[:, 1, 2] = uniform(-0.1, 0.1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Resolution: a third of the faces go through a 16-40 px bottleneck (small, upscaled faces).
    low_res = torch.rand(n, generator=generator) < 0.33
    if low_res.any():
        side = int(torch.randint(16, 41, (1,), generator=generator))
        small = F.interpolate(x[low_res], size=(side, side), mode="area")
        x[low_res] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)

    # Photometry: gamma, contrast, brightness, sensor noise.
    gamma = torch.exp(uniform(-0.4, 0.4)).view(n, 1, 1, 1)
    x = x.clamp(1e-4, 1.0) ** gamma
    contrast = uniform(0.6, 1.4).view(n, 1, 1, 1)
    brightness = uniform(-0.15, 0.15).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    noise_level = uniform(0.0, 0.04).view(n, 1, 1, 1)
    x = x + noise_level * torch.randn(x.shape, generator=generator)

    # Occlusion: random erasing of one rectangle on a quarter of the faces (hands, glasses).
    erase = torch.rand(n, generator=generator) < 0.25
    for i in torch.nonzero(erase).flatten().tolist():
        h = int(torch.randint(8, 24, (1,), generator=generator))
        w = int(torch.randint(8, 24, (1,), generator=generator))
        top = int(torch.randint(0, 48 - h, (1,), generator=generator))
        left = int(torch.randint(0, 48 - w, (1,), generator=generator))
        x[i, :, top : top + h, left : left + w] = torch.rand(1, generator=generator)
    return x.clamp(0.0, 1.0)


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix or mixup (one of the two, at even odds) of a batch with a shuffled copy of itself.

    Why: with ~28k faces a 2.8M-parameter network starts to memorise them within the schedule;
    blending faces and their vote distributions by the share of pixels each contributes keeps
    the targets honest (the votes are already distributions) and regularises towards the
    in-between faces that real footage shows. x: (N, 1, H, W), y: (N, 8) -> mixed copies.
    """
    n = x.shape[0]
    partner = torch.randperm(n, generator=generator)
    share = float(torch.rand(1, generator=generator))  # Beta(1, 1), drawn from the generator
    if torch.rand(1, generator=generator) < 0.5:
        return share * x + (1 - share) * x[partner], share * y + (1 - share) * y[partner]
    height, width = x.shape[-2:]
    cut_h, cut_w = int(height * math.sqrt(1 - share)), int(width * math.sqrt(1 - share))
    top = int(torch.randint(0, height - cut_h + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - cut_w + 1, (1,), generator=generator))
    mixed = x.clone()
    patch = (slice(None), slice(top, top + cut_h), slice(left, left + cut_w))
    mixed[(slice(None), *patch)] = x[(partner, *patch)]
    kept = 1 - cut_h * cut_w / (height * width)
    return mixed, kept * y + (1 - kept) * y[partner]
