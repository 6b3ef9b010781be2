"""A snapshot folder cut into batches (EMOTION_SNAPSHOT_BATCH) analysed at once: the same
frames, faces and people as one pass over the folder, with the real detector and model, real
JPEG and damaged PNG files and real DuckDB files."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.assemble import FaceRows
from pipeline.errors import InputError
from pipeline.ingest import Target, ingest, prepare_jobs
from pipeline.ray_executor import _File, _plan
from pipeline.snapshot_batches import batch_frames, plan_batches, renumber
from pipeline.sources import scan_image_folder
from pipeline.store import catalog
from pipeline.store.database import connect
from pipeline.synthetic import make_background
from tests.media import snapshot_folder

START = dt.datetime(2026, 3, 14, 9, 0)


def _damaged_png(path: Path, when: dt.datetime) -> None:
    """A PNG whose header reads but whose pixels do not decode (an upload cut short), taken
    (by its mtime) at ``when``."""
    rng = np.random.default_rng(len(path.name))  # another picture per name
    whole = cv2.imencode(".png", make_background(rng, 200, 300))[1]
    path.write_bytes(whole.tobytes()[: len(whole) // 3])
    stamp = when.replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.fixture(scope="module")
def burst(ferplus_valid, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine snapshots a second apart (three people who stay put, so they are tracked from one
    snapshot to the next), a damaged file before the first and one in the middle."""
    folder = snapshot_folder(
        tmp_path_factory.mktemp("burst") / "door_cam",
        ferplus_valid,
        START,
        count=9,
        every=dt.timedelta(seconds=1),
        labels=["happiness", "surprise", "neutral"],
        seed=11,
    )
    _damaged_png(folder / "early.png", START - dt.timedelta(seconds=1))
    _damaged_png(folder / "middle.png", START + dt.timedelta(seconds=4.5))
    return folder


