"""Video reading on real files encoded here with OpenCV, including the ways files go bad."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.sources import content_hash, iter_video_frames, probe_video
from pipeline.synthetic import make_background, write_video

FPS = 25
HEIGHT, WIDTH = 128, 160  # make_background needs sides above 120 px
BIT = 16  # each frame shows its index as 8 black/white 16 px squares


def _numbered_frames(count: int) -> list[np.ndarray]:
    """Frames that carry their own index in binary, so a test can tell which one it got."""
    base = make_background(np.random.default_rng(7), HEIGHT, WIDTH)
    frames = []
    for i in range(count):
        frame = base.copy()
        for bit in range(8):
            frame[0:BIT, bit * BIT : (bit + 1) * BIT] = 255 if (i >> bit) & 1 else 0
        frames.append(frame)
    return frames


def _frame_number(image: np.ndarray) -> int:
    strip = image[2 : BIT - 2].astype(np.float32).mean(axis=(0, 2))
    bits = [strip[b * BIT + 2 : (b + 1) * BIT - 2].mean() > 128 for b in range(8)]
    return sum(1 << b for b, on in enumerate(bits) if on)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 10 s MPEG-4 .mp4 and a 10 s MJPEG .mkv and .avi, 25 fps, numbered frames."""
    folder = tmp_path_factory.mktemp("clips")
    frames = _numbered_frames(10 * FPS)
    return {
        "mp4": write_video(folder / "ten.mp4", frames, FPS, "mp4v"),
        "mkv": write_video(folder / "ten.mkv", frames, FPS, "MJPG"),
        "avi": write_video(folder / "ten.avi", frames[: 2 * FPS], FPS, "MJPG"),
    }


def _container_times(path: Path) -> list[float]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    times = []
    while cap.grab():
        times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
    cap.release()
    return times


def test_probe_reads_the_header(clips: dict[str, Path]) -> None:
    info = probe_video(clips["mp4"])
    assert (info.width, info.height, info.fps, info.frame_count) == (WIDTH, HEIGHT, 25.0, 250)
    assert info.duration_s == pytest.approx(10.0)
    assert info.codec == "mp4v"
    assert probe_video(clips["mkv"]).codec == "V_MJPEG"
    assert probe_video(clips["avi"]).codec == "MJPG"


def test_sampling_follows_container_timestamps(clips: dict[str, Path]) -> None:
    frames = list(iter_video_frames(clips["mp4"], sample_fps=5))
    assert len(frames) == 50
    container = _container_times(clips["mp4"])
    for k, frame in enumerate(frames):
        assert frame.index == k
        assert frame.offset_s == pytest.approx(0.2 * k, abs=1e-3)
        assert min(abs(frame.offset_s - t) for t in container) < 1e-3
        assert _frame_number(frame.image) == 5 * k  # the pixels are the frame at that time
        assert frame.image.shape == (HEIGHT, WIDTH, 3) and frame.image.dtype == np.uint8
        assert frame.timestamp is None and frame.source_name == ""


@pytest.mark.parametrize(
    ("start_s", "end_s", "expected_frames"),
    [
        (1.0, 2.0, [25, 30, 35, 40, 45]),  # short skip: decoded from the start
        # Seeks; 3.32 s (frame 83) is the first at or after 3.3 s, then the grid k / 5 s.
        (3.3, 5.0, [83, 85, 90, 95, 100, 105, 110, 115, 120]),
        (9.0, None, [225, 230, 235, 240, 245]),
    ],
)
def test_start_and_end(
    clips: dict[str, Path], start_s: float, end_s: float | None, expected_frames: list[int]
) -> None:
    frames = list(iter_video_frames(clips["mp4"], 5, start_s=start_s, end_s=end_s))
    assert [_frame_number(f.image) for f in frames] == expected_frames
    assert [f.offset_s for f in frames] == pytest.approx([n / FPS for n in expected_frames])
    # The index is the slot on the 5 frames/s grid from the start of the file.
    assert [f.index for f in frames] == [int(n / FPS * 5 + 1e-6) for n in expected_frames]


def test_sampling_faster_than_the_footage_yields_each_frame_once(clips: dict[str, Path]) -> None:
    frames = list(iter_video_frames(clips["avi"], sample_fps=60))
    assert [_frame_number(f.image) for f in frames] == list(range(2 * FPS))


