"""Reading the FER+ archives and applying the dataset's label rules.

The FER+ columns come in the dataset's own order; everything the product sees is re-ordered to
``LABELS`` here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.emotion.labels import LABELS

# Column order inside the .npz files (dataset README).
FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "not_face",
)
_TO_LABELS = [FERPLUS_COLUMNS.index(name) for name in LABELS]


def default_dataset_dir() -> Path:
    """The FER+ folder: ``EMOTION_FERPLUS_DIR`` if set, else ``../shared/datasets/ferplus``."""
    from pipeline.settings import get_setting

    return Path(get_setting("EMOTION_FERPLUS_DIR"))


@dataclass(frozen=True)
class FerplusSplit:
    """One split: images uint8 (N, 48, 48) and votes int (N, 10) in FER+ column order.

    ``names``: the FER+ file name of each face (``fer0000000.png``...), a stable identity
    that survives any re-packing of the archive (the held-out fold is drawn by name).
    """

    images: np.ndarray
    votes: np.ndarray
    names: np.ndarray | None = None

    def vote_distribution(self) -> np.ndarray:
        """Soft targets (N, 8) in ``LABELS`` order; single stray votes removed, rows sum to 1.

        Rows with no emotion votes left are all zero; ``usable_for_training`` filters them.
        """
        emotion_votes = self.votes[:, _TO_LABELS].astype(np.float32)
        emotion_votes[emotion_votes <= 1] = 0.0
        totals = emotion_votes.sum(axis=1, keepdims=True)
        return np.divide(emotion_votes, totals, out=np.zeros_like(emotion_votes), where=totals > 0)

    def usable_for_training(self) -> np.ndarray:
        """Mask of faces whose emotion votes outweigh the unknown / not-a-face votes."""
        cleaned = self.votes.astype(np.int32)
        cleaned[cleaned <= 1] = 0
        emotion = cleaned[:, _TO_LABELS].sum(axis=1)
        other = cleaned[:, 8:].sum(axis=1)
        return emotion > other

    def majority_labels(self) -> np.ndarray:
        """Label index in ``LABELS`` by the Barsoum et al. majority rule, -1 where none.

        1. counts <= 1 become 0; 2. keep a face only if its top count is more than half of the
        remaining votes and that column is one of the 8 emotions; 3. the label is that column.
        """
        cleaned = self.votes.astype(np.int32)
        cleaned[cleaned <= 1] = 0
        top = cleaned.argmax(axis=1)
        top_count = cleaned.max(axis=1)
        total = cleaned.sum(axis=1)
        keep = (top_count * 2 > total) & (top < 8)
        labels = np.full(len(cleaned), -1, dtype=np.int64)
        column_to_label = np.array([LABELS.index(name) for name in FERPLUS_COLUMNS[:8]])
        labels[keep] = column_to_label[top[keep]]
        return labels


def load_split(name: str, dataset_dir: Path | None = None) -> FerplusSplit:
    """Load ``train`` or ``valid`` from the FER+ folder.

    Raises FileNotFoundError with the path it looked at, so a missing mount is obvious.
    """
    folder = dataset_dir or default_dataset_dir()
    path = folder / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"FER+ split {name!r} not found at {path}; set EMOTION_FERPLUS_DIR to the folder"
        )
    with np.load(path, allow_pickle=False) as archive:
        columns = tuple(str(c) for c in archive["columns"])
        if columns != FERPLUS_COLUMNS:
            raise ValueError(f"unexpected FER+ columns in {path}: {columns}")
        names = archive["names"].astype(str) if "names" in archive.files else None
        return FerplusSplit(images=archive["images"], votes=archive["votes"], names=names)


def dataset_available(dataset_dir: Path | None = None) -> bool:
    """True when both FER+ splits are present (tests skip with a message otherwise)."""
    folder = dataset_dir or default_dataset_dir()
    return all((folder / f"{n}.npz").is_file() for n in ("train", "valid")) and os.access(
        folder, os.R_OK
    )
