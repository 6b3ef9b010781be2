"""Footage and snapshots with planted FER+ faces of known expression (tests and the demo).

People drift across a fixed background; each segment of the timeline gives every person a new
face image carrying that segment's label, so the expected dominant expression per segment and
the number of distinct people are known exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.labels import LABELS
from pipeline.synthetic import make_background, paste_face, write_video


@dataclass(frozen=True)
class ClipTruth:
    path: Path
    people: int
    fps: float
    duration_s: float
    segments: list[tuple[float, float, str]]  # (start_s, end_s, planted label name)
    frame_size: tuple[int, int]
    faces: dict[tuple[int, int], np.ndarray]  # (segment index, person) -> 48x48 source face


def _faces_with_label(split: FerplusSplit, label: str) -> np.ndarray:
    return np.flatnonzero(split.majority_labels() == LABELS.index(label))


def _detectable_face(
    split: FerplusSplit,
    label: str,
    side: int,
    background: np.ndarray,
    rng: np.random.Generator,
    finder: object | None,
) -> np.ndarray:
    """A random face of ``label``; with a finder, one it detects when pasted at ``side`` px.

    A person in real footage keeps one face; here each segment swaps the image, and Haar misses
    about a third of FER images outright (benchmarks/face_path.py measures that). Clips that
    test tracking and counting use detectable faces so they measure what they claim to.
    """
    candidates = _faces_with_label(split, label)
    face = split.images[rng.choice(candidates)]
    for _ in range(40 if finder is not None else 0):
        frame = background[: side * 2, : side * 2].copy()
        paste_face(frame, face, side // 2, side // 2, side)
        if finder.find(frame):  # type: ignore[union-attr]
            break
        face = split.images[rng.choice(candidates)]
    return face


def planted_clip(
    path: Path,
    split: FerplusSplit,
    people: int,
    segments: list[tuple[float, float, str]],
    fps: float = 10.0,
    size: tuple[int, int] = (960, 540),
    face_px: tuple[int, int] = (110, 150),
    seed: int = 0,
    fourcc: str = "mp4v",
    detectable_only: bool = True,
) -> ClipTruth:
    """Encode a clip where ``people`` faces drift slowly and change expression per segment."""
    rng = np.random.default_rng(seed)
    width, height = size
    background = make_background(rng, height, width)
    sides = rng.integers(face_px[0], face_px[1] + 1, people)
    columns = max(1, min(people, 3))
    rows = int(np.ceil(people / columns))
    starts, velocities = [], []
    for i in range(people):
        cell_w, cell_h = width / columns, height / rows
        cx = (i % columns + 0.5) * cell_w - sides[i] / 2
        cy = (i // columns + 0.5) * cell_h - sides[i] / 2
        starts.append((cx, cy))
        velocities.append(rng.uniform(-8, 8, 2))  # px per second: slow drift, like a viewer
    finder = None
    if detectable_only:
        from pipeline.faces import FaceFinder

        finder = FaceFinder()
    faces = {
        (si, p): _detectable_face(split, label, int(sides[p]), background, rng, finder)
        for si, (_, _, label) in enumerate(segments)
        for p in range(people)
    }
    duration = segments[-1][1]

    def frames() -> Iterator[np.ndarray]:
        for k in range(round(duration * fps)):
            t = k / fps
            si = next(i for i, (s, e, _) in enumerate(segments) if s <= t < e)
            frame = background.copy()
            for p in range(people):
                x = int(starts[p][0] + velocities[p][0] * t)
                y = int(starts[p][1] + velocities[p][1] * t)
                paste_face(frame, faces[(si, p)], x, y, int(sides[p]))
            yield frame

    write_video(path, frames(), fps, fourcc)
    return ClipTruth(path, people, fps, duration, segments, size, faces)


def snapshot_folder(
    folder: Path,
    split: FerplusSplit,
    start: dt.datetime,
    count: int,
    every: dt.timedelta,
    labels: list[str],
    seed: int = 0,
    people: int = 3,
) -> Path:
    """Camera-style JPEG snapshots named cam_YYYYmmdd_HHMMSS.jpg with planted faces."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        label = labels[i % len(labels)]
        frame = make_background(rng, 540, 960)
        for p in range(people):
            face = split.images[rng.choice(_faces_with_label(split, label))]
            paste_face(frame, face, 80 + p * 300, 150 + int(rng.integers(-40, 40)), 140)
        stamp = start + i * every
        cv2.imwrite(str(folder / f"cam_{stamp:%Y%m%d_%H%M%S}.jpg"), frame)
    return folder
