"""Privacy by default: no pixels on disk, staff zones never scored, tiny crowds hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipeline.privacy import suppress_small_buckets
from pipeline.settings import PROJECT_ROOT
from pipeline.store.database import connect

_PIXEL_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*")


def _files_with_pixels(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                head = handle.read(4)
            if head.startswith(_PIXEL_MAGIC) or path.suffix.lower() in (
                ".png",
                ".jpg",
                ".jpeg",
                ".bmp",
                ".webp",
                ".mp4",
                ".avi",
            ):
                found.append(path)
    return found


def test_ingestion_writes_no_pixels_anywhere(ad_clip, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    home = tmp_path / "home"
    scratch.mkdir()
    home.mkdir()
    db_dir = tmp_path / "db"
    env = {**os.environ, "TMPDIR": str(scratch), "HOME": str(home), "DEEPFACE_HOME": str(home)}
    db = db_dir / "p.duckdb"
    assert (
        subprocess.run(
            [sys.executable, "-m", "pipeline", "campaigns", "add", "P", "--db", str(db)],
            cwd=PROJECT_ROOT,
            env=env,
        ).returncode
        == 0
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "ingest",
            str(ad_clip.path),
            "--campaign",
            "P",
            "--stimulus",
            "Ad",
            "--db",
            str(db),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM face_observations").fetchone()[0] > 0
    assert _files_with_pixels(scratch) == []
    assert _files_with_pixels(home) == []
    assert _files_with_pixels(db_dir) == []


def test_exclusion_zone_faces_are_never_stored(writable_db, ad_clip) -> None:
    from pipeline.analysis import AnalysisParams
    from pipeline.ingest import Target, ingest
    from pipeline.store import catalog

    with connect(writable_db) as con:
        campaign = catalog.get_campaign(con, "Spring launch")
        stimulus = catalog.ensure_stimulus(con, campaign, "Zoned", "ad")
        catalog.ensure_source(
            con,
            stimulus,
            "footage",
            "zoned-room",
            exclusion_zones=[[(0.0, 0.0), (0.34, 0.0), (0.34, 1.0), (0.0, 1.0)]],
        )
    ingest(
        "video",
        ad_clip.path,
        Target("Spring launch", "Zoned", "ad", "zoned-room"),
        AnalysisParams(),
        writable_db,
    )
    with connect(writable_db, read_only=True) as con:
        centres = con.execute(
            "SELECT (x + w / 2) / 960.0 FROM face_observations f JOIN "
            "sources s USING (source_id) WHERE s.name = 'zoned-room'"
        ).fetchall()
        unzoned = con.execute(
            "SELECT count(*) FROM face_observations f JOIN sources s "
            "USING (source_id) WHERE s.name = 'lab-session-1'"
        ).fetchone()[0]
    assert centres and all(c[0] > 0.34 for c in centres)
    assert len(centres) < unzoned  # the person on the left third was dropped


def test_small_buckets_are_blanked_but_counted() -> None:
    table = pd.DataFrame(
        {
            "faces": [40, 9, 30],
            "people": [1, 6, 7],
            "valence": [0.5, 0.1, 0.2],
            "mean_happiness": [0.9, 0.3, 0.4],
            "suppressed": [False, False, True],  # withheld on the base grid upstream
        }
    )
    out = suppress_small_buckets(table, 5)  # people count, never faces
    assert out["suppressed"].tolist() == [True, False, True]
    assert out["valence"].isna().tolist() == [True, False, True]
    assert out["mean_happiness"].iloc[1] == 0.3
    assert out["faces"].tolist() == [40, 9, 30] and out["people"].tolist() == [1, 6, 7]
