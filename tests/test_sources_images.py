"""Image files and folders: timestamps, odd pixel formats, huge images, broken files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.errors import InputError
from pipeline.sources import (
    image_timestamp,
    iter_image_folder,
    read_image,
    reduction_factor,
    scan_image_folder,
)
from pipeline.synthetic import make_background

TAKEN = datetime(2026, 3, 14, 10, 15, 2)


def _scene(seed: int = 0, height: int = 150, width: int = 200) -> np.ndarray:
    return make_background(np.random.default_rng(seed), height, width)


def _write_with_exif(
    path: Path, taken: datetime, offset: str | None = None, orientation: int | None = None
) -> np.ndarray:
    """Save a scene through Pillow with EXIF DateTimeOriginal in the Exif IFD (0x8769)."""
    bgr = _scene()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
    if offset is not None:
        exif.get_ifd(0x8769)[36881] = offset
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(bgr[:, :, ::-1]).save(path, exif=exif.tobytes())
    return bgr


def _set_mtime(path: Path, when: datetime) -> None:
    stamp = when.replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_exif_time_wins_over_name_and_mtime(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cam1_20250101_000000{suffix}"
    _write_with_exif(path, TAKEN)
    _set_mtime(path, datetime(2024, 1, 1))
    assert image_timestamp(path) == TAKEN


def test_exif_offset_is_converted_to_utc(tmp_path: Path) -> None:
    path = tmp_path / "shot.jpg"
    _write_with_exif(path, TAKEN, offset="+02:00")
    assert image_timestamp(path) == datetime(2026, 3, 14, 8, 15, 2)


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("cam1_20260314_101502.jpg", None, TAKEN),
        ("20260314T101502.png", None, TAKEN),
        ("20260314101502123.jpg", None, TAKEN),  # trailing milliseconds
        ("lobby-2026-03-14T10-15-02.png", None, TAKEN),
        ("door-snap-14.03.2026-101502.jpg", "snap-%d.%m.%Y-%H%M%S", TAKEN),
        ("serial_99999999_999999.jpg", None, None),  # 14 digits that are no date: mtime
    ],
)
def test_time_from_file_name(
    tmp_path: Path, name: str, pattern: str | None, expected: datetime | None
) -> None:
    path = tmp_path / name
    cv2.imwrite(str(path), _scene())  # OpenCV writes no EXIF
    mtime = datetime(2025, 6, 1, 12, 0, 0)
    _set_mtime(path, mtime)
    assert image_timestamp(path, pattern) == (expected or mtime)


def test_mtime_is_the_last_resort(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.png"
    cv2.imwrite(str(path), _scene())
    _set_mtime(path, datetime(2025, 6, 1, 12, 0, 0, 250000))
    assert image_timestamp(path) == datetime(2025, 6, 1, 12, 0, 0, 250000)


def test_a_reset_camera_clock_gives_way_to_the_next_source(tmp_path: Path) -> None:
    """EXIF written by a camera whose clock reset to 1970 (or that runs years ahead) would
    put the snapshot decades from its campaign: the name's time, then the mtime, is used."""
    named = tmp_path / "cam1_20260314_101502.jpg"
    _write_with_exif(named, datetime(1970, 1, 1, 0, 3, 0))
    _set_mtime(named, datetime(2025, 6, 1))
    assert image_timestamp(named) == TAKEN
    ahead = tmp_path / "snapshot.jpg"
    _write_with_exif(ahead, datetime(2099, 1, 1))
    _set_mtime(ahead, datetime(2025, 6, 1))
    assert image_timestamp(ahead) == datetime(2025, 6, 1)


def test_a_file_without_a_plausible_time_is_refused_and_skipped(tmp_path: Path) -> None:
    """No source a working clock could have written: refused with what was found, and in a
    folder skipped like a damaged file, while the good snapshots are kept."""
    bad = tmp_path / "cam1_19700101_000500.jpg"
    _write_with_exif(bad, datetime(2000, 1, 1, 0, 0, 7))
    _set_mtime(bad, datetime(1980, 1, 1))
    with pytest.raises(InputError) as caught:
        image_timestamp(bad)
    assert caught.value.title == "Implausible capture time"
    for found in ("EXIF 2000-01-01 00:00", "name 1970-01-01 00:05", "file 1980-01-01 00:00"):
        assert found in caught.value.message
    good = tmp_path / "cam1_20260314_101502.jpg"
    _write_with_exif(good, TAKEN)
    scan = scan_image_folder(tmp_path)
    assert [p.name for _, p in scan.files] == [good.name]
    assert [p.name for p, _ in scan.skipped] == [bad.name]
    assert "no capture time between" in scan.skipped[0][1]


def test_bad_name_pattern_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), _scene())
    with pytest.raises(InputError) as caught:
        image_timestamp(path, "%B-%Y")
    assert caught.value.title == "Invalid file-name pattern"


def test_pixel_formats_become_bgr_uint8(tmp_path: Path) -> None:
    grey16 = np.full((30, 40), 65535, np.uint16)
    grey16[:, :20] = 0
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    rgba = Image.new("RGBA", (40, 30), (200, 100, 50, 0))  # fully transparent, colour kept
    rgba.save(tmp_path / "rgba.png")
    Image.new("L", (40, 30), 77).save(tmp_path / "grey.bmp")
    image = read_image(tmp_path / "grey16.png")
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8
    assert image[:, :20].max() == 0 and image[:, 20:].min() == 255
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() == [50, 100, 200]
    assert np.all(read_image(tmp_path / "grey.bmp") == 77)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    bgr = _write_with_exif(path, TAKEN, orientation=6)  # "rotate 90° clockwise to view"
    assert read_image(path).shape == (bgr.shape[1], bgr.shape[0], 3)