@pytest.mark.parametrize(
    ("kwargs", "title"),
    [
        ({"sample_fps": 0}, "Invalid sample rate"),
        ({"sample_fps": 5, "start_s": 4.0, "end_s": 3.0}, "Invalid time range"),
        ({"sample_fps": 5, "start_s": 12.0}, "Invalid time range"),
    ],
)
def test_bad_arguments_fail_at_the_call(
    clips: dict[str, Path], kwargs: dict[str, float], title: str
) -> None:
    with pytest.raises(InputError) as caught:
        iter_video_frames(clips["mp4"], **kwargs)
    assert caught.value.title == title


def _copy_bytes(source: Path, target: Path, keep: float = 1.0) -> bytes:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return data


def test_missing_empty_and_wrong_files(tmp_path: Path, clips: dict[str, Path]) -> None:
    cases = {
        tmp_path / "nowhere.mp4": "File not found",
        tmp_path: "Not a file",
    }
    (tmp_path / "empty.mp4").touch()
    cases[tmp_path / "empty.mp4"] = "Empty file"
    (tmp_path / "notes.mp4").write_text("meeting notes, not a video\n" * 20)
    cases[tmp_path / "notes.mp4"] = "Not a video"
    _copy_bytes(clips["mp4"], tmp_path / "clip.txt")
    cases[tmp_path / "clip.txt"] = "Unsupported file type"
    for path, title in cases.items():
        with pytest.raises(InputError) as caught:
            probe_video(path)
        assert caught.value.title == title, path
        assert path.name in caught.value.message


@pytest.mark.parametrize("kind", ["mp4", "avi"])
def test_file_cut_in_half_is_truncated(tmp_path: Path, clips: dict[str, Path], kind: str) -> None:
    half = tmp_path / f"half.{kind}"
    whole = _copy_bytes(clips[kind], half, keep=0.5)
    assert half.read_bytes()[:12] == whole[:12]  # the header is still there
    with pytest.raises(InputError) as caught:
        probe_video(half)
    assert caught.value.title == "Truncated or damaged video"
    with pytest.raises(InputError):
        iter_video_frames(half, 5)


def test_unknown_codec_is_named(tmp_path: Path, clips: dict[str, Path]) -> None:
    data = clips["avi"].read_bytes()
    assert data.count(b"MJPG") == 2  # stream header's handler and format's compression
    odd = tmp_path / "odd.avi"
    odd.write_bytes(data.replace(b"MJPG", b"ZZZZ"))
    patched = odd.read_bytes()
    assert patched[:4] == b"RIFF" and patched[8:12] == b"AVI " and len(patched) == len(data)
    with pytest.raises(InputError) as caught:
        probe_video(odd)
    assert caught.value.title == "Unsupported codec"
    assert "'ZZZZ'" in caught.value.message


def test_streamable_file_with_missing_tail_raises_after_its_frames(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    cut = tmp_path / "cut.mkv"
    _copy_bytes(clips["mkv"], cut, keep=0.5)
    assert probe_video(cut).duration_s == pytest.approx(10.0)  # the header still says 10 s
    frames = []
    with pytest.raises(InputError) as caught:
        for frame in iter_video_frames(cut, 5):
            frames.append(frame.offset_s)
    assert caught.value.title == "Truncated video"
    assert 10 < len(frames) < 40
    reached = re.search(r"decoded up to ([\d.]+) s of 10\.0 s", caught.value.message)
    assert reached is not None
    assert frames[-1] <= float(reached.group(1)) <= frames[-1] + 0.25  # last decoded, not sampled


def test_range_that_ends_before_the_cut_is_fine(tmp_path: Path, clips: dict[str, Path]) -> None:
    cut = tmp_path / "cut.mkv"
    _copy_bytes(clips["mkv"], cut, keep=0.5)
    assert len(list(iter_video_frames(cut, 5, end_s=2.0))) == 10


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path, clips: dict[str, Path]) -> None:
    locked = tmp_path / "locked.mp4"
    _copy_bytes(clips["mp4"], locked)
    locked.chmod(0)
    with pytest.raises(InputError) as caught:
        probe_video(locked)
    assert caught.value.title == "File not readable"


def test_content_hash_streams_the_bytes(tmp_path: Path) -> None:
    blob = tmp_path / "blob.mp4"
    data = np.random.default_rng(1).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()
    blob.write_bytes(data)  # 2.4 MiB: crosses chunk boundaries
    assert content_hash(blob) == hashlib.sha256(data).hexdigest()
    with pytest.raises(InputError) as caught:
        content_hash(tmp_path / "gone.mp4")
    assert caught.value.title == "File not found"
