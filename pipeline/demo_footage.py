"""Footage for the demo: real people and FER+ faces arranged as plausible viewing sessions.

The demo must look like an audience, not like a test fixture. Each session is a fixed camera
over a room split into seats (tiles): some seats hold a real photograph of a person
(``../shared/datasets/real-photos``), the others a FER+ face whose expression changes by a
cross-fade of one to three seconds, starting at a different moment for every person, and
some people never react. People come to their seat (from the back of the room, so their
face grows in place) and leave at different times, and the camera pans a little, so
tracking, dwell and head pose have something real to measure. The expression scores come
from the real pipeline run over these frames; nothing here sets a curve.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.labels import LABELS
from pipeline.synthetic import make_background, paste_face, write_video

FRAME = (960, 540)
TILE = (320, 270)
COLUMNS = 3
SEATS = 6  # a viewing room: 3 columns x 2 rows of tiles
# The shop window's camera sees the pavement: 4 columns x 3 rows of people at once.
WINDOW_COLUMNS = 4
WINDOW_SEATS = 12
PAN_PX = 80  # the room is this much wider than the frame; the camera pans over it
WALK_S = 1.5  # seconds a person takes to walk to the seat or away
RAMP_S = (1.0, 3.0)  # how long an expression takes to build up (cross-fade), seconds

# One reaction per person: (start of the change, label reached). A plan maker draws it.
Reaction = list[tuple[float, str]]


@dataclass
class Viewer:
    """One person on one seat: present from ``enter_s`` to ``leave_s``."""

    seat: int
    enter_s: float
    leave_s: float
    photo: np.ndarray | None = None  # a real photo fitted to the tile, or
    faces: list[tuple[float, float, np.ndarray]] = field(default_factory=list)  # FER keyframes
    side: int = 120  # FER face side in px
    drift: tuple[float, float] = (0.0, 0.0)  # px per second


def real_photos(folder: Path) -> list[np.ndarray]:
    """The single-person portraits of the real-photos set, read as BGR images."""
    images = []
    for path in sorted(folder.glob("img*.jpg")):
        image = cv2.imread(str(path))
        if image is not None:
            images.append(image)
    if not images:
        raise FileNotFoundError(f"no real photos (img*.jpg) in {folder}")
    return images


def fit(image: np.ndarray, width: int, height: int, grey: int = 120) -> np.ndarray:
    """``image`` scaled to fit (width, height), centred on a plain tile."""
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    canvas = np.full((height, width, 3), grey, np.uint8)
    y0, x0 = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def face_of(split: FerplusSplit, label: str, rng: np.random.Generator) -> np.ndarray:
    """A random FER+ face whose majority label is ``label``."""
    candidates = np.flatnonzero(split.majority_labels() == LABELS.index(label))
    return split.images[int(rng.choice(candidates))]


def fer_viewer(
    split: FerplusSplit,
    seat: int,
    enter_s: float,
    leave_s: float,
    reaction: Reaction,
    rng: np.random.Generator,
) -> Viewer:
    """A FER+ person: neutral first, then each change of ``reaction`` cross-faded in."""
    keyframes = [(-1e9, 0.0, face_of(split, "neutral", rng))]
    for start, label in reaction:
        keyframes.append((start, float(rng.uniform(*RAMP_S)), face_of(split, label, rng)))
    return Viewer(
        seat,
        enter_s,
        leave_s,
        faces=keyframes,
        side=int(rng.integers(105, 140)),
        drift=(float(rng.uniform(-4, 4)), float(rng.uniform(-3, 3))),
    )


def photo_viewer(
    photo: np.ndarray, seat: int, enter_s: float, leave_s: float, rng: np.random.Generator
) -> Viewer:
    """A real person (a photograph) on a seat, with their own, unchanging expression."""
    height, width = photo.shape[:2]
    if height > width * 0.9:  # a portrait: keep head and shoulders, as a seated viewer shows
        photo = photo[: int(width * 0.9)]
    tile = fit(photo, TILE[0] - 20, TILE[1] - 10, grey=int(rng.integers(60, 180)))
    return Viewer(seat, enter_s, leave_s, photo=tile, drift=(float(rng.uniform(-3, 3)), 0.0))


def _face_at(viewer: Viewer, t: float) -> np.ndarray:
    """The viewer's face at ``t``: the last keyframe cross-faded over its ramp."""
    face = viewer.faces[0][2].astype(np.float32)
    for start, ramp, image in viewer.faces[1:]:
        weight = float(np.clip((t - start) / ramp, 0.0, 1.0)) if ramp > 0 else float(t >= start)
        if weight > 0:
            face = (1 - weight) * face + weight * image.astype(np.float32)
    return np.clip(face, 0, 255).astype(np.uint8)


