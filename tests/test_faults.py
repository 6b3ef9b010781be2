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
from pipeline.store import catalog, jobs, rollups
from pipeline.store.database import connect
from tests.cli import SLOW_INGEST_ENV, run_cli


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def _cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout, env=env)


def _fresh_db(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "faults.duckdb"
    with connect(db) as con:
        catalog.create_campaign(con, "Faults", "")
    return db


def _rows(db: Path) -> dict[str, int]:
    with connect(db, read_only=True) as con:
        counts = {
            table: int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in ("face_observations", "frames", "tracks", "rollup_person_cells")
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

    # The same file twice in one command on a fresh store: analysed once.
    fresh = _fresh_db(tmp_path / "fresh")
    twice = _cli(
        "ingest", str(ad_clip.path), str(copy), *INGEST, "--workers", "2", "--db", str(fresh)
    )
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.count(": done") == 1 and "already being ingested" in twice.stdout
    assert _rows(fresh) == once


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
        while time.monotonic() < deadline and not (row and row[1] == "running"):
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
    monkeypatch.setenv("EMOTION_JOB_STALE_S", "2")

    def beat_at() -> object:
        with connect(db, read_only=True) as con:
            return con.execute(
                "SELECT updated_at FROM ingest_jobs WHERE job_id = ?", [job_id]
            ).fetchone()

    first = beat_at()
    with jobs.heartbeat(db, [job_id]):
        deadline = time.monotonic() + 60  # a bound for a broken heartbeat, not a speed figure
        while beat_at() == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert beat_at() != first  # the heartbeat thread touched the job
    time.sleep(2.5)  # nobody beats for longer than EMOTION_JOB_STALE_S
    with connect(db) as con:
        assert jobs.expire_stale_jobs(con) == [job_id]
        record = jobs.get_job(con, job_id)
    assert record is not None and (record.status, record.error_title) == (
        "failed",
        jobs.INTERRUPTED_TITLE,
    )


def _one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "settings", "expected"),
    [
        (("--fps", "nan"), {}, "'nan' is not a number"),
        (("--fps", "inf"), {}, "'inf' is not a number"),
        (("--fps", "0"), {}, "'0' is not a number above 0"),
        (("--fps", "-3"), {}, "'-3' is not a number above 0"),
        (("--fps", "five"), {}, "'five' is not a number"),
        (("--bucket", "5"), {}, "unrecognized arguments: --bucket 5"),
        (("--min-face", "1e9"), {}, "'1e9' is not a whole number"),
        (("--min-face", "2.5"), {}, "'2.5' is not a whole number"),
        (("--start", "-1"), {}, "'-1' is not a number from 0"),
        (("--duration", "0"), {}, "'0' is not a number above 0"),
        (("--workers", "0"), {}, "'0' is not a whole number from 1"),
        ((), {"EMOTION_SAMPLE_FPS": "abc"}, "EMOTION_SAMPLE_FPS='abc' is not a number"),
        ((), {"EMOTION_MIN_FACE_PX": "nan"}, "EMOTION_MIN_FACE_PX='nan' is not a number"),
        ((), {"EMOTION_BATCH_SIZE": "-1"}, "EMOTION_BATCH_SIZE='-1' is not a number"),
        ((), {"EMOTION_MIN_CROWD": "lots"}, "EMOTION_MIN_CROWD='lots' is not a number"),
    ],
)
def test_bad_numbers_and_settings_are_one_line_errors(
    args: tuple[str, ...], settings: dict[str, str], expected: str, ad_clip, writable_db: Path
) -> None:
    before = _rows(writable_db)
    run = _cli(
        "ingest",
        str(ad_clip.path),
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Bad values",
        *args,
        "--db",
        str(writable_db),
        **settings,
    )
    assert expected in _one_line_error(run)
    assert _rows(writable_db) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("zones", "Spring launch", "Spring ad", "cam", "[[0, 0], oops"), "Invalid exclusion zone"),
        (("zones", "Spring launch", "Spring ad", "cam", "[[1, 2, 3]]"), "Invalid exclusion zone"),
        (("zones", "Spring launch", "Spring ad", "cam", "7"), "Invalid exclusion zone"),
        (("stimuli", "add", "Spring launch", "S", "--segments", "a:0-1e400"), "Invalid segments"),
        (("stimuli", "add", "Spring launch", "S", "--duration", "nan"), "'nan' is not a number"),
        (("export", "--campaign", "Spring launch", "--format", "csv", "--out", "x.csv",
          "--min-crowd", "0"), "'0' is not a whole number from 1"),
        (("camera", "rtsp://x", "--campaign", "Spring launch", "--stimulus", "S",
          "--every", "inf"), "'inf' is not a number"),
        (("watch", "folder", "--campaign", "Spring launch", "--stimulus", "S",
          "--poll", "-1"), "'-1' is not a number"),
        (("run-job", "abc"), "'abc' is not a whole number"),
    ],
)  # fmt: skip
def test_bad_arguments_of_other_verbs_are_one_line_errors(
    args: tuple[str, ...], expected: str, writable_db: Path
) -> None:
    before = _rows(writable_db)
    assert expected in _one_line_error(_cli(*args, "--db", str(writable_db)))
    assert _rows(writable_db) == before


@pytest.mark.parametrize("days", ["-5", "nan", "abc", "1e12", "2.5"])
def test_purge_refuses_a_bad_retention_period(days: str, writable_db: Path) -> None:
    before = _rows(writable_db)
    run = _cli("purge", "--older-than-days", days, "--db", str(writable_db))
    assert f"{days!r} is not a whole number" in _one_line_error(run)
    assert _rows(writable_db) == before


