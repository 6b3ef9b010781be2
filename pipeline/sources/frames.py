"""The record every frame reader yields, plus the file checks and hashing they share.

Readers differ in where pixels come from (a video container, a folder of snapshots, a camera)
but the analysis stage only needs one shape: pixels, where they sit in time, and a name for
the report. Keeping that one record here lets the stages after this package ignore the source.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.errors import InputError

_HASH_CHUNK = 1 << 20  # 1 MiB: large enough to be fast, small enough to never matter for memory


@dataclass(frozen=True, eq=False)
class SampledFrame:
    """One frame chosen for analysis.

    ``eq=False`` because comparing or hashing the pixel array field-by-field is ambiguous
    (numpy) and never what a caller wants; frames compare by identity.
    """

    index: int
    """Video: the frame's slot k on the sampling grid (k / sample_fps seconds from the start
    of the file), so chunks of one file number frames alike. Images and cameras: 0-based
    position among the frames this reader yields."""
    offset_s: float
    """Seconds since the start of the footage. Video: the container timestamp of the frame
    (``CAP_PROP_POS_MSEC``), so variable frame rates stay right. Images and cameras: seconds
    since the first yielded frame."""
    timestamp: datetime | None
    """Absolute time as timezone-naive UTC when known (image EXIF / file name / mtime, camera
    grab time); None for video files, whose wall-clock start is not reliable."""
    image: np.ndarray
    """BGR uint8 (H, W, 3)."""
    source_name: str = ""
    """File name for images; empty for video and camera frames."""


def check_readable_file(path: Path) -> os.stat_result:
    """Stat ``path`` and prove it can be opened for reading, else raise ``InputError``.

    Opening (not ``os.access``) is the real test: ``os.access`` says yes to root and no to
    files an ACL allows. Returns the stat so callers can use its size without a second call.
    """
    try:
        info = path.stat()
    except FileNotFoundError as e:
        raise InputError(
            "File not found", f"{path} does not exist; check the path and try again."
        ) from e
    except OSError as e:
        raise InputError(
            "File not readable", f"{path} cannot be read ({e.strerror}); check its permissions."
        ) from e
    if path.is_dir():
        raise InputError("Not a file", f"{path} is a folder; give the path of one file.")
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise InputError(
            "File not readable",
            f"{path} cannot be opened ({e.strerror}); give this program read permission on it.",
        ) from e
    return info


def check_readable_folder(folder: Path) -> None:
    """Raise ``InputError`` unless ``folder`` is a folder whose entries can be listed."""
    if not folder.exists():
        raise InputError(
            "Folder not found", f"{folder} does not exist; check the path and try again."
        )
    if not folder.is_dir():
        raise InputError(
            "Folder not readable", f"{folder} is a file, not a folder; give the folder's path."
        )
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as e:
        raise InputError(
            "Folder not readable",
            f"{folder} cannot be listed ({e.strerror}); give this program read permission on it.",
        ) from e


def content_hash(path: Path) -> str:
    """SHA-256 hex digest of the file's bytes, the idempotency key for an ingested file.

    Streamed in 1 MiB chunks so a multi-gigabyte recording never sits in memory. The content,
    not the name or mtime, is hashed so a re-uploaded or renamed copy is recognised.
    """
    check_readable_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise InputError(
            "File not readable", f"{path} could not be read to the end ({e.strerror})."
        ) from e
    return digest.hexdigest()