def test_batches_number_frames_as_one_pass_does(burst: Path) -> None:
    whole = [(f.index, f.offset_s, f.timestamp, 0) for f in scan_image_folder(burst).frames()]
    assert len(whole) == 9 and whole[0][:2] == (0, 0.0)  # the damaged files leave no trace
    for size in (1, 2, 4, 0):
        batches = plan_batches(scan_image_folder(burst).files, size)
        assert len(batches) == (1 if size == 0 else -(-11 // size))
        parts = [
            FaceRows(frames=[(f.index, f.offset_s, f.timestamp, 0) for f in batch_frames(b)])
            for b in batches
        ]
        renumber(parts)
        assert [row for part in parts for row in part.frames] == whole, size


def test_an_empty_folder_is_one_batch_of_nothing(tmp_path: Path) -> None:
    (batch,) = plan_batches(scan_image_folder(tmp_path).files, 50)
    assert batch.files == () and list(batch_frames(batch)) == []


def _campaign_db(db: Path, campaign: str) -> Path:
    with connect(db) as con:
        catalog.create_campaign(con, campaign)
    return db


def _stored(db: Path, job_id: int) -> dict[str, pd.DataFrame]:
    with connect(db, read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT * EXCLUDE (job_id) FROM {table} WHERE job_id = ? ORDER BY ALL",
                [job_id],
            ).df()
            for table in ("frames", "tracks")
        } | {
            "faces": con.execute(
                "SELECT * EXCLUDE (job_id, source_id, stimulus_id) FROM face_observations "
                "WHERE job_id = ? ORDER BY frame_index, x",
                [job_id],
            ).df()
        }


@pytest.mark.slow
def test_any_batch_size_stores_the_same_rows(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when the names sort against the capture times: the snapshots of a copy named
    shot_08 (first taken) down to shot_00 (last), timed by their mtimes, are analysed and
    numbered in time order."""
    db = _campaign_db(tmp_path / "burst.duckdb", "Burst")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for taken, path in enumerate(sorted(burst.glob("cam_*.jpg"))):
        copy = renamed / f"shot_{8 - taken:02d}.jpg"
        copy.write_bytes(path.read_bytes())
        stamp = (START + dt.timedelta(seconds=taken)).replace(tzinfo=dt.UTC).timestamp()
        os.utime(copy, (stamp, stamp))
    stored = {}
    for name, folder, size, workers in (
        ("whole", burst, "0", "1"),
        ("batches", burst, "2", "2"),
        ("renamed", renamed, "2", "2"),
    ):
        monkeypatch.setenv("EMOTION_SNAPSHOT_BATCH", size)
        monkeypatch.setenv("EMOTION_FILE_WORKERS", workers)
        target = Target("Burst", name, "display", "door_cam", "camera")
        summary = ingest("images", folder, target, AnalysisParams(), db)
        assert summary.status == "done", summary.message
        stored[name] = _stored(db, summary.job_id)  # type: ignore[arg-type]
    for other in ("batches", "renamed"):
        for table in ("frames", "faces", "tracks"):
            pd.testing.assert_frame_equal(stored["whole"][table], stored[other][table])
    frames, tracks = stored["batches"]["frames"], stored["batches"]["tracks"]
    assert list(frames["frame_index"]) == list(range(9)) and frames["offset_s"].iloc[0] == 0.0
    # People were followed across batch boundaries (a batch holds two snapshots).
    assert tracks["observations"].max() >= 3


def test_a_folder_gone_before_planning_fails_alone(
    snapshots: Path, tmp_path: Path, ferplus_valid
) -> None:
    db = _campaign_db(tmp_path / "plan.duckdb", "Plan")
    gone = snapshot_folder(
        tmp_path / "gone_cam",
        ferplus_valid,
        START,
        count=2,
        every=dt.timedelta(minutes=1),
        labels=["neutral"],
    )
    targets = [Target("Plan", "Window", "display", p.name, "camera") for p in (snapshots, gone)]
    summaries, specs = prepare_jobs("images", [snapshots, gone], targets, AnalysisParams(), db)
    assert summaries == [] and len(specs) == 2
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    files = [_File(spec, []) for spec in specs]
    queue = _plan(files, db, summaries)
    assert {work.file for work in queue} == {0} and len(queue) == 1  # 12 snapshots, one batch
    (failed,) = summaries
    assert failed.status == "failed" and failed.input_name == "gone_cam"
    assert "gone_cam does not exist" in failed.message
    with connect(db, read_only=True) as con:
        states = con.execute("SELECT status FROM ingest_jobs ORDER BY job_id").fetchall()
    assert [s for (s,) in states] == ["running", "failed"]


@pytest.mark.slow
def test_a_folder_s_progress_counts_its_snapshots(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar moves while a folder is analysed (it stayed at 0 % until the end): the share
    of the folder's 11 image files analysed so far; the 2 damaged ones end it short of 1."""
    monkeypatch.setenv("EMOTION_FILE_WORKERS", "1")
    db = _campaign_db(tmp_path / "progress.duckdb", "Burst")
    seen: list[tuple[float, int]] = []
    target = Target("Burst", "Door", "display", "door_cam", "camera")
    summary = ingest(
        "images", burst, target, AnalysisParams(), db, progress=lambda f, n, _: seen.append((f, n))
    )
    assert summary.status == "done", summary.message
    moving = [(f, n) for f, n in seen if n > 0]
    assert [n for _, n in moving] == list(range(1, 10))
    assert [f for f, _ in moving] == pytest.approx([n / 11 for _, n in moving])


@pytest.mark.slow
def test_haar_batches_on_two_threads_store_what_one_thread_does(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCV's Haar cascade (one per process, DeepFace's) gives wrong boxes or raises when two
    threads run it at once: the batches take turns on it, so the rows do not depend on the
    thread count."""
    db = _campaign_db(tmp_path / "haar.duckdb", "Burst")
    stored = {}
    for name, size, workers in (("one thread", "0", "1"), ("two threads", "1", "2")):
        monkeypatch.setenv("EMOTION_SNAPSHOT_BATCH", size)
        monkeypatch.setenv("EMOTION_FILE_WORKERS", workers)
        target = Target("Burst", name, "display", "door_cam", "camera")
        summary = ingest("images", burst, target, AnalysisParams(detector="opencv"), db)
        assert summary.status == "done", summary.message
        stored[name] = _stored(db, summary.job_id)  # type: ignore[arg-type]
    for table in ("frames", "faces", "tracks"):
        pd.testing.assert_frame_equal(stored["one thread"][table], stored["two threads"][table])
    assert len(stored["one thread"]["faces"]) >= 9  # the planted faces are found


def _jobs(db: Path) -> list[tuple[int, str, int]]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT job_id, status, frames FROM ingest_jobs ORDER BY job_id"
        ).fetchall()


def _faces_by_snapshot(db: Path) -> dict[object, int]:
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT ts, count(*) FROM face_observations GROUP BY ts").fetchall()
    return dict(rows)


@pytest.mark.slow
def test_a_growing_camera_folder_adds_only_its_new_snapshots(ferplus_valid, tmp_path: Path) -> None:
    """A camera keeps writing to its folder and the folder is ingested again: only the new
    snapshots are analysed; touched, re-linked, deleted or twice-stored snapshots are neither
    counted twice nor forgotten (every snapshot was stored twice before)."""
    db = _campaign_db(tmp_path / "cam.duckdb", "Cam")
    folder = tmp_path / "door_cam"
    every = dt.timedelta(minutes=5)
    snapshot_folder(folder, ferplus_valid, START, count=4, every=every, labels=["happiness"])
    target = Target("Cam", "Door", "display", "door_cam", "camera")

    def again(force: bool = False):
        return ingest("images", folder, target, AnalysisParams(), db, force=force)

    first = again()
    assert first.status == "done" and first.frames == 4
    stored = _faces_by_snapshot(db)
    assert len(stored) == 4 and sum(stored.values()) == first.faces
    # Two more snapshots, a "latest.jpg" link to one of them, an old one touched.
    snapshot_folder(
        folder, ferplus_valid, START + 4 * every, count=2, every=every, labels=["surprise"], seed=9
    )
    newest = sorted(folder.glob("cam_*.jpg"))[-1]
    (folder / "latest.jpg").symlink_to(newest.name)
    os.utime(sorted(folder.glob("cam_*.jpg"))[0])
    second = again()
    assert second.status == "done" and second.frames == 2, second
    grown = _faces_by_snapshot(db)
    assert len(grown) == 6 and {ts: grown[ts] for ts in stored} == stored
    # Nothing new (the camera's retention deleted the oldest): skipped, nothing forgotten.
    sorted(folder.glob("cam_*.jpg"))[0].unlink()
    third = again()
    assert third.status == "skipped" and "all 5 snapshot(s) are stored" in third.message
    assert _faces_by_snapshot(db) == grown
    # --force analyses the folder's 5 snapshots again and replaces the jobs that held them.
    forced = again(force=True)
    assert forced.status == "done" and forced.frames == 5
    assert [(status, frames) for _, status, frames in _jobs(db)] == [("done", 5)]
    assert len(_faces_by_snapshot(db)) == 5


@pytest.mark.slow
def test_a_snapshot_pushed_alone_is_not_counted_again_with_its_folder(
    ferplus_valid, tmp_path: Path
) -> None:
    """``watch`` and the HTTP service store snapshots one by one; ingesting their folder later
    adds only the ones not stored."""
    db = _campaign_db(tmp_path / "push.duckdb", "Cam")
    folder = snapshot_folder(
        tmp_path / "door_cam",
        ferplus_valid,
        START,
        count=3,
        every=dt.timedelta(minutes=5),
        labels=["neutral"],
    )
    target = Target("Cam", "Door", "display", "door_cam", "camera")
    alone = ingest("images", sorted(folder.iterdir())[0], target, AnalysisParams(), db)
    assert alone.status == "done" and alone.frames == 1
    whole = ingest("images", folder, target, AnalysisParams(), db)
    assert whole.status == "done" and whole.frames == 2, whole
    assert len(_faces_by_snapshot(db)) == 3
    again = ingest("images", sorted(folder.iterdir())[1], target, AnalysisParams(), db)
    assert again.status == "skipped" and "already ingested" in again.message


@pytest.mark.slow
def test_a_snapshot_with_a_reset_clock_is_not_stored_and_counts_once_its_time_is_fixed(
    ferplus_valid, tmp_path: Path
) -> None:
    """A snapshot whose every time is implausible (a camera reset to 1980, no time in its
    name) is skipped without being recorded as stored, so once renamed with its time it is
    counted by the next ingest; alone (``watch``, one file) it is refused before any job is
    written."""
    db = _campaign_db(tmp_path / "clock.duckdb", "Cam")
    folder = snapshot_folder(
        tmp_path / "door_cam",
        ferplus_valid,
        START,
        count=3,
        every=dt.timedelta(minutes=5),
        labels=["happiness"],
    )
    reset = folder / "snapshot.jpg"
    sorted(folder.glob("cam_*.jpg"))[-1].rename(reset)
    stamp = dt.datetime(1980, 1, 1, tzinfo=dt.UTC).timestamp()
    os.utime(reset, (stamp, stamp))
    target = Target("Cam", "Door", "display", "door_cam", "camera")
    with pytest.raises(InputError, match="no capture time"):
        ingest("images", reset, target, AnalysisParams(), db)
    assert _jobs(db) == []
    first = ingest("images", folder, target, AnalysisParams(), db)
    assert first.status == "done" and first.frames == 2, first
    reset.rename(folder / f"cam_{START + dt.timedelta(minutes=10):%Y%m%d_%H%M%S}.jpg")
    second = ingest("images", folder, target, AnalysisParams(), db)
    assert second.status == "done" and second.frames == 1, second
    assert len(_faces_by_snapshot(db)) == 3


@pytest.mark.slow
def test_a_folder_s_headers_are_read_once_per_job(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The listing that decides which snapshots a job claims is the one its batches analyse:
    planning read every header a second time (twice the work on a camera's folder of
    thousands). A file the listing skips is reported once, by the run that analyses the
    folder, not by a later run that finds it already stored."""
    import shutil

    import pipeline.sources.images as images

    folder = tmp_path / "door_cam"
    shutil.copytree(burst, folder)
    (folder / "notes.jpg").write_text("not a picture")
    reads: list[str] = []
    read_header = images._read_header

    def counted(path: Path):  # the real header reader, counted
        reads.append(path.name)
        return read_header(path)

    monkeypatch.setattr(images, "_read_header", counted)
    db = _campaign_db(tmp_path / "once.duckdb", "Burst")
    target = Target("Burst", "Door", "display", "door_cam", "camera")
    with caplog.at_level(logging.WARNING):
        summary = ingest("images", folder, target, AnalysisParams(), db)
        assert summary.status == "done", summary.message
        # Each header is read once to list the folder and once more to decode the file (it
        # sets the decoder's reduction); the file that is not an image only by the listing.
        expected = {p.name: 2 for p in folder.iterdir()} | {"notes.jpg": 1}
        assert Counter(reads) == expected
        again = ingest("images", folder, target, AnalysisParams(), db)
    assert again.status == "skipped"
    skipped = [r.getMessage() for r in caplog.records if "notes.jpg" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].startswith("Skipping")
