"""Live sources: a camera URL (a local file, a silent server, a closed port) and a watched folder.

Only loopback addresses are used; nothing here reaches the network.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.sources import SampledFrame, iter_camera_frames, watch_folder
from pipeline.synthetic import make_background, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    frames = [make_background(rng, 128, 160) for _ in range(50)]
    return write_video(tmp_path_factory.mktemp("camera") / "feed.mp4", frames, 25, "mp4v")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback TCP server that accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)  # close() does not wake a blocked accept(), so poll for the end
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join(timeout=5)
    server.close()
    for conn in accepted:
        conn.close()


def _closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_file_url_yields_frames_at_the_interval(clip: Path) -> None:
    started = datetime.now(UTC).replace(tzinfo=None)
    frames = list(iter_camera_frames(str(clip), every_s=0.05, open_timeout_s=5, max_frames=4))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    offsets = [f.offset_s for f in frames]
    assert offsets[0] == 0.0
    assert all(offsets[k] >= 0.05 * k - 1e-6 for k in range(4))
    assert offsets == sorted(set(offsets))  # strictly increasing
    stamps = [f.timestamp for f in frames]
    assert all(s is not None and started <= s < started + timedelta(seconds=30) for s in stamps)
    assert all(f.image.shape == (128, 160, 3) and f.image.dtype == np.uint8 for f in frames)


def test_camera_stops_when_told(clip: Path) -> None:
    got: list[SampledFrame] = []
    for frame in iter_camera_frames(str(clip), every_s=0.01, stop=lambda: len(got) >= 2):
        got.append(frame)
    assert len(got) == 2


def test_silent_server_raises_after_the_retries(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = silent_server
    url = f"rtsp://127.0.0.1:{port}/live"
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        next(iter_camera_frames(url, every_s=1, open_timeout_s=1, retries=2, backoff_s=0.1))
    elapsed = time.monotonic() - started
    assert caught.value.title == "Camera not reachable"
    assert url in caught.value.message and "1 s after 2 attempts" in caught.value.message
    assert 1.5 < elapsed < 30  # both attempts waited for their timeout
    assert len(accepted) == 2


def test_closed_port_fails_fast_and_hides_the_password() -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{_closed_port()}/stream1"
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        next(iter_camera_frames(url, every_s=1, open_timeout_s=1, retries=3, backoff_s=0.05))
    assert time.monotonic() - started < 10
    assert caught.value.title == "Camera not reachable"
    assert "hunter2" not in caught.value.message and "admin:***@127.0.0.1" in caught.value.message


def test_bad_camera_arguments_fail_at_the_call() -> None:
    with pytest.raises(InputError) as caught:
        iter_camera_frames("rtsp://127.0.0.1:1/x", every_s=0)
    assert caught.value.title == "Invalid sampling interval"
    with pytest.raises(InputError):
        iter_camera_frames("rtsp://127.0.0.1:1/x", every_s=1, retries=0)


def _jpeg_bytes(seed: int) -> bytes:
    return cv2.imencode(".jpg", make_background(np.random.default_rng(seed), 128, 160))[1].tobytes()


def test_watch_yields_existing_then_new_files_once_settled(tmp_path: Path) -> None:
    for name, seed in [("b.jpg", 1), ("a.png", 2), ("c.jpg", 3)]:
        (tmp_path / name).write_bytes(_jpeg_bytes(seed))
    (tmp_path / "readme.txt").write_text("not an image")
    (tmp_path / ".d.jpg.tmp").write_bytes(b"hidden temp file")
    late = _jpeg_bytes(4)
    sizes_when_yielded: dict[str, int] = {}

    def camera() -> None:  # writes d.jpg slowly, in two chunks, like a camera on Wi-Fi
        time.sleep(0.3)
        with (tmp_path / "d.jpg").open("wb") as f:
            f.write(late[:100])
            f.flush()
            time.sleep(0.3)  # well under settle_s, even on a busy machine
            f.write(late[100:])

    writer = threading.Thread(target=camera)
    writer.start()
    seen = {tmp_path / "c.jpg"}
    got: list[str] = []
    deadline = time.monotonic() + 15
    try:
        for path in watch_folder(
            tmp_path,
            poll_s=0.05,
            settle_s=0.8,
            seen=seen,
            stop=lambda: len(got) >= 3 or time.monotonic() > deadline,
        ):
            sizes_when_yielded[path.name] = path.stat().st_size
            got.append(path.name)
    finally:
        writer.join()
    assert got == ["a.png", "b.jpg", "d.jpg"]
    assert sizes_when_yielded["d.jpg"] == len(late)  # not handed on half-written
    assert seen == {tmp_path / n for n in ("a.png", "b.jpg", "c.jpg", "d.jpg")}


def test_watch_missing_folder_fails_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        watch_folder(tmp_path / "nowhere")
    assert caught.value.title == "Folder not found"