@pytest.mark.parametrize(
    "verb",
    [
        ("purge",),
        ("campaigns", "list"),
        ("stimuli", "list", "Spring launch"),
        ("export", "--campaign", "Spring launch", "--format", "csv", "--out", "x.csv"),
        ("ingest", "clip.mp4", "--campaign", "Spring launch", "--stimulus", "Ad"),
        ("run-job", "1"),
    ],
)
def test_a_mistyped_database_path_is_refused_not_created(verb: tuple[str, ...], tmp_path) -> None:
    typo = tmp_path / "reactoins.duckdb"
    run = _cli(*verb, "--db", str(typo))
    assert "Database not found" in _one_line_error(run)
    assert not typo.exists()


def test_purge_during_an_ingest_leaves_no_orphan_rows(
    ferplus_valid, writable_db: Path, tmp_path: Path
) -> None:
    """A job still running is not purged; rows left without a job (by the older purge that
    did) are removed in the same transaction as the jobs."""
    from tests.media import planted_clip

    clip = planted_clip(
        tmp_path / "during.mp4", ferplus_valid, people=2, segments=[(0.0, 30.0, "neutral")], seed=4
    )
    ingesting = subprocess.Popen(
        _cli_command(
            "ingest",
            str(clip.path),
            "--campaign",
            "Spring launch",
            "--stimulus",
            "During",
            "--db",
            str(writable_db),
        ),
        cwd=PROJECT_ROOT,
        env={**os.environ, **SLOW_INGEST_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    running = None
    while time.monotonic() < deadline and running is None:
        time.sleep(0.3)
        with connect(writable_db, read_only=True) as con:
            running = con.execute(
                "SELECT job_id FROM ingest_jobs WHERE input_name = 'during.mp4' "
                "AND status = 'running'"
            ).fetchone()
    assert running is not None
    purge = _cli("purge", "--older-than-days", "0", "--db", str(writable_db))
    assert purge.returncode == 0, purge.stderr
    out, err = ingesting.communicate(timeout=300)
    assert ingesting.returncode == 0 and ": done" in out, out + err
    with connect(writable_db) as con:
        kept = con.execute("SELECT job_id, status FROM ingest_jobs").fetchall()
        assert kept == [(running[0], "done")]  # the running job survived, nothing else
        # An orphan as an older release's purge left it: rows whose job is gone. That release
        # had no rollups; those built on upgrade come from rows with a job, so never held it.
        con.execute("DELETE FROM ingest_jobs WHERE job_id = ?", [running[0]])
        rollups.rebuild(con)
        assert con.execute("SELECT count(*) FROM rollup_person_cells").fetchone() == (0,)
    assert _rows(writable_db)["face_observations"] > 0
    purge = _cli("purge", "--older-than-days", "0", "--db", str(writable_db))
    assert purge.returncode == 0 and "rows of jobs deleted before" in purge.stdout, purge.stderr
    counts = _rows(writable_db)
    assert counts == dict.fromkeys(counts, 0)


def test_a_one_frame_video_is_analysed_like_the_still(snapshots: Path, tmp_path: Path) -> None:
    import cv2

    from pipeline.synthetic import write_video

    still = sorted(snapshots.glob("*.jpg"))[0]
    frame = cv2.imread(str(still))
    video = write_video(tmp_path / "one_frame.mp4", [frame], 10.0, "mp4v")
    db = _fresh_db(tmp_path)
    as_video = _cli("ingest", str(video), *INGEST, "--db", str(db))
    assert as_video.returncode == 0, as_video.stderr
    with connect(db, read_only=True) as con:
        video_faces = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
    folder = tmp_path / "still"
    folder.mkdir()
    shutil.copy(still, folder / still.name)
    as_still = _cli(
        "ingest-images", str(folder), *INGEST[:2], "--stimulus", "Still", "--db", str(db)
    )
    assert as_still.returncode == 0, as_still.stderr
    with connect(db, read_only=True) as con:
        total = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
    assert video_faces >= 1 and total - video_faces == video_faces


def test_one_process_reads_and_writes_from_several_threads(tmp_path: Path) -> None:
    """A dashboard session queuing an upload while another reads; a heartbeat thread while
    the main thread reads: DuckDB refuses a second open mode in one process, connect copes."""
    import threading

    db = _fresh_db(tmp_path)
    with connect(db) as writer, connect(db, read_only=True) as reader:
        writer.execute("INSERT INTO campaigns (name) VALUES ('Second')")
        assert reader.execute("SELECT count(*) FROM campaigns").fetchone() == (2,)
    reading = threading.Event()
    done = threading.Event()

    def read() -> None:
        with connect(db, read_only=True):
            reading.set()
            done.wait(timeout=30)

    thread = threading.Thread(target=read)
    thread.start()
    reading.wait(timeout=30)
    threading.Timer(0.5, done.set).start()
    with connect(db) as writer:  # waits for the reader thread instead of failing
        writer.execute("INSERT INTO campaigns (name) VALUES ('Third')")
    thread.join(timeout=30)
    assert _rows(db)["done_jobs"] == 0


def test_threads_opening_and_closing_one_file_at_once_all_get_it(tmp_path: Path) -> None:
    """DuckDB attaches a file once per process and detaches it when its last connection
    closes; threads that open it meanwhile (concurrent HTTP pushes) must not be refused with
    "Unique file handle conflict". Without connect taking opens and closes one at a time,
    this failed in most runs."""
    from concurrent.futures import ThreadPoolExecutor

    db = _fresh_db(tmp_path)

    def open_and_close(worker: int) -> int:
        for turn in range(300):
            with connect(db, read_only=turn % 2 == 0) as con:
                assert con.execute("SELECT 1").fetchone() == (1,)
        return worker

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(open_and_close, range(4))) == list(range(4))