def _approach(viewer: Viewer, t: float) -> float:
    """How near the viewer is to the seat (0 far away, 1 seated): people come from the back
    of the room toward the screen and go back, so their face grows and shrinks in place."""
    away = max(0.0, viewer.enter_s - t, t - viewer.leave_s) / WALK_S
    return max(0.0, 1.0 - away)


def _paste_tile(frame: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + tile.shape[1]), min(h, y + tile.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]


def render(
    background: np.ndarray,
    viewers: list[Viewer],
    t: float,
    pan: float,
    columns: int = COLUMNS,
) -> np.ndarray:
    """The camera's frame at ``t``; ``pan`` (px) shifts the view over the wider room, whose
    seats are tiles in ``columns`` columns."""
    width = background.shape[1] - PAN_PX
    x_pan = round(pan)
    frame = background[:, x_pan : x_pan + width].copy()
    for viewer in viewers:
        if not viewer.enter_s - WALK_S <= t <= viewer.leave_s + WALK_S:
            continue
        scale = 0.25 + 0.75 * _approach(viewer, t)
        column, row = viewer.seat % columns, viewer.seat // columns
        cx = column * TILE[0] + TILE[0] // 2 + int(viewer.drift[0] * t)
        cy = row * TILE[1] + TILE[1] // 2 + int(viewer.drift[1] * t)
        if viewer.photo is not None:
            h, w = viewer.photo.shape[:2]
            tile = cv2.resize(viewer.photo, (max(1, int(w * scale)), max(1, int(h * scale))))
            _paste_tile(frame, tile, cx - tile.shape[1] // 2, cy - tile.shape[0] // 2)
        else:
            side = max(8, int(viewer.side * scale))
            paste_face(frame, _face_at(viewer, t), cx - side // 2, cy - side // 2, side)
    return frame


def session_clip(
    path: Path,
    viewers: list[Viewer],
    duration_s: float,
    rng: np.random.Generator,
    fps: float = 10.0,
) -> Path:
    """Encode one viewing session: a slow pan back and forth over the room."""
    width, height = FRAME
    room = make_background(rng, height, width + PAN_PX)
    phase = float(rng.uniform(0, 2 * np.pi))

    def frames() -> Iterator[np.ndarray]:
        for k in range(round(duration_s * fps)):
            t = k / fps
            pan = 40 + 38 * np.sin(phase + t / duration_s * 2 * np.pi)
            yield render(room, viewers, t, pan)

    return write_video(path, frames(), fps)


def snapshot(
    path: Path, viewers: list[Viewer], rng: np.random.Generator, stamp: dt.datetime
) -> Path:
    """One window-camera snapshot named cam_YYYYmmdd_HHMMSS.jpg: the viewers on a pavement of
    ``WINDOW_SEATS`` places (``WINDOW_COLUMNS`` columns of tiles), so a busy hour shows a
    crowd."""
    rows = -(-WINDOW_SEATS // WINDOW_COLUMNS)
    room = make_background(rng, rows * TILE[1], WINDOW_COLUMNS * TILE[0] + PAN_PX)
    frame = render(room, viewers, 0.0, float(rng.uniform(0, PAN_PX)), WINDOW_COLUMNS)
    out = path / f"cam_{stamp:%Y%m%d_%H%M%S}.jpg"
    cv2.imwrite(str(out), frame)
    return out
