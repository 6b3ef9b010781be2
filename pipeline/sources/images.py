"""Still images: single files and folders of camera snapshots.

Snapshots carry no container clock, so each file's time comes from its EXIF, its name or its
mtime, and a folder becomes a time series by sorting on that. One broken file in a folder of
thousands is normal for cameras on flaky networks, so it is recorded and skipped, not fatal.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from pipeline.errors import InputError
from pipeline.settings import get_int
from pipeline.sources.clock import capture_window_text, plausible_capture
from pipeline.sources.frames import SampledFrame, check_readable_file, check_readable_folder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

_log = logging.getLogger(__name__)
_PIL_LOCK = threading.Lock()
_REDUCED_READ = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
# "cam1_20260314_101502.jpg", "20260314101502123.jpg", "2026-03-14T10-15-02.png"
_NAME_TIME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[_\-T ]?(\d{2})[-:]?(\d{2})[-:]?(\d{2})")
_STRPTIME_FIELDS = {
    "%Y": r"\d{4}",
    "%y": r"\d{2}",
    "%m": r"\d{1,2}",
    "%d": r"\d{1,2}",
    "%H": r"\d{1,2}",
    "%M": r"\d{1,2}",
    "%S": r"\d{1,2}",
    "%f": r"\d{1,6}",
    "%j": r"\d{1,3}",
    "%%": "%",
}
_EXIF_DATETIME_ORIGINAL = ExifTags.Base.DateTimeOriginal  # 36867, in the Exif IFD 0x8769
_EXIF_OFFSET_ORIGINAL = ExifTags.Base.OffsetTimeOriginal  # "+01:00": lets us convert to UTC
_EXIF_SUBSEC_ORIGINAL = ExifTags.Base.SubsecTimeOriginal


@dataclass
class ImageFolderScan:
    """A folder listed and time-sorted before any pixels are decoded.

    ``files`` are the readable images as (timestamp, path), oldest first (ties by name).
    ``skipped`` holds (path, reason) for image-suffixed files that could not be used; the
    scan fills it with files whose header is not an image, and ``frames()`` appends files
    whose pixels then fail to decode. Files without an image suffix and hidden files (a
    camera's ``.part`` temp files) are ignored, not skipped.
    """

    folder: Path
    files: list[tuple[datetime, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    log_skipped: bool = True

    def frames(self, max_pixels: int | None = None) -> Iterator[SampledFrame]:
        """Decode the files in time order; ``offset_s`` counts from the first yielded frame."""
        first: datetime | None = None
        index = 0
        for timestamp, path in self.files:
            try:
                image = read_image(path, max_pixels)
            except InputError as e:
                self._skip(path, e.message)
                continue
            first = first or timestamp
            yield SampledFrame(
                index=index,
                offset_s=(timestamp - first).total_seconds(),
                timestamp=timestamp,
                image=image,
                source_name=path.name,
            )
            index += 1

    def _skip(self, path: Path, reason: str) -> None:
        if self.log_skipped:
            _log.warning("Skipping %s: %s", path, reason)
        self.skipped.append((path, reason))


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to BGR uint8 (H, W, 3) with at most ``max_pixels`` pixels.

    ``max_pixels`` defaults to the setting EMOTION_MAX_IMAGE_PIXELS. The size is read from the
    header first; a larger image is decoded at 1/2, 1/4 or 1/8 scale (the smallest reduction
    that fits), then area-resized if still too big. For JPEG the reduction happens inside the
    decoder, so memory stays near the output size; other formats are decoded at full size
    once by OpenCV and reduced straight away. Grey, alpha and 16-bit images become 8-bit BGR;
    EXIF orientation is applied. Raises ``InputError`` ("Not an image", "Damaged image", ...).
    """
    path = Path(path)
    limit = get_int("EMOTION_MAX_IMAGE_PIXELS") if max_pixels is None else max_pixels
    if limit <= 0:
        raise InputError("Invalid pixel limit", f"max_pixels is {limit}; it must be positive.")
    _check_image_file(path)
    width, height, _ = _read_header(path)
    factor = reduction_factor(width, height, limit)
    try:
        image = cv2.imread(str(path), _REDUCED_READ[factor])
    except cv2.error as e:
        raise _damaged(path) from e
    if image is None:
        raise _damaged(path)
    return _fit(image, limit)


def reduction_factor(width: int, height: int, max_pixels: int) -> int:
    """The smallest decoder reduction (1, 2, 4 or 8) that brings the image under max_pixels.

    8 when even that is too big; ``read_image`` then resizes the rest of the way.
    """
    for factor in (1, 2, 4, 8):
        if math.ceil(width / factor) * math.ceil(height / factor) <= max_pixels:
            return factor
    return 8


def image_timestamp(path: Path, pattern: str | None = None) -> datetime:
    """When the picture was taken, as timezone-naive UTC.

    In order: EXIF DateTimeOriginal (converted with OffsetTimeOriginal when the camera wrote
    one, else taken as UTC, so set cameras to UTC); a time in the file name (``pattern``, a
    strptime format such as ``"snap-%d.%m.%Y-%H%M%S"`` found anywhere in the stem, or by
    default ``YYYYMMDD[_-T ]HHMMSS`` / ``YYYY-MM-DDTHH-MM-SS``); the file's mtime. A time
    outside ``pipeline.sources.clock``'s window (a reset camera clock) is passed over, and
    ``InputError("Implausible capture time")`` raised when no source has a plausible one.
    A file that is not an image still gets a name or mtime time.
    """
    path = Path(path)
    if pattern is not None:
        _pattern_regex(pattern)  # a bad pattern is the caller's error, not this file's
    stat = check_readable_file(path)
    try:
        exif_time = _read_header(path)[2]
    except InputError:
        exif_time = None
    return _timestamp(path, exif_time, pattern, stat.st_mtime)


def scan_image_folder(
    folder: Path, pattern: str | None = None, log_skipped: bool = True
) -> ImageFolderScan:
    """List ``folder`` (not recursive), time-stamp each image by its header, sort by time.

    Only headers are read, so scanning thousands of snapshots is quick. Raises
    ``InputError`` ("Folder not found", "Folder not readable") for the folder itself; a bad
    file only lands in ``skipped`` (and the log, unless ``log_skipped`` is false: a scan that
    only decides what to claim leaves telling the user to the scan that analyses).
    """
    folder = Path(folder)
    if pattern is not None:
        _pattern_regex(pattern)  # fail once here rather than skip every file for it
    scan = ImageFolderScan(folder, log_skipped=log_skipped)
    for path in list_image_files(folder):
        try:
            stat = check_readable_file(path)
            exif_time = _read_header(path)[2]
            scan.files.append((_timestamp(path, exif_time, pattern, stat.st_mtime), path))
        except InputError as e:
            scan._skip(path, e.message)
    scan.files.sort()
    return scan


def list_image_files(folder: Path) -> list[Path]:
    """The files of ``folder`` (not recursive) that are snapshots by their name, sorted by name:
    an image suffix, not hidden (a camera's ``.part`` temp files). Nothing is opened, so
    counting a folder of thousands (for a progress bar) is quick. Raises ``InputError`` for the
    folder itself."""
    check_readable_folder(folder)
    return [
        path
        for path in sorted(folder.iterdir())
        if not path.name.startswith(".")
        and path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
    ]


def iter_image_folder(
    folder: Path, max_pixels: int | None = None, pattern: str | None = None
) -> Iterator[SampledFrame]:
    """Frames of every image in ``folder`` in time order (see ``scan_image_folder``).

    The folder is checked when this is called. Unusable files are logged and skipped; use
    ``scan_image_folder(folder).frames()`` to get the list of them as well.
    """
    return scan_image_folder(folder, pattern).frames(max_pixels)


def check_image_file(path: Path) -> None:
    """Refuse (InputError) a file that is not a readable image by its suffix, size and
    header, without decoding its pixels."""
    _check_image_file(path)
    _read_header(path)


def _check_image_file(path: Path) -> None:
    stat = check_readable_file(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            "Unsupported file type",
            f"{path.name} does not end in one of {', '.join(IMAGE_SUFFIXES)}; "
            "convert it to one of these formats, or fix the suffix if it is wrong.",
        )
    if stat.st_size == 0:
        raise InputError(
            "Empty file", f"{path.name} is 0 bytes, so the copy or upload did not finish."
        )


@contextmanager
def _open_header_only(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` without Pillow's decompression-bomb check.

    The check refuses to even report the size of a >179 MP image, and the size is exactly
    what we need to decode it reduced. Opening reads only the header; nothing here decodes
    pixels. ``MAX_IMAGE_PIXELS`` is a Pillow global, so it is swapped under a lock.
    """
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    try:
        yield image
    finally:
        image.close()


def _read_header(path: Path) -> tuple[int, int, datetime | None]:
    """(width, height, EXIF time) from the header, or ``InputError("Not an image")``."""
    try:
        with _open_header_only(path) as image:
            width, height = image.size
            return width, height, _exif_time(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(
            "Not an image",
            f"{path.name} is not an image this program can read (its header is not JPEG, PNG, "
            "WebP, BMP or TIFF); check that it is the right file.",
        ) from e


def _exif_time(image: Image.Image) -> datetime | None:
    try:
        tags = image.getexif().get_ifd(ExifTags.IFD.Exif)
    except Exception:  # Pillow's EXIF parser raises many types on corrupt blocks; EXIF is optional
        return None
    raw = tags.get(_EXIF_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        taken = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" from cameras without a clock
        return None
    subsec = str(tags.get(_EXIF_SUBSEC_ORIGINAL, "")).strip("\x00 ")
    if subsec.isdigit():
        taken += timedelta(seconds=float(f"0.{subsec}"))
    offset = re.fullmatch(r"([+-])(\d{2}):(\d{2})", str(tags.get(_EXIF_OFFSET_ORIGINAL, "")))
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        taken -= sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
    return taken


def _timestamp(
    path: Path, exif_time: datetime | None, pattern: str | None, mtime: float
) -> datetime:
    """The first of EXIF, name and mtime times that a working clock could have written.

    A reset camera clock (EXIF 1970-01-01) would put the snapshot decades away from its
    campaign, so such a time gives way to the next source; when none is plausible the file
    is refused rather than counted at a time that is certainly wrong.
    """
    try:
        modified: datetime | None = datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # an mtime past datetime's range
        modified = None
    found = [
        (source, value)
        for source, value in (
            ("EXIF", exif_time),
            ("name", _name_time(path.stem, pattern)),
            ("file", modified),
        )
        if value is not None
    ]
    for _, value in found:
        if plausible_capture(value):
            return value
    times = ", ".join(f"{source} {value:%Y-%m-%d %H:%M}" for source, value in found)
    raise InputError(
        "Implausible capture time",
        f"{path.name} has no capture time {capture_window_text()} ({times}); "
        "set the camera's clock, or give the file a time in its name.",
    )


def _name_time(stem: str, pattern: str | None) -> datetime | None:
    if pattern is not None:
        for match in _pattern_regex(pattern).finditer(stem):
            try:
                return datetime.strptime(match.group(0), pattern)
            except ValueError:
                continue
        return None
    for match in _NAME_TIME.finditer(stem):
        try:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            return datetime(year, month, day, hour, minute, second)
        except ValueError:  # 14 digits that are not a date (a serial number)
            continue
    return None


@lru_cache(maxsize=32)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Turn a strptime format into a regex that finds it inside a file stem."""
    parts = []
    for token in re.split(r"(%.)", pattern):
        if token.startswith("%"):
            if token not in _STRPTIME_FIELDS:
                raise InputError(
                    "Invalid file-name pattern",
                    f"Pattern {pattern!r} uses {token}; only "
                    f"{' '.join(_STRPTIME_FIELDS)} are supported.",
                )
            parts.append(_STRPTIME_FIELDS[token])
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def _fit(image: np.ndarray, limit: int) -> np.ndarray:
    height, width = image.shape[:2]
    if height * width <= limit:
        return image
    scale = math.sqrt(limit / (height * width))
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    while new_w * new_h > limit:  # guards float rounding only
        new_w, new_h = max(1, new_w - 1), max(1, new_h - 1)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)


def _damaged(path: Path) -> InputError:
    return InputError(
        "Damaged image",
        f"{path.name} has an image header but its pixels could not be decoded (a cut or "
        "corrupt file); copy it again.",
    )
