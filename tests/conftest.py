"""Shared fixtures: the FER+ validation split, and a DuckDB file made by the real pipeline.

``analysed_db`` runs real DeepFace detection and the real ONNX model over generated footage
and snapshots once per session; tests that write to a database copy it first.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")

from pipeline.analysis import AnalysisParams
from pipeline.emotion.ferplus import FerplusSplit, dataset_available, load_split

AD_SEGMENTS = [(0.0, 4.0, "happiness"), (4.0, 8.0, "neutral"), (8.0, 12.0, "surprise")]


@pytest.fixture(scope="session")
def ferplus_valid() -> FerplusSplit:
    if not dataset_available():
        pytest.skip("FER+ data not found: set EMOTION_FERPLUS_DIR to ../shared/datasets/ferplus")
    return load_split("valid")


@pytest.fixture(scope="session")
def ad_clip(tmp_path_factory: pytest.TempPathFactory, ferplus_valid: FerplusSplit):
    from tests.media import planted_clip

    folder = tmp_path_factory.mktemp("clips")
    return planted_clip(
        folder / "spring_ad.mp4", ferplus_valid, people=3, segments=AD_SEGMENTS, seed=3
    )


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory, ferplus_valid: FerplusSplit) -> Path:
    from tests.media import snapshot_folder

    folder = tmp_path_factory.mktemp("snapshots") / "window_cam"
    return snapshot_folder(
        folder,
        ferplus_valid,
        dt.datetime(2026, 3, 14, 9, 0),
        count=12,
        every=dt.timedelta(minutes=20),
        labels=["happiness", "neutral"],
        seed=5,
    )


@pytest.fixture(scope="session")
def analysed_db(tmp_path_factory: pytest.TempPathFactory, ad_clip, snapshots) -> Path:
    """A DuckDB file with campaign 'Spring launch': an ad (12 s, three segments) analysed from
    footage, and a window display analysed from 12 snapshots taken every 20 minutes."""
    from pipeline.ingest import Target, ingest
    from pipeline.store import catalog
    from pipeline.store.database import connect

    db = tmp_path_factory.mktemp("db") / "analysed.duckdb"
    with connect(db) as con:
        campaign = catalog.create_campaign(con, "Spring launch", "fixture campaign")
        ad = catalog.create_stimulus(con, campaign, "Spring ad", "ad", 12.0)
        catalog.set_segments(
            con,
            ad,
            [
                catalog.Segment(n, s, e)
                for s, e, n in [(0.0, 4.0, "intro"), (4.0, 8.0, "story"), (8.0, 12.0, "reveal")]
            ],
        )
    ingest(
        "video",
        ad_clip.path,
        Target("Spring launch", "Spring ad", "ad", "lab-session-1", "footage", 12.0),
        AnalysisParams(),
        db,
    )
    ingest(
        "images",
        snapshots,
        Target("Spring launch", "Window display", "display", "window_cam", "camera"),
        AnalysisParams(),
        db,
    )
    return db


@pytest.fixture()
def writable_db(analysed_db: Path, tmp_path: Path) -> Path:
    """A private copy of ``analysed_db`` that a test may change."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(analysed_db, copy)
    return copy
