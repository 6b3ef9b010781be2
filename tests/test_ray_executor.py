"""``--executor ray``: a real Ray (a ``ray start --head`` cluster and a local one, 2 CPUs),
real footage, the real detector and model, real DuckDB files.

Every run goes through the command line in its own process, as a person would run it; the
serial path runs with ``ray`` unimportable, so the README's commands are shown not to need it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT
from pipeline.store.compare import differences, stored_rows
from pipeline.store.database import connect
from tests.local_server import free_port
from tests.media import planted_clip

# 4 s clips sampled at 5 fps, chunks of 1.2 s (two detection periods): 4 chunks per clip;
# the 12-snapshot folder in 3 batches.
CHUNKS = {"EMOTION_CHUNK_S": "1", "EMOTION_SNAPSHOT_BATCH": "5"}
INGEST = ("--campaign", "Scale", "--stimulus", "Ad")
IMAGES = ("--campaign", "Scale", "--stimulus", "Window", "--camera", "window_cam")
# The command line with ``ray`` made unimportable (as on a machine without the extra).
WITHOUT_RAY = (
    "import sys; sys.modules['ray'] = None; from pipeline.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def _needs_ray() -> None:
    """Skip without ``ray`` only on a developer's machine: ``make test`` (MAKELEVEL is set
    in its recipes) and CI install requirements-ray.txt, so there a missing or broken
    ``ray`` fails the test instead of silently skipping every Ray test."""
    if os.environ.get("MAKELEVEL") or os.environ.get("CI"):
        import ray  # noqa: F401  - an ImportError here is the failure

        return
    pytest.importorskip("ray", reason="needs requirements-ray.txt")


def _pipeline(
    *args: str, env: dict[str, str] | None = None, without_ray: bool = False
) -> subprocess.CompletedProcess[str]:
    command = ["-c", WITHOUT_RAY] if without_ray else ["-m", "pipeline"]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **CHUNKS, **(env or {})},
    )


def _new_db(path: Path) -> Path:
    done = _pipeline("campaigns", "add", "Scale", "--db", str(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def clips(ferplus_valid, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ray_clips")
    return [
        planted_clip(
            folder / f"viewer{i}.mp4",
            ferplus_valid,
            people=2,
            segments=[(0.0, 2.0, "happiness"), (2.0, 4.0, "surprise")],
            seed=60 + i,
        ).path
        for i in range(2)
    ]


@pytest.fixture(scope="module")
def serial_db(clips: list[Path], snapshots: Path, tmp_path_factory: pytest.TempPathFactory):
    """The clips and the snapshot folder through the serial path, without Ray installed."""
    db = _new_db(tmp_path_factory.mktemp("serial") / "serial.duckdb")
    video = _pipeline("ingest", *map(str, clips), *INGEST, "--db", str(db), without_ray=True)
    assert video.returncode == 0, video.stderr
    images = _pipeline("ingest-images", str(snapshots), *IMAGES, "--db", str(db), without_ray=True)
    assert images.returncode == 0, images.stderr
    return db


@pytest.fixture()
def ray_cluster():
    """``ray start --head`` with 2 CPUs and its own token, as an operator would start it;
    yields (address, environment for the commands that join it)."""
    _needs_ray()
    port = free_port()
    # Ray's socket paths must stay under 108 bytes: pytest's tmp_path is too deep.
    temp = tempfile.TemporaryDirectory(prefix="ray", dir="/tmp")
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            "--object-store-memory=100000000",
            f"--temp-dir={temp.name}",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    try:
        assert head.stdout is not None
        said = []
        for line in head.stdout:  # blocks until the head says it is up, or exits
            said.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail(f"ray start --head exited with {head.wait()}: {''.join(said[-5:])}")
        yield f"127.0.0.1:{port}", env
    finally:
        head.terminate()  # --block: ends every process of this head, and only those
        head.wait(timeout=60)
        temp.cleanup()


@pytest.mark.slow
def test_cluster_stores_the_same_rows_as_the_serial_path(
    clips: list[Path], snapshots: Path, serial_db: Path, ray_cluster, tmp_path: Path
) -> None:
    address, env = ray_cluster
    db = _new_db(tmp_path / "ray.duckdb")
    ray = ("--executor", "ray", "--ray-address", address, "--db", str(db))
    video = _pipeline("ingest", *map(str, clips), *INGEST, *ray, env=env)
    assert video.returncode == 0, video.stderr
    assert video.stdout.count(": done (job") == 2, video.stdout
    assert "chunks: 100%" in video.stderr and "files: 2 done, 0 failed of 2" in video.stderr
    images = _pipeline("ingest-images", str(snapshots), *IMAGES, *ray, env=env)
    assert images.returncode == 0, images.stderr
    assert "window_cam: done (job" in images.stdout
    assert "| 3/3 [" in images.stderr  # the folder went out in three batches

    serial, scaled = stored_rows(serial_db), stored_rows(db)
    assert differences(serial, scaled) == []
    assert len(serial["jobs"]) == 3 and len(serial["face_observations"]) > 0
    assert serial["jobs"]["faces"].sum() == len(serial["face_observations"])
    # Again: the same bytes and parameters are already stored, whichever executor asks.
    again = _pipeline("ingest", *map(str, clips), *INGEST, *ray, env=env)
    assert again.returncode == 0 and again.stdout.count(": skipped (already ingested") == 2


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return ""


def _ingest_killing_one_worker(
    clips: list[Path], db: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the clips on a local Ray; SIGKILL the first actor seen analysing a chunk (as if
    its machine died). Returns the run and the killed pid."""
    command = [sys.executable, "-m", "pipeline", "ingest", *map(str, clips), *INGEST]
    command += ["--executor", "ray", "--ray-cpus", "2", "--db", str(db)]
    run = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **CHUNKS, **env},
    )
    killed = 0
    deadline = time.monotonic() + 300
    while not killed and run.poll() is None and time.monotonic() < deadline:
        for pid in _descendants(run.pid):
            if _title(pid).startswith("ray::ChunkAnalyser.analyse"):
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.02)
    out, err = run.communicate(timeout=300)
    return subprocess.CompletedProcess(command, run.returncode, out, err), killed


