"""Detect every k-th frame, follow faces in between, split long files into chunks: the rows
must not depend on the split, faces must not drop, and pose and attention reach the store."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.assemble import FaceRows
from pipeline.audience import read
from pipeline.chunks import Chunk, plan_chunks, run_chunks
from pipeline.errors import InputError
from pipeline.ingest import Target, ingest
from pipeline.store import catalog
from pipeline.store.database import connect
from pipeline.vision.follow import CARRIED, DETECTED, INTERPOLATED, Detections, Sighting, follow
from pipeline.vision.pose import HeadPose
from tests.real_photos import SELFIE, SELFIE_FACES, panning_clip, photo, tiled


def _seen(box, yaw=0.0) -> Sighting:
    return Sighting(box, 0.9, 2, HeadPose(yaw, 0.0, 0.0), DETECTED)


def test_a_face_seen_on_both_sides_is_interpolated() -> None:
    before = Detections(1.0, [_seen((100, 100, 50, 50), yaw=0.0)])
    after = Detections(1.6, [_seen((130, 100, 50, 50), yaw=30.0)])
    (middle,) = follow(before, after, 1.2)
    assert middle.source == INTERPOLATED and middle.box == (110, 100, 50, 50)
    assert middle.pose is not None and middle.pose.yaw == pytest.approx(10.0)


def test_faces_seen_on_one_side_are_carried_from_the_nearer_detection() -> None:
    leaving = _seen((100, 100, 50, 50))
    arriving = _seen((600, 300, 60, 60))
    before, after = Detections(1.0, [leaving]), Detections(1.6, [arriving])
    near_start = follow(before, after, 1.2)
    near_end = follow(before, after, 1.4)
    assert [(s.box, s.source) for s in near_start] == [(leaving.box, CARRIED)]
    assert [(s.box, s.source) for s in near_end] == [(arriving.box, CARRIED)]
    assert [s.box for s in follow(before, None, 1.4)] == [leaving.box]


def test_chunks_sit_on_detection_periods_and_ignore_the_worker_count() -> None:
    params = AnalysisParams(sample_fps=5.0, detect_every=3)
    chunks = plan_chunks(params, duration_s=25.0, chunk_s=10.0)
    assert chunks == [Chunk(0.0, 10.2, 51), Chunk(10.2, 20.4, 102), Chunk(20.4, None, None)]
    middle = plan_chunks(AnalysisParams(start_s=3.0, end_s=12.0, detect_every=3), 25.0, 10.0)
    assert middle == [Chunk(3.0, 10.2, 51), Chunk(10.2, 12.0, None)]
    assert plan_chunks(params, 25.0, chunk_s=0) == [Chunk(0.0, None, None)]


def _ingest(path: Path, db: Path, name: str, params: AnalysisParams):
    summary = ingest("video", path, Target("Eyes", name, "ad", name), params, db)
    assert summary.status == "done", summary.message
    with connect(db, read_only=True) as con:
        faces = con.execute(
            "SELECT * EXCLUDE (job_id, source_id, stimulus_id) FROM face_observations "
            "WHERE job_id = ? ORDER BY frame_index, x",
            [summary.job_id],
        ).df()
        tracks = con.execute(
            "SELECT * EXCLUDE (job_id) FROM tracks WHERE job_id = ? ORDER BY track_id",
            [summary.job_id],
        ).df()
        stimulus = catalog.get_stimulus(con, catalog.get_campaign(con, "Eyes"), name)
        # Per second over people; every person shown (the store's own check, not a view).
        series = read.series(con, stimulus.stimulus_id, 1.0, False, min_crowd=1)
    return summary, faces, tracks, series


@pytest.fixture(scope="module")
def eyes_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("eyes") / "eyes.duckdb"
    with connect(db) as con:
        catalog.create_campaign(con, "Eyes")
    return db


@pytest.fixture(scope="module")
def portrait_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("portrait")
    return panning_clip(folder / "portrait.mp4", photo("img1.jpg"), seconds=6.0)


@pytest.mark.slow
def test_any_split_stores_the_same_rows(
    portrait_clip: Path, eyes_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOTION_FILE_WORKERS", "1")
    monkeypatch.setenv("EMOTION_CHUNK_S", "0")
    whole = _ingest(portrait_clip, eyes_db, "whole", AnalysisParams())
    monkeypatch.setenv("EMOTION_FILE_WORKERS", "2")
    monkeypatch.setenv("EMOTION_CHUNK_S", "1.5")  # four chunks, two at a time
    split = _ingest(portrait_clip, eyes_db, "split", AnalysisParams())
    pd.testing.assert_frame_equal(whole[1], split[1])
    pd.testing.assert_frame_equal(whole[2], split[2])
    assert len(whole[2]) == 1  # one person, tracked across every chunk boundary


@pytest.mark.slow
def test_following_keeps_every_face_and_says_so(portrait_clip: Path, eyes_db: Path) -> None:
    every = _ingest(portrait_clip, eyes_db, "every", AnalysisParams(detect_every=1))
    third = _ingest(portrait_clip, eyes_db, "third", AnalysisParams(detect_every=3))
    assert len(third[1]) >= len(every[1]) == every[0].frames  # one face on every frame
    assert set(every[1]["pose_source"]) == {"detected"}
    sources = third[1]["pose_source"].value_counts()
    assert sources["detected"] == pytest.approx(len(third[1]) / 3, abs=1)
    assert sources["interpolated"] > 0
    # Followed boxes stay on the face: within a few pixels of what detection says there.
    joined = every[1].merge(third[1], on="frame_index", suffixes=("_d", "_f"))
    shift = np.hypot(joined["x_d"] - joined["x_f"], joined["y_d"] - joined["y_f"])
    assert float(shift.max()) < 0.1 * float(joined["w_d"].mean())
    agree = (joined["dominant_d"] == joined["dominant_f"]).mean()
    assert agree >= 0.8


@pytest.mark.slow
def test_a_frontal_viewer_looks_the_whole_time(portrait_clip: Path, eyes_db: Path) -> None:
    _, faces, tracks, series = _ingest(portrait_clip, eyes_db, "look", AnalysisParams())
    assert faces["looking"].mean() >= 0.9
    assert faces["yaw"].abs().median() < 15
    (track,) = tracks.itertuples()
    assert track.attention_s == pytest.approx(track.dwell_s, abs=1.0)
    assert (series["people_looking"] == 1).all() and (series["share_looking"] == 1.0).all()


@pytest.mark.slow
def test_four_tiled_viewers_and_the_turned_face_of_the_selfie(
    tmp_path: Path, eyes_db: Path
) -> None:
    people = [photo(n) for n in ("img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg")]
    grid = tiled(people, 2, (480, 270))
    clip = panning_clip(tmp_path / "four.mp4", grid, seconds=4.0)
    _, _, tracks, series = _ingest(clip, eyes_db, "four", AnalysisParams())
    assert len(tracks) == 4
    assert series["people"].max() == 4
    selfie = panning_clip(tmp_path / "selfie.mp4", photo(SELFIE), seconds=4.0, size=(960, 960))
    _, _, tracks, series = _ingest(selfie, eyes_db, "selfie", AnalysisParams(min_face_px=24))
    assert len(tracks) == SELFIE_FACES
    assert 0 < series["people_looking"].max() < SELFIE_FACES  # one man looks away
    assert tracks["attention_s"].min() < tracks["dwell_s"].max()


@pytest.mark.slow
def test_haar_rows_have_unknown_pose(portrait_clip: Path, eyes_db: Path) -> None:
    _, faces, tracks, series = _ingest(
        portrait_clip, eyes_db, "haar", AnalysisParams(detector="opencv")
    )
    assert len(faces) > 0
    assert faces["looking"].isna().all() and faces["yaw"].isna().all()
    assert tracks["attention_s"].isna().all() and series["share_looking"].isna().all()


def test_a_failing_part_stops_the_parts_not_started() -> None:
    """A file whose first part fails (or a Ctrl-C) is given up at once: of 200 queued parts on
    two threads only those already running finish, not all the others first."""
    started: list[int] = []

    def analyse(part: int) -> FaceRows:
        started.append(part)
        if part == 0:
            raise InputError("Damaged file", "part 0 cannot be read")
        threading.Event().wait(0.02)
        return FaceRows()

    with pytest.raises(InputError, match="part 0"):
        run_chunks(analyse, list(range(200)), workers=2)
    assert 0 in started and len(started) < 20
