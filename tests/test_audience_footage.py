"""Audience metrics on real footage with known people counts: one person in a clip, and four
in a 2x2 tiling of the same clip, through real DeepFace detection and the real ONNX model."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.audience import read
from pipeline.ingest import Target, ingest
from pipeline.store import catalog
from pipeline.store.database import connect
from pipeline.synthetic import write_video

SEGMENTS = [(0.0, 4.0, "happiness"), (4.0, 8.0, "neutral")]


def _tile_2x2(source: Path, out: Path) -> Path:
    """The same clip four times in a 2x2 grid: four people, each exactly the solo viewer."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        row = np.hstack([frame, frame])
        frames.append(np.vstack([row, row]))
    capture.release()
    return write_video(out, frames, fps)


@pytest.fixture(scope="module")
def footage_db(tmp_path_factory: pytest.TempPathFactory, ferplus_valid) -> Path:
    from tests.media import planted_clip

    folder = tmp_path_factory.mktemp("people_footage")
    solo = planted_clip(folder / "solo.mp4", ferplus_valid, people=1, segments=SEGMENTS, seed=21)
    four = _tile_2x2(solo.path, folder / "four.mp4")
    db = folder / "people.duckdb"
    with connect(db) as con:
        campaign = catalog.create_campaign(con, "Counts")
        for name in ("Solo ad", "Four ad"):
            stimulus = catalog.create_stimulus(con, campaign, name, "ad", 8.0)
            catalog.set_segments(
                con, stimulus, [catalog.Segment("smile", 0, 4), catalog.Segment("calm", 4, 8)]
            )
    for name, path in (("Solo ad", solo.path), ("Four ad", four)):
        ingest("video", path, Target("Counts", name, "ad", path.name), AnalysisParams(), db)
    return db


def test_people_counts_dwell_and_looking_from_real_footage(footage_db: Path) -> None:
    with connect(footage_db, read_only=True) as con:
        summary = read.stimulus_summary(con, 1, 1).set_index("name")
        pose_known = con.execute("SELECT count(looking) FROM face_observations").fetchone()[0]
    solo, four = summary.loc["Solo ad"], summary.loc["Four ad"]
    assert (solo["people"], four["people"]) == (1, 4)
    assert (solo["passers_by"], four["passers_by"]) == (1, 4)
    assert four["faces"] == pytest.approx(4 * solo["faces"], rel=0.15)
    assert 6.0 <= solo["mean_dwell_s"] <= 8.5 and 6.0 <= four["mean_dwell_s"] <= 8.5
    # Planted: happy for 4 s, then neutral: each person's valence is about one half.
    assert 0.3 <= solo["valence"] <= 0.7 and 0.3 <= four["valence"] <= 0.7
    assert 0.3 <= solo["expressiveness"] <= 0.7
    if pose_known == 0:  # Haar gives no head pose: looking-based figures are not guessed
        for column in ("watchers", "mean_attention_s", "attraction", "share_looking"):
            assert math.isnan(solo[column]) and math.isnan(four[column])
    else:
        assert 0 <= four["watchers"] <= 4 and 0 <= four["share_looking"] <= 1


def test_one_person_at_5_fps_has_no_band_and_is_withheld_by_default(footage_db: Path) -> None:
    with connect(footage_db, read_only=True) as con:
        solo_default = read.series(con, 1, 1.0, False, 5)
        four_default = read.series(con, 2, 1.0, False, 5)
        solo_consented = read.series(con, 1, 1.0, False, 1)
        four_shown = read.series(con, 2, 1.0, False, 4)
        segments = read.segment_summary(con, 2, 4)
    assert solo_default["suppressed"].all() and four_default["suppressed"].all()
    assert solo_default["valence"].isna().all() and four_default["valence"].isna().all()
    shown = solo_consented[~solo_consented["suppressed"]]
    assert len(shown) >= 6 and (shown["people"] == 1).all()
    assert shown["valence_low"].isna().all()  # one person: "too few people" for a band
    visible = four_shown[~four_shown["suppressed"]]
    assert len(visible) >= 6 and (visible["people"] == 4).all()
    assert visible["valence_low"].notna().all()
    smile = segments.set_index("name").loc["smile"]
    assert smile["people"] == 4 and smile["valence"] > 0.5 and 0 <= smile["peak_s"] < 4