def _rows_of(db: Path, job_id: int) -> int:
    with connect(db, read_only=True) as con:
        return sum(
            con.execute(f"SELECT count(*) FROM {table} WHERE job_id = ?", [job_id]).fetchone()[0]
            for table in ("frames", "face_observations", "tracks", "rollup_person_cells")
        )


@pytest.mark.slow
def test_a_killed_worker_s_chunk_is_analysed_again(
    clips: list[Path], serial_db: Path, tmp_path: Path
) -> None:
    _needs_ray()
    db = _new_db(tmp_path / "killed.duckdb")
    run, killed = _ingest_killing_one_worker(clips, db, {})
    assert run.returncode == 0, run.stderr
    assert killed and not Path(f"/proc/{killed}").exists()
    assert run.stdout.count(": done (job") == 2, run.stdout
    # The file whose chunk the killed worker held says so; the other file was not touched.
    assert run.stdout.count("1 chunk(s) analysed again after their Ray worker was lost") == 1
    names = [p.name for p in clips]
    assert differences(stored_rows(serial_db, names), stored_rows(db, names)) == []


@pytest.mark.slow
def test_a_file_whose_worker_dies_for_good_fails_whole(
    clips: list[Path], serial_db: Path, tmp_path: Path
) -> None:
    _needs_ray()
    db = _new_db(tmp_path / "lost.duckdb")
    run, killed = _ingest_killing_one_worker(clips, db, {"EMOTION_RAY_ATTEMPTS": "1"})
    assert run.returncode == 0, run.stderr
    assert killed
    assert run.stdout.count(": failed (the Ray worker analysing this file died 1 time") == 1
    with connect(db, read_only=True) as con:
        jobs = con.execute(
            "SELECT job_id, input_name, status, error_title FROM ingest_jobs ORDER BY job_id"
        ).fetchall()
    failed = [job for job in jobs if job[2] == "failed"]
    done = [job for job in jobs if job[2] == "done"]
    assert len(failed) == 1 and failed[0][3] == "Worker lost" and len(done) == 1
    assert _rows_of(db, failed[0][0]) == 0  # nothing partial of the failed file
    names = [done[0][1]]
    assert differences(stored_rows(serial_db, names), stored_rows(db, names)) == []


def test_without_ray_installed_the_ray_executor_is_one_line_and_stores_nothing(
    ad_clip, tmp_path: Path
) -> None:
    db = _new_db(tmp_path / "none.duckdb")
    done = _pipeline(
        "ingest",
        str(ad_clip.path),
        *INGEST,
        "--executor",
        "ray",
        "--db",
        str(db),
        without_ray=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: Ray is not installed: --executor ray needs the optional extra: .venv/bin/pip "
        "install -r requirements-ray.txt (or use the local pool: --workers N)."
    ]
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("address", "line"),
    [
        ("127.0.0.1:1", "error: Ray not reachable: nothing answers at 127.0.0.1:1"),
        ("ray://head:10001", "error: Invalid Ray address: 'ray://head:10001' is not HOST:PORT"),
    ],
)
def test_a_bad_ray_address_is_one_line_and_stores_nothing(
    address: str, line: str, ad_clip, tmp_path: Path
) -> None:
    _needs_ray()
    db = _new_db(tmp_path / "none.duckdb")
    args = ("--executor", "ray", "--ray-address", address, "--db", str(db))
    done = _pipeline("ingest", str(ad_clip.path), *INGEST, *args)
    assert done.returncode == 2
    (said,) = done.stderr.strip().splitlines()
    assert said.startswith(line)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0] == 0
