"""A camera beside the display: its yaw offset moves the looking cone (real CLI, real clip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.analysis import AnalysisParams
from pipeline.ingest import Target, ingest
from pipeline.store import catalog
from pipeline.store.database import connect
from tests.cli import run_cli
from tests.real_photos import panning_clip, photo

_cli = run_cli


@pytest.mark.slow
def test_a_viewer_facing_the_lens_is_not_looking_at_a_display_beside_it(tmp_path: Path) -> None:
    db = tmp_path / "angle.duckdb"
    with connect(db) as con:
        campaign = catalog.create_campaign(con, "Store")
        catalog.ensure_stimulus(con, campaign, "Window", "display")
    done = _cli("camera-angle", "Store", "Window", "side-cam", "--yaw", "40", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "+40" in done.stdout
    clip = panning_clip(tmp_path / "viewer.mp4", photo("img1.jpg"), seconds=3.0)
    params = AnalysisParams()
    ingest("video", clip, Target("Store", "Window", "display", "lens-cam"), params, db)
    ingest("video", clip, Target("Store", "Window", "display", "side-cam"), params, db)
    with connect(db, read_only=True) as con:
        share = dict(
            con.execute(
                "SELECT s.name, avg(o.looking::INT) FROM face_observations o "
                "JOIN sources s USING (source_id) GROUP BY 1"
            ).fetchall()
        )
        offsets = con.execute(
            "SELECT params FROM ingest_jobs j JOIN sources s USING (source_id) "
            "WHERE s.name = 'side-cam'"
        ).fetchone()
    assert share["lens-cam"] >= 0.9 and share["side-cam"] <= 0.1
    assert offsets is not None and '"yaw_offset_deg": 40.0' in offsets[0]


@pytest.mark.parametrize("value", ["nan", "95", "-inf"])
def test_an_impossible_camera_angle_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    db = tmp_path / "angle.duckdb"
    with connect(db) as con:
        campaign = catalog.create_campaign(con, "Store")
        catalog.ensure_stimulus(con, campaign, "Window", "display")
    done = _cli("camera-angle", "Store", "Window", "cam", f"--yaw={value}", "--db", str(db))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "angle" in done.stderr
