"""Faults a new user or an attacker can cause, through the real CLI and the real store.

Each test reproduces one of the failures found by trying 55 bad inputs and faults (issue 9)
and checks the promise now holds: ingest is idempotent by content under concurrency and
renames, retention is safe, bad values are one-line errors, dead jobs turn interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog, jobs
from pipeline.store.database import connect


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def _cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _cli_command(*args),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def _fresh_db(folder: Path) -> Path:
    db = folder / "faults.duckdb"
    with connect(db) as con:
        catalog.create_campaign(con, "Faults", "")
    return db


def _rows(db: Path) -> dict[str, int]:
    with connect(db, read_only=True) as con:
        counts = {
            table: int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in ("face_observations", "frames", "tracks", "emotion_series")
        }
        counts["done_jobs"] = int(
            con.execute("SELECT count(*) FROM ingest_jobs WHERE status = 'done'").fetchone()[0]  # type: ignore[index]
        )
    return counts


APP = PROJECT_ROOT / "dashboard" / "app.py"
INGEST = ("--campaign", "Faults", "--stimulus", "Ad")


def test_four_processes_ingesting_the_same_file_store_one_set_of_rows(
    ad_clip, tmp_path: Path
) -> None:
    db = _fresh_db(tmp_path)
    processes = [
        subprocess.Popen(
            _cli_command("ingest", str(ad_clip.path), *INGEST, "--db", str(db)),
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    lines = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert sum(": done" in line for line in lines) == 1, lines
    assert sum("already" in line for line in lines) == 3, lines
    once = _rows(db)
    assert once["done_jobs"] == 1 and once["face_observations"] > 0

    # The same bytes under another name: recognised by content, nothing analysed again.
    copy = tmp_path / "renamed_copy.mp4"
    shutil.copy(ad_clip.path, copy)
    again = _cli("ingest", str(copy), *INGEST, "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "already ingested as job" in again.stdout
    # Twice in one command with two workers: one analysis, one "already".
    both = _cli("ingest", str(copy), str(ad_clip.path), *INGEST, "--workers", "2", "--db", str(db))
    assert both.returncode == 0, both.stderr
    assert both.stdout.count("already") == 2
    assert _rows(db) == once


def _killed_ingest(db: Path, clip: Path, stimulus: str) -> int:
    """A real ingest SIGKILLed mid-file; returns its job id (left 'running' in DuckDB)."""
    process = subprocess.Popen(
        _cli_command("ingest", str(clip), "--campaign", "Faults", "--stimulus", stimulus),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "EMOTION_DB_PATH": str(db)},
    )
    row = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (row and row[2] > 0.1):
            time.sleep(0.3)
            with connect(db, read_only=True) as con:
                row = con.execute(
                    "SELECT job_id, status, progress FROM ingest_jobs WHERE input_name = ?",
                    [clip.name],
                ).fetchone()
        assert row is not None and row[1] == "running", row
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return int(row[0])


def test_a_killed_job_turns_interrupted_and_the_upload_page_shows_the_users_job(
    ad_clip, ferplus_valid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.media import planted_clip

    db = _fresh_db(tmp_path)
    mine = _cli("ingest", str(ad_clip.path), *INGEST, "--db", str(db))
    assert mine.returncode == 0, mine.stderr
    long_clip = planted_clip(
        tmp_path / "long.mp4", ferplus_valid, people=2, segments=[(0.0, 20.0, "happiness")], seed=8
    )
    killed = _killed_ingest(db, long_clip.path, "Killed")
    with connect(db, read_only=True) as con:
        assert jobs.get_job(con, killed).status == "running"  # type: ignore[union-attr]
        done_id = con.execute("SELECT job_id FROM ingest_jobs WHERE status = 'done'").fetchone()[0]  # type: ignore[index]

    monkeypatch.setenv("EMOTION_DB_PATH", str(db))
    monkeypatch.setenv("EMOTION_UPLOAD_DIR", str(tmp_path / "uploads"))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["upload_jobs"] = [done_id, killed]  # both started from this session
    at.run()
    at.switch_page("views/upload.py").run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [p.proto.text for p in at.get("progress")]
    assert not any(t.startswith(("running", "queued")) for t in texts), texts
    assert any(t.startswith("done:") for t in texts), texts  # the user's own job
    assert any(jobs.INTERRUPTED_TITLE in e.value for e in at.error)

    # The next writer records it; the same file can be ingested again at once.
    rerun = _cli(
        "ingest",
        str(long_clip.path),
        "--campaign",
        "Faults",
        "--stimulus",
        "Killed",
        "--db",
        str(db),
    )
    assert rerun.returncode == 0 and ": done" in rerun.stdout, rerun.stdout + rerun.stderr
    with connect(db, read_only=True) as con:
        record = jobs.get_job(con, killed)
    assert record is not None and (record.status, record.error_title) == (
        "failed",
        jobs.INTERRUPTED_TITLE,
    )


def test_a_job_without_heartbeat_on_another_machine_turns_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker elsewhere (shared disk) cannot be checked by pid: its heartbeat decides."""
    db = _fresh_db(tmp_path)
    with connect(db) as con:
        campaign = catalog.get_campaign(con, "Faults")
        stimulus = catalog.ensure_stimulus(con, campaign, "Ad", "ad")
        source = catalog.ensure_source(con, stimulus, "footage", "remote.mp4")
        key = jobs.JobKey(source.source_id, "content", "params")
        job_id = jobs.start_job(con, key, "remote.mp4", "{}", "v", "opencv")
        con.execute(
            "UPDATE ingest_jobs SET worker_host = 'elsewhere', worker_pid = 1 WHERE job_id = ?",
            [job_id],
        )
    monkeypatch.setenv("EMOTION_JOB_STALE_S", "1")
    with connect(db, read_only=True) as con:
        assert jobs.stale_job_ids(con) == []  # beat just now
    with jobs.heartbeat(db, [job_id]):
        time.sleep(1.5)  # the heartbeat keeps it alive past EMOTION_JOB_STALE_S
        with connect(db, read_only=True) as con:
            alive = jobs.stale_job_ids(con)
    time.sleep(1.5)  # now nobody beats
    with connect(db) as con:
        assert jobs.expire_stale_jobs(con) == [job_id]
        record = jobs.get_job(con, job_id)
    assert alive == [] and record is not None and record.status == "failed"
