"""A failed upload leaves nothing behind, even when it fails inside its job.

The upload is queued by the real ``queue_upload`` and run by the real ``run-job`` process;
the file vanishes before the job reads it, so the job fails after everything was created.
Once the upload page has shown the error, the job and the campaign and stimulus made for it
are gone; a stimulus that existed before keeps its other footage.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import md_text
from pipeline.analysis import AnalysisParams
from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs
from pipeline.store.database import connect
from pipeline.uploads import forget_failed_upload, queue_upload, store_upload

APP = PROJECT_ROOT / "dashboard" / "app.py"


def _failed_upload(db: Path, folder: Path, clip: bytes, campaign: str, stimulus: str) -> int:
    """Queue a real upload, remove its file, run the job: it fails inside the worker."""
    saved = store_upload(clip, "viewers.mp4", folder)
    job_id = queue_upload(saved, campaign, stimulus, "ad", AnalysisParams(), db_path=db)
    saved.unlink()
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "run-job", str(job_id), "--db", str(db)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    with connect(db, read_only=True) as con:
        job = jobs.get_job(con, job_id)
    assert job is not None and job.status == "failed"
    return job_id


def _names(db: Path) -> dict[str, list[str]]:
    with connect(db, read_only=True) as con:
        return {
            c.name: [s.name for s in catalog.list_stimuli(con, c)]
            for c in catalog.list_campaigns(con)
        }


def test_forgetting_a_failed_upload_removes_only_what_it_created(
    writable_db: Path, ad_clip, tmp_path: Path
) -> None:
    before = _names(writable_db)
    existing = next(iter(before))
    new_job = _failed_upload(
        writable_db, tmp_path / "up", ad_clip.path.read_bytes(), "New campaign", "New ad"
    )
    old_job = _failed_upload(
        writable_db, tmp_path / "up", ad_clip.path.read_bytes(), existing, before[existing][0]
    )
    assert "New campaign" in _names(writable_db)
    assert forget_failed_upload(new_job, writable_db)
    assert forget_failed_upload(old_job, writable_db)
    assert not forget_failed_upload(old_job, writable_db)  # gone already
    assert _names(writable_db) == before
    with connect(writable_db, read_only=True) as con:
        assert jobs.get_job(con, new_job) is None and jobs.get_job(con, old_job) is None


def test_the_upload_page_shows_the_failure_then_removes_it(
    writable_db: Path, ad_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _names(writable_db)
    job_id = _failed_upload(
        writable_db, tmp_path / "up", ad_clip.path.read_bytes(), "Lost campaign", "Lost ad"
    )
    with connect(writable_db, read_only=True) as con:
        job = jobs.get_job(con, job_id)
    assert job is not None and job.error_title
    monkeypatch.setenv("EMOTION_DB_PATH", str(writable_db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "up"))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["upload_jobs"] = [job_id]
    at.session_state["upload_started"] = [job_id]  # as the page's own upload records it
    at.run()
    at.switch_page("views/upload.py").run()
    assert not at.exception, [e.value for e in at.exception]
    expected = f"**{md_text(job.error_title)}**"
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]
    assert _names(writable_db) == before
    at.run()  # still shown on the next run, from the session
    assert any(expected in e.value for e in at.error)
