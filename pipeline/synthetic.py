"""Synthetic scenes and footage built from labelled face crops.

Used to test and benchmark the whole face path (and to build the demo campaign) with faces
whose expression is known. A 48x48 FER crop pasted bare into a frame has no head around it and
Haar misses a third of them, so each face gets a blurred "head" of its own border pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class PlantedFace:
    """Where a face was pasted: box of the face pixels (x, y, side), its known label and its
    position in the list of faces given to ``compose_scene`` (faces that did not fit are left
    out, so this is how callers pair a placement with its source)."""

    x: int
    y: int
    side: int
    label: int
    index: int


def make_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A varied BGR uint8 background: colour gradient, blocks (shelves, posters) and noise."""
    top, bottom = rng.integers(30, 230, size=3), rng.integers(30, 230, size=3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    frame = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(40, width // 3)), y0 + int(rng.integers(40, height // 3))
        frame[y0:y1, x0:x1] = rng.integers(20, 235, size=3)
    frame += rng.normal(0.0, 6.0, size=frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def head_patch(face: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Upscale a grayscale face to ``side`` px and surround it with a blurred head.

    Returns (patch BGR uint8, alpha float32 in [0, 1], offset of the face inside the patch).
    """
    face_big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    pad = side // 3
    patch = cv2.copyMakeBorder(face_big, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    blurred = cv2.GaussianBlur(patch, (0, 0), sigmaX=max(1.0, side / 12))
    hard = np.zeros(patch.shape, np.float32)
    hard[pad : pad + side, pad : pad + side] = 1.0
    inner = cv2.GaussianBlur(hard, (0, 0), sigmaX=max(1.0, side / 20))
    patch = np.asarray(inner * patch + (1 - inner) * blurred).astype(np.uint8)
    full = patch.shape[0]
    yy, xx = np.mgrid[0:full, 0:full].astype(np.float32)
    centre = (full - 1) / 2
    ellipse = ((xx - centre) / (full * 0.47)) ** 2 + ((yy - centre) / (full * 0.5)) ** 2
    alpha = np.clip((1.0 - ellipse) * 4.0, 0.0, 1.0).astype(np.float32)
    return cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR), alpha, pad


def paste_face(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> None:
    """Paste a grayscale face (any size) with its head so the face box is (x, y, side) in place."""
    patch, alpha, pad = head_patch(face, side)
    h, w = frame.shape[:2]
    x0, y0 = x - pad, y - pad
    px0, py0 = max(0, -x0), max(0, -y0)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(w, x0 + patch.shape[1]), min(h, y0 + patch.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    sub_patch = patch[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0].astype(np.float32)
    sub_alpha = alpha[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0, None]
    frame[fy0:fy1, fx0:fx1] = (sub_alpha * sub_patch + (1 - sub_alpha) * region).astype(np.uint8)


def compose_scene(
    rng: np.random.Generator,
    faces: list[np.ndarray],
    labels: list[int],
    sizes: list[int],
    height: int = 720,
    width: int = 1280,
) -> tuple[np.ndarray, list[PlantedFace]]:
    """A frame with the given faces at random, non-overlapping places (heads kept apart)."""
    frame = make_background(rng, height, width)
    planted: list[PlantedFace] = []
    for index, (face, label, side) in enumerate(zip(faces, labels, sizes, strict=True)):
        for _ in range(50):
            margin = side // 3 + 2
            x = int(rng.integers(margin, max(margin + 1, width - side - margin)))
            y = int(rng.integers(margin, max(margin + 1, height - side - margin)))
            clear = all(
                x + side + margin < p.x - p.side // 3
                or p.x + p.side + p.side // 3 < x - margin
                or y + side + margin < p.y - p.side // 3
                or p.y + p.side + p.side // 3 < y - margin
                for p in planted
            )
            if clear:
                paste_face(frame, face, x, y, side)
                planted.append(PlantedFace(x, y, side, label, index))
                break
    return frame, planted


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, fourcc: str = "mp4v") -> Path:
    """Encode BGR frames with OpenCV, one at a time (a generator keeps a long 1080p clip out
    of memory); raises when the codec is unavailable."""
    writer = None
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(
                    str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (width, height)
                )
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot encode {fourcc} to {path}")
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError("no frames to encode")
    return path
