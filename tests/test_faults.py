"""Faults a new user or an attacker can cause, through the real CLI and the real store.

Each test reproduces one of the failures found by trying 55 bad inputs and faults (issue 9)
and checks the promise now holds: ingest is idempotent by content under concurrency and
renames, retention is safe, bad values are one-line errors, dead jobs turn interrupted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT
from pipeline.store import catalog
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
