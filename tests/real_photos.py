"""The real photographs of ../shared/datasets/real-photos (see its README), and clips of them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.settings import get_setting
from pipeline.synthetic import write_video

PHOTOS = Path(get_setting("EMOTION_REAL_PHOTOS_DIR"))
SELFIE = "selfie-many-people.jpg"
SELFIE_FACES = 7
# Photos with small, blurred or cut-off people behind the main one (README): extra boxes there
# are neither hits nor false positives.
WITH_BACKGROUND_PEOPLE = {f"img{n}.jpg" for n in (16, 31, 40, 41, 54, 59, 62)}


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(PHOTOS / name))
    if image is None:
        pytest.fail(f"real photo {name} missing from {PHOTOS}")
    return image


def portraits() -> list[str]:
    """The single-face photos (main person only), by name."""
    names = sorted(p.name for p in PHOTOS.glob("img*.jpg"))
    if not names:
        pytest.fail(f"no real photos in {PHOTOS}")
    return names


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fit (width, height) and centred on grey."""
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    canvas = np.full((height, width, 3), 120, np.uint8)
    y0, x0 = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def panning_clip(
    path: Path, image: np.ndarray, seconds: float, fps: float = 15.0, size=(960, 540)
) -> Path:
    """A slow pan and zoom over ``image`` (faces move a little, as a viewer would), encoded."""
    width, height = size
    base = fit(image, width, height)
    frames = []
    count = round(seconds * fps)
    for k in range(count):
        t = k / max(1, count - 1)
        zoom = 1.0 + 0.08 * t
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, zoom)
        matrix[0, 2] += 12 * t
        frames.append(cv2.warpAffine(base, matrix, (width, height), borderValue=(120, 120, 120)))
    return write_video(path, frames, fps)


def tiled(images: list[np.ndarray], columns: int, tile: tuple[int, int]) -> np.ndarray:
    """Images fitted into equal tiles, row by row."""
    rows = -(-len(images) // columns)
    out = np.full((rows * tile[1], columns * tile[0], 3), 120, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * tile[1] : (r + 1) * tile[1], c * tile[0] : (c + 1) * tile[0]] = fit(image, *tile)
    return out