def test_reduction_factor() -> None:
    assert reduction_factor(12000, 8400, 40_000_000) == 2
    assert reduction_factor(6000, 4000, 40_000_000) == 1
    assert reduction_factor(12000, 8400, 2_000_000) == 8
    assert reduction_factor(12000, 8400, 1_000_000) == 8  # 8 is the most a decoder reduces


@pytest.mark.parametrize(
    ("max_pixels", "shape"),
    [(10_000, (75, 100, 3)), (5_000, (75 // 2, 50, 3))],
)
def test_small_limits_reduce_then_resize(
    tmp_path: Path, max_pixels: int, shape: tuple[int, int, int]
) -> None:
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), _scene(height=300, width=400))
    image = read_image(path, max_pixels=max_pixels)
    assert image.shape[0] * image.shape[1] <= max_pixels
    assert image.shape == shape


def test_hundred_megapixel_image_is_read_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOTION_MAX_IMAGE_PIXELS", "40000000")  # a 40 MP limit, set explicitly
    path = tmp_path / "huge.png"
    huge = np.full((8400, 12000, 3), (40, 120, 200), np.uint8)
    huge[4000:4400, 6000:6800] = (255, 255, 255)
    assert cv2.imwrite(str(path), huge)
    del huge
    image = read_image(path)  # default limit: the setting EMOTION_MAX_IMAGE_PIXELS (40 MP here)
    # decoded at half scale (6000 x 4200 = 25.2 MP), not resized to 40 MP from full size
    assert image.shape == (4200, 6000, 3)
    assert image[2100, 3100].tolist() == [255, 255, 255]
    assert image[100, 100].tolist() == [40, 120, 200]


@pytest.mark.parametrize(
    ("content", "name", "title"),
    [
        (b"not an image at all\n" * 10, "fake.jpg", "Not an image"),
        (b"", "empty.png", "Empty file"),
        (b"GIF89a", "anim.gif", "Unsupported file type"),
    ],
    ids=["text", "empty", "gif"],
)
def test_bad_image_files(tmp_path: Path, content: bytes, name: str, title: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_image(path)
    assert caught.value.title == title
    assert name in caught.value.message


def test_png_cut_short_is_damaged(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    cv2.imwrite(str(whole), _scene(height=300, width=400))
    data = whole.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError) as caught:
        read_image(cut)
    assert caught.value.title == "Damaged image"


def _folder_of_snapshots(folder: Path) -> None:
    """Three good snapshots whose name order is not their time order, and junk around them."""
    cv2.imwrite(str(folder / "a_20260314_101510.jpg"), _scene(1))  # 3rd by name time
    _write_with_exif(folder / "b.png", datetime(2026, 3, 14, 10, 15, 0))  # 1st by EXIF
    cv2.imwrite(str(folder / "c.bmp"), _scene(2))
    _set_mtime(folder / "c.bmp", datetime(2026, 3, 14, 10, 15, 4))  # 2nd by mtime
    (folder / "notes.txt").write_text("not an image, ignored by suffix")
    (folder / "broken.jpg").write_text("an upload that failed")
    cv2.imwrite(str(folder / ".partial.jpg"), _scene(3))  # hidden: still being written
    (folder / "sub.jpg").mkdir()
    whole = cv2.imencode(".png", _scene(4, 300, 400))[1].tobytes()
    (folder / "cut.png").write_bytes(whole[: len(whole) // 3])  # header fine, pixels not
    _set_mtime(folder / "cut.png", datetime(2026, 3, 14, 10, 15, 6))


def test_folder_is_sorted_by_time_and_skips_broken_files(tmp_path: Path) -> None:
    _folder_of_snapshots(tmp_path)
    scan = scan_image_folder(tmp_path)
    assert [p.name for _, p in scan.files] == ["b.png", "c.bmp", "cut.png", "a_20260314_101510.jpg"]
    assert [p.name for p, _ in scan.skipped] == ["broken.jpg"]
    frames = list(scan.frames())
    assert [f.source_name for f in frames] == ["b.png", "c.bmp", "a_20260314_101510.jpg"]
    assert [f.offset_s for f in frames] == [0.0, 4.0, 10.0]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].timestamp == datetime(2026, 3, 14, 10, 15, 0)
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)
    assert [p.name for p, _ in scan.skipped] == ["broken.jpg", "cut.png"]
    assert "cut.png" in scan.skipped[1][1]


def test_iter_image_folder_yields_the_good_files(tmp_path: Path) -> None:
    _folder_of_snapshots(tmp_path)
    names = [f.source_name for f in iter_image_folder(tmp_path, max_pixels=1000)]
    assert names == ["b.png", "c.bmp", "a_20260314_101510.jpg"]


def test_missing_and_unreadable_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        iter_image_folder(tmp_path / "nowhere")  # fails at the call, not at the first frame
    assert caught.value.title == "Folder not found"
    a_file = tmp_path / "file.jpg"
    a_file.write_text("x")
    with pytest.raises(InputError) as caught:
        iter_image_folder(a_file)
    assert caught.value.title == "Folder not readable"


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists folders whatever their mode")
def test_folder_without_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(InputError) as caught:
            scan_image_folder(locked)
        assert caught.value.title == "Folder not readable"
    finally:
        locked.chmod(0o755)
