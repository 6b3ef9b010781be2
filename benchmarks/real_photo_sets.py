"""Real-photo detection sets for benchmarks/detectors.py: portraits, the group selfie and
mosaics of portraits.

Nothing in ../shared/datasets/real-photos is annotated with boxes, only with face counts
(its README), so detections are scored by counts per photo or per mosaic tile:
- portraits (one main person, no background people): a hit when at least one box is found,
  false positives = boxes beyond the first;
- the selfie: found = min(boxes, 7), false positives = boxes beyond 7;
- mosaics (2x2, 3x3, 4x4 tiles of portraits, downscaled so faces span about 30-200 px): a box
  belongs to the tile holding its centre; a tile with a box is a hit, extra boxes in a tile
  are false positives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.settings import get_setting

PHOTOS = Path(get_setting("EMOTION_REAL_PHOTOS_DIR"))
SELFIE, SELFIE_FACES = "selfie-many-people.jpg", 7
WITH_BACKGROUND_PEOPLE = {f"img{n}.jpg" for n in (16, 31, 40, 41, 54, 59, 62)}
# (columns, canvas width, canvas height): tiles of 640x360 down to 160x90 px, so the main faces
# span about 200 down to 30 px.
MOSAICS = ((2, 1280, 720), (3, 1280, 720), (4, 1280, 720), (4, 960, 540), (6, 960, 540))

Box = tuple[int, int, int, int]
Detect = Callable[[np.ndarray], list[Box]]


@dataclass
class PhotoTally:
    """Counts per set: found, expected, false positives, images."""

    sets: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, found: int, expected: int, false_positives: int) -> None:
        row = self.sets.setdefault(name, [0, 0, 0, 0])
        row[0] += found
        row[1] += expected
        row[2] += false_positives
        row[3] += 1

    def recall(self, name: str) -> float:
        found, expected, _, _ = self.sets[name]
        return found / expected if expected else float("nan")

    def fp_per_image(self, name: str) -> float:
        _, _, fp, images = self.sets[name]
        return fp / images if images else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            name: {
                "found": row[0],
                "expected": row[1],
                "recall": self.recall(name),
                "false_positives": row[2],
                "false_positives_per_image": self.fp_per_image(name),
                "images": row[3],
            }
            for name, row in self.sets.items()
        }


def portrait_names() -> list[str]:
    return sorted(p.name for p in PHOTOS.glob("img*.jpg") if p.name not in WITH_BACKGROUND_PEOPLE)


def _read(name: str) -> np.ndarray:
    image = cv2.imread(str(PHOTOS / name))
    if image is None:
        raise SystemExit(f"real photo {name} missing from {PHOTOS}")
    return image


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(
        image,
        (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    canvas = np.full((height, width, 3), 120, np.uint8)
    y0, x0 = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def mosaics() -> list[tuple[str, np.ndarray, int, int]]:
    """(set name, image, columns, rows) for every mosaic, portraits taken in turn."""
    names = portrait_names()
    out, cursor = [], 0
    for columns, width, height in MOSAICS:
        rows = columns
        tile_w, tile_h = width // columns, height // rows
        per = columns * rows
        for _ in range(max(1, len(names) // per)):
            canvas = np.full((height, width, 3), 120, np.uint8)
            for k in range(per):
                r, c = divmod(k, columns)
                photo = _read(names[cursor % len(names)])
                cursor += 1
                canvas[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = _fit(
                    photo, tile_w, tile_h
                )
            out.append(
                (f"mosaic {columns}x{rows} ({tile_w}x{tile_h} tiles)", canvas, columns, rows)
            )
    return out


def evaluate_photos(detect: Detect) -> PhotoTally:
    tally = PhotoTally()
    for name in portrait_names():
        boxes = detect(_read(name))
        tally.add("portraits", int(bool(boxes)), 1, max(0, len(boxes) - 1))
    boxes = detect(_read(SELFIE))
    tally.add("group selfie", min(len(boxes), SELFIE_FACES), SELFIE_FACES, max(0, len(boxes) - 7))
    tally.add("multi-face set", min(len(boxes), SELFIE_FACES), SELFIE_FACES, max(0, len(boxes) - 7))
    for set_name, image, columns, rows in mosaics():
        height, width = image.shape[:2]
        per_tile: dict[tuple[int, int], int] = {}
        for x, y, w, h in detect(image):
            key = (int((y + h / 2) // (height / rows)), int((x + w / 2) // (width / columns)))
            per_tile[key] = per_tile.get(key, 0) + 1
        found = len(per_tile)
        extra = sum(n - 1 for n in per_tile.values())
        tally.add(set_name, found, columns * rows, extra)
        tally.add("multi-face set", found, columns * rows, extra)
    return tally
