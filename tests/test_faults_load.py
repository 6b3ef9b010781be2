"""Mixed load: dashboard pages and report builds read while two ingests write.

DuckDB keeps every writer out while another process has the file open, even read-only. With
EMOTION_LOCK_WAIT_S = 10, any process that waited longer than 10 s for the file would fail
with "Database busy"; all succeeding is the bound (a correctness bound against lock
starvation, not a speed figure).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pipeline.settings import PROJECT_ROOT

APP = PROJECT_ROOT / "dashboard" / "app.py"
PAGES = [None, "views/timeline.py", "views/compare.py", "views/upload.py", "views/reports.py"]
WAIT = {"EMOTION_LOCK_WAIT_S": "10"}


def _start(*args: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, "--db", str(db)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **WAIT},
    )


def test_pages_and_reports_read_while_two_ingests_write(
    writable_db: Path, ferplus_valid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.media import planted_clip

    clips = [
        planted_clip(
            tmp_path / f"load_{i}.mp4",
            ferplus_valid,
            people=2,
            segments=[(0.0, 6.0, "happiness")],
            seed=20 + i,
        ).path
        for i in range(2)
    ]
    monkeypatch.setenv("EMOTION_DB_PATH", str(writable_db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))
    for name, value in WAIT.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "reports"
    writers = [
        _start(
            "ingest",
            str(clip),
            "--campaign",
            "Spring launch",
            "--stimulus",
            f"Load {i}",
            db=writable_db,
        )
        for i, clip in enumerate(clips)
    ]
    readers = [
        _start(
            "export",
            "--campaign",
            "Spring launch",
            "--format",
            fmt,
            "--out",
            str(out / f"r{i}.{fmt}"),
            db=writable_db,
        )
        for i, fmt in enumerate(["pdf", "html", "pdf"])
    ]
    page_runs = 0
    while page_runs < len(PAGES) or any(w.poll() is None for w in writers):
        st.cache_data.clear()  # every run reads the file, not the cache
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        page = PAGES[page_runs % len(PAGES)]
        if page:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not [e.value for e in at.error], [e.value for e in at.error]
        page_runs += 1
    results = [(p.args[3], p.wait(timeout=600), *p.communicate()) for p in writers + readers]
    failed = [r for r in results if r[1] != 0]
    assert failed == []
    assert all(": done" in r[2] for r in results[:2])
    assert sorted(p.name for p in out.iterdir()) == ["r0.pdf", "r1.html", "r2.pdf"]
    assert page_runs >= len(PAGES)
