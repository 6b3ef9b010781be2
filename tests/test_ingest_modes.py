"""The other ways in: a watched folder, a camera URL, huge snapshots, the quality gate."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.analysis import AnalysisParams
from pipeline.ingest import Target, ingest
from pipeline.settings import PROJECT_ROOT
from pipeline.store.database import connect
from pipeline.synthetic import make_background, paste_face


def _jobs(db: Path) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT input_name, status, faces FROM ingest_jobs ORDER BY job_id"
        ).fetchall()


def test_watch_ingests_snapshots_as_they_arrive(writable_db, ferplus_valid, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    before = len(_jobs(writable_db))
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "watch",
            str(folder),
            "--campaign",
            "Spring launch",
            "--stimulus",
            "Window display",
            "--camera",
            "window_cam",
            "--poll",
            "0.2",
            "--max-files",
            "2",
            "--seconds",
            "120",
            "--db",
            str(writable_db),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rng = np.random.default_rng(4)
    for i in range(2):
        time.sleep(1.0)
        frame = make_background(rng, 540, 960)
        paste_face(frame, ferplus_valid.images[i], 300, 150, 160)
        cv2.imwrite(str(folder / f"cam_20260315_1200{i}0.jpg"), frame)
    _, err = watcher.communicate(timeout=150)
    assert watcher.returncode == 0, err
    new = _jobs(writable_db)[before:]
    assert [j[0] for j in new] == ["cam_20260315_120000.jpg", "cam_20260315_120010.jpg"]
    assert all(status == "done" for _, status, _ in new)


def test_camera_url_grabs_and_commits(writable_db, ad_clip) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "camera",
            str(ad_clip.path),
            "--campaign",
            "Spring launch",
            "--stimulus",
            "Window display",
            "--camera",
            "replay",
            "--every",
            "0.3",
            "--max-frames",
            "4",
            "--batch",
            "2",
            "--db",
            str(writable_db),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with connect(writable_db, read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), min(f.ts) FROM frames f JOIN ingest_jobs j "
            "USING (job_id) JOIN sources s USING (source_id) "
            "WHERE s.name = 'replay'"
        ).fetchone()
        jobs = con.execute(
            "SELECT count(*) FROM ingest_jobs j JOIN sources s USING "
            "(source_id) WHERE s.name = 'replay'"
        ).fetchone()[0]
    assert rows[0] == 4 and jobs == 2
    assert abs((dt.datetime.now(dt.UTC).replace(tzinfo=None) - rows[1]).total_seconds()) < 300


def test_hundred_megapixel_snapshot_is_downscaled_with_bounded_memory(tmp_path: Path) -> None:
    folder = tmp_path / "huge"
    folder.mkdir()
    image = np.full((8400, 12000, 3), 90, np.uint8)  # 100.8 MP
    cv2.imwrite(str(folder / "shelf_20260301_090000.jpg"), image)
    del image
    db = tmp_path / "h.duckdb"
    script = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"main(['campaigns', 'add', 'H', '--db', {str(db)!r}])\n"
        f"code = main(['ingest-images', {str(folder)!r}, '--campaign', 'H', '--stimulus', 'S',"
        f" '--db', {str(db)!r}])\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of this large
        # pytest process would report pytest's memory instead of its own.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "print('PEAK_MB', int(hwm.split()[1]) // 1024)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    peak = int(next(x for x in done.stdout.splitlines() if x.startswith("PEAK_MB")).split()[1])
    # Measured ~510 MB (models and libraries ~220 MB). Decoding the image whole would need
    # 300 MB for its pixels alone, and detecting on it several times that.
    assert peak < 800, peak
    assert _jobs(db) == [("huge", "done", 0)]


def test_quality_gate_drops_flagged_faces(writable_db, ad_clip) -> None:
    params = AnalysisParams(drop_flags=("small", "blurred", "profile"), min_face_px=48)
    summary = ingest(
        "video", ad_clip.path, Target("Spring launch", "Gated", "ad", "gated"), params, writable_db
    )
    ungated = ingest(
        "video",
        ad_clip.path,
        Target("Spring launch", "Ungated", "ad", "open"),
        AnalysisParams(),
        writable_db,
    )
    assert summary.status == ungated.status == "done"
    assert summary.faces < ungated.faces
    with connect(writable_db, read_only=True) as con:
        flagged = con.execute(
            "SELECT count(*) FROM face_observations WHERE job_id = ? AND "
            "(is_small OR is_blurred OR is_profile)",
            [summary.job_id],
        ).fetchone()[0]
        warnings = con.execute(
            "SELECT warnings FROM ingest_jobs WHERE job_id = ?", [summary.job_id]
        ).fetchone()[0]
    assert flagged == 0 and "quality gate" in warnings
