"""Uploaded footage is deleted once its job ends (done or failed) unless the user keeps it.

Driven through the real upload path: ``store_upload`` + ``queue_upload`` as the dashboard
calls them, and the detached ``python -m pipeline run-job`` process that analyses the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.analysis import AnalysisParams
from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs
from pipeline.store.database import connect
from pipeline.uploads import kept_uploads, launch_job, queue_upload, store_upload

MEDIA_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".jpg", ".jpeg", ".png", ".bmp"}


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "store" / "uploads.duckdb"
    with connect(db) as con:
        catalog.create_campaign(con, "Uploads", "")
    return db, tmp_path / "store" / "uploads"


def _queue(db: Path, folder: Path, data: bytes, name: str, keep: bool = False) -> int:
    saved = store_upload(data, name, folder)
    return queue_upload(
        saved, "Uploads", "Ad", "ad", AnalysisParams(), db_path=db, model_version=None, keep=keep
    )


def _run(job_id: int, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run-job", str(job_id), "--db", str(db)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _media_files(root: Path) -> list[Path]:
    """Every image or video anywhere under the folder the product writes to."""
    return [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES]


def _job(db: Path, job_id: int) -> jobs.JobRecord:
    with connect(db, read_only=True) as con:
        record = jobs.get_job(con, job_id)
    assert record is not None
    return record


def test_uploads_are_deleted_after_success_and_failure(ad_clip, tmp_path: Path) -> None:
    db, folder = _setup(tmp_path)
    good = _queue(db, folder, ad_clip.path.read_bytes(), "viewers.mp4")
    bad = _queue(db, folder, b"not a video at all" * 50, "broken.mp4")
    assert len(_media_files(db.parent)) == 2  # waiting for analysis
    assert _run(good, db).returncode == 0
    assert _run(bad, db).returncode == 2
    assert _job(db, good).status == "done" and _job(db, good).faces > 0
    assert _job(db, bad).status == "failed"
    assert _media_files(db.parent) == []


def test_the_same_upload_submitted_twice_at_once_is_analysed_once(ad_clip, tmp_path: Path) -> None:
    db, folder = _setup(tmp_path)
    data = ad_clip.path.read_bytes()
    first, second = _queue(db, folder, data, "a.mp4"), _queue(db, folder, data, "b copy.mp4")
    workers = [launch_job(first, db), launch_job(second, db)]
    for worker in workers:
        worker.wait(timeout=300)
    statuses = sorted((_job(db, j).status, _job(db, j).error_title or "") for j in (first, second))
    assert statuses == [("done", ""), ("failed", "Already ingested")]
    with connect(db, read_only=True) as con:
        stored = con.execute("SELECT count(DISTINCT job_id) FROM face_observations").fetchone()
    assert stored == (1,)
    assert _media_files(db.parent) == []


def test_a_kept_upload_is_listed_and_purged_with_its_job(
    ad_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, folder = _setup(tmp_path)
    job_id = _queue(db, folder, ad_clip.path.read_bytes(), "keep me.mp4", keep=True)
    assert _run(job_id, db).returncode == 0
    with connect(db, read_only=True) as con:
        kept = kept_uploads(con)
    assert [(k[0], k[1]) for k in kept] == [(job_id, "keep_me.mp4")]
    assert [p.name for p in _media_files(db.parent)] == [Path(kept[0][2]).name]
    # Listed and disclosed on the upload page.
    monkeypatch.setenv("EMOTION_DB_PATH", str(db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(folder))
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("views/upload.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 uploaded file(s) are kept" in w.value for w in at.warning)
    listed = [d.value for d in at.dataframe if "file" in d.value.columns]
    assert listed and list(listed[0]["file"]) == ["keep_me.mp4"]
    purge = subprocess.run(
        [sys.executable, "-m", "pipeline", "purge", "--older-than-days", "0", "--db", str(db)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EMOTION_UPLOAD_DIR": str(folder)},
    )
    assert purge.returncode == 0, purge.stderr
    assert "1 uploaded files" in purge.stdout
    assert _media_files(db.parent) == []
