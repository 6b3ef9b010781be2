"""Bad input through the CLI: a specific one-line error, exit code 2, nothing lost."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.store.database import connect
from pipeline.synthetic import make_background, write_video
from tests.cli import run_cli

_cli = run_cli


def _faces(db: Path) -> int:
    with connect(db, read_only=True) as con:
        return con.execute("SELECT count(*) FROM face_observations").fetchone()[0]


def _plain_video(path: Path, fourcc: str = "mp4v", seconds: float = 2.0) -> Path:
    rng = np.random.default_rng(0)
    frames = [make_background(rng, 240, 320) for _ in range(int(seconds * 10))]
    return write_video(path, frames, 10.0, fourcc)


def _bad_videos(folder: Path) -> dict[str, Path]:
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 20)
    whole = _plain_video(folder / "whole.mp4").read_bytes()
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])
    codec = folder / "odd_codec.avi"
    data = _plain_video(folder / "mjpg.avi", "MJPG").read_bytes()
    assert data.count(b"MJPG") >= 1
    codec.write_bytes(data.replace(b"MJPG", b"ZZZZ").replace(b"mjpg", b"zzzz"))
    return {
        "Empty file": empty,
        "Not a video": text,
        "Truncated or damaged video": truncated,
        "Unsupported codec": codec,
    }


@pytest.mark.parametrize(
    "title", ["Empty file", "Not a video", "Truncated or damaged video", "Unsupported codec"]
)
def test_bad_video_is_refused_and_nothing_is_lost(title, writable_db, tmp_path: Path) -> None:
    before = _faces(writable_db)
    path = _bad_videos(tmp_path)[title]
    done = _cli(
        "ingest",
        str(path),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Spring ad",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {title}:"), done.stderr
    assert path.name in lines[-1]
    assert "Traceback" not in done.stderr
    assert _faces(writable_db) == before


def test_unknown_campaign_names_the_known_ones(writable_db, ad_clip) -> None:
    done = _cli(
        "ingest",
        str(ad_clip.path),
        "--campaign",
        "Sprnig launch",
        "--stimulus",
        "x",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 2
    assert "error: Unknown campaign: No campaign named 'Sprnig launch'" in done.stderr
    assert "Spring launch" in done.stderr


def test_images_without_faces_are_recorded_as_zero_faces(tmp_path: Path) -> None:
    folder = tmp_path / "empty_shop"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        cv2.imwrite(str(folder / f"shop_20260301_10{i:02d}00.png"), make_background(rng, 360, 480))
    (folder / "readme.txt").write_text("not an image")
    db = tmp_path / "z.duckdb"
    assert _cli("campaigns", "add", "Shop", "--db", str(db)).returncode == 0
    done = _cli(
        "ingest-images", str(folder), "--campaign", "Shop", "--stimulus", "Shelf", "--db", str(db)
    )
    assert done.returncode == 0, done.stderr
    with connect(db, read_only=True) as con:
        frames = con.execute("SELECT faces, ts FROM frames ORDER BY frame_index").fetchall()
        status = con.execute("SELECT status, faces FROM ingest_jobs").fetchall()
    assert [f[0] for f in frames] == [0, 0, 0]
    assert str(frames[0][1]) == "2026-03-01 10:00:00"
    assert status == [("done", 0)]


def test_unreadable_folder_is_a_clear_error(tmp_path: Path, writable_db) -> None:
    not_a_folder = tmp_path / "cam.txt"
    not_a_folder.write_text("x")
    done = _cli(
        "ingest-images",
        str(tmp_path / "missing"),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Window display",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 2 and "error: Folder not found" in done.stderr


def test_camera_that_never_answers_times_out_with_retries(writable_db) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:  # accept and never say a word
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/stream.mjpg"
        done = _cli(
            "camera",
            url,
            "--campaign",
            "Spring launch",
            "--stimulus",
            "Window display",
            "--timeout",
            "1",
            "--retries",
            "2",
            "--db",
            str(writable_db),
            timeout=90,
        )
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()
    assert done.returncode == 2
    assert "error: Camera not reachable" in done.stderr and "2 attempts" in done.stderr


def test_a_bad_start_time_is_one_line(writable_db, tmp_path: Path) -> None:
    clip = _plain_video(tmp_path / "clip.mp4")
    done = _cli(
        "ingest",
        str(clip),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Spring ad",
        "--start-time",
        "yesterday",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'yesterday' is not an ISO 8601 time" in done.stderr.strip().splitlines()[-1]


def test_one_bad_file_of_several_fails_alone(writable_db, tmp_path: Path) -> None:
    """Files given together are summarised one by one, as with --workers and Ray: an empty
    file no longer stops the good one after it (it stopped the whole command)."""
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    clip = _plain_video(tmp_path / "clip.mp4")
    done = _cli(
        "ingest",
        str(empty),
        str(clip),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Quiet",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 0, done.stderr
    assert "empty.mp4: failed (" in done.stdout, done.stdout
    assert "clip.mp4: done (job" in done.stdout


def _catalog(db: Path) -> tuple[list[str], int]:
    with connect(db, read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT name FROM stimuli ORDER BY name").fetchall()]
        jobs = con.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0]
    return names, jobs


def test_bad_input_is_refused_before_anything_is_written(writable_db, tmp_path: Path) -> None:
    """An unknown detector, a file that is no image given to ingest-images, an image with a
    video suffix: one line, exit 2, and no stimulus, source or failed job left behind."""
    before = _catalog(writable_db)
    still = tmp_path / "poster.mp4"
    cv2.imwrite(str(tmp_path / "poster.jpg"), make_background(np.random.default_rng(2), 240, 320))
    (tmp_path / "poster.jpg").rename(still)
    notes = tmp_path / "notes"
    notes.write_text("not an image")
    folder = tmp_path / "cam"
    folder.mkdir()
    runs = {
        "Detector not available offline": ("ingest-images", str(folder), "--detector", "bogus"),
        "Unsupported file type": ("ingest-images", str(notes)),
        "Not a video": ("ingest", str(still)),
    }
    for title, args in runs.items():
        done = _cli(
            *args,
            "--campaign",
            "Spring launch",
            "--stimulus",
            f"New {title}",
            "--db",
            str(writable_db),
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(f"error: {title}:"), done.stderr
    assert _catalog(writable_db) == before


def test_names_and_paths_with_control_characters(writable_db, tmp_path: Path) -> None:
    """A line break or terminal escape in a name is refused; in a path it is printed as an
    escape, so the error stays one line and cannot drive the terminal."""
    for name in ("Spring\nlaunch", "red\x1b[31m"):
        done = _cli("campaigns", "add", name, "--db", str(writable_db))
        assert done.returncode == 2 and "error: Invalid campaign name:" in done.stderr
        assert "\x1b" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = _cli(
        "ingest-images",
        str(tmp_path / "no\x1b[2Jsuch\nfolder"),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Window display",
        "--db",
        str(writable_db),
    )
    assert done.returncode == 2 and "\x1b" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "Folder not found" in line]
    assert line.startswith("error: Folder not found:") and "no\\x1b[2Jsuch\\nfolder" in line
