"""Ingest jobs: the atomic claim, heartbeat, progress, and the one-transaction commit.

A job's rows appear all at once or not at all: face rows, frames, tracks and rollups are
inserted and the job marked done inside one transaction, so a crash (even SIGKILL) mid-file
leaves no partial rows, and the same file can simply be ingested again.

Idempotency is by content: the same bytes, for the same stimulus, with the same parameters
(detector and model version included) are analysed once, whatever the file is called. The
claim (look for a done or live job of that key, else register a running one) and the commit
(look again, then insert) each run inside one write transaction. DuckDB lets one process
write a file at a time and ``_WRITE_LOCK`` serialises this process's threads, so two
ingestions of the same file can never both add rows.

A running job proves it is alive by its heartbeat (``updated_at``, touched every few
seconds by ``Heartbeat``); a job whose heartbeat is older than EMOTION_JOB_STALE_S was left
by a dead process and is shown, then recorded, as interrupted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.analysis import JobResult
from pipeline.store import rollups
from pipeline.store.catalog import Source
from pipeline.store.database import transaction

_WRITE_LOCK = threading.RLock()

INTERRUPTED_TITLE = "Interrupted"
INTERRUPTED_MESSAGE = (
    "The process running this job stopped (killed, crashed or out of disk) before it "
    "finished; nothing of it was stored. Start it again."
)


def stale_after_s() -> float:
    """Seconds without a heartbeat after which a queued or running job counts as dead."""
    from pipeline.settings import get_float

    return get_float("EMOTION_JOB_STALE_S")


def heartbeat_every_s() -> float:
    return max(0.2, min(10.0, stale_after_s() / 4))


@dataclass(frozen=True)
class JobKey:
    """The source a job writes to, the file's bytes and the parameters (with the model version).

    Two jobs are the same ingestion when bytes and parameters match and their sources belong to
    the same stimulus: the source (named after the file by default) does not count, so a renamed
    copy is recognised.
    """

    source_id: int
    content_hash: str
    params_hash: str


@dataclass(frozen=True)
class JobRecord:
    job_id: int
    source_id: int
    input_name: str
    status: str
    progress: float
    frames: int
    faces: int
    tracks: int
    error_title: str | None
    error_message: str | None
    warnings: str
    created_at: dt.datetime
    updated_at: dt.datetime


_JOB_COLUMNS = (
    "job_id, source_id, input_name, status, progress, frames, faces, tracks, "
    "error_title, error_message, warnings, created_at, updated_at"
)


# Jobs of the same ingestion scope as the key: same parameters, a source of the same stimulus.
_SAME_SCOPE = (
    "params_hash = $params AND source_id IN (SELECT source_id FROM sources WHERE stimulus_id = "
    "(SELECT stimulus_id FROM sources WHERE source_id = $source))"
)
_SAME_KEY = f"content_hash = $content AND {_SAME_SCOPE}"


def _key_args(key: JobKey) -> dict[str, object]:
    return {"content": key.content_hash, "params": key.params_hash, "source": key.source_id}


def find_done_job(con: duckdb.DuckDBPyConnection, key: JobKey) -> JobRecord | None:
    row = con.execute(
        f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE {_SAME_KEY} AND status = 'done' "
        "ORDER BY job_id DESC LIMIT 1",
        _key_args(key),
    ).fetchone()
    return JobRecord(*row) if row else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def stale_job_ids(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Queued or running jobs whose process is gone: on this machine, their process no longer
    exists; elsewhere (or not started yet), no heartbeat for EMOTION_JOB_STALE_S."""
    rows = con.execute(
        "SELECT job_id, worker_host, worker_pid, "
        "updated_at < current_timestamp - to_seconds(CAST(? AS DOUBLE)) AS silent "
        "FROM ingest_jobs WHERE status IN ('queued', 'running')",
        [stale_after_s()],
    ).fetchall()
    host = socket.gethostname()
    stale = []
    for job_id, worker_host, pid, silent in rows:
        local = worker_host == host and pid is not None
        # On this machine the process table decides (a slow beat under load is no death);
        # elsewhere only the heartbeat can.
        if (local and not _pid_alive(int(pid))) or (silent and not local):
            stale.append(int(job_id))
    return stale


def expire_stale_jobs(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Record queued or running jobs whose process is gone as failed: interrupted."""
    stale = stale_job_ids(con)
    if stale:
        con.execute(
            "UPDATE ingest_jobs SET status = 'failed', error_title = ?, error_message = ?, "
            "finished_at = current_timestamp WHERE job_id IN (SELECT unnest(?))",
            [INTERRUPTED_TITLE, INTERRUPTED_MESSAGE, stale],
        )
    return stale


@dataclass(frozen=True)
class Claim:
    """The outcome of ``claim_job``: a job id to run, or the job that already covers the key."""

    job_id: int
    claimed: bool
    replace_job_ids: tuple[int, ...] = ()
    message: str = ""
    snapshots: tuple[str, ...] = ()
    """Of the snapshots offered, the ones this job is to analyse (the others are stored)."""


def _snapshot_holders(
    con: duckdb.DuckDBPyConnection, key: JobKey, snapshots: list[str]
) -> list[tuple[str, int, str]]:
    """(snapshot hash, job id, status) of the done and running jobs of the key's stimulus and
    parameters that hold these snapshots."""
    rows = con.execute(
        "SELECT f.content_hash, j.job_id, j.status FROM snapshot_files f JOIN ingest_jobs j "
        f"USING (job_id) WHERE j.status IN ('done', 'running') AND {_SAME_SCOPE} "
        "AND f.content_hash IN (SELECT unnest($hashes))",
        {"params": key.params_hash, "source": key.source_id, "hashes": snapshots},
    ).fetchall()
    return [(str(h), int(j), str(status)) for h, j, status in rows]


def claim_job(
    con: duckdb.DuckDBPyConnection,
    key: JobKey,
    input_name: str,
    params_json: str,
    model_version: str,
    detector: str,
    force: bool = False,
    queued_job_id: int | None = None,
    input_path: str = "",
    snapshots: list[str] | None = None,
) -> Claim:
    """Atomically: skip a key already stored (or being analysed now), else register the job.

    ``force``: analyse again; the done jobs of the key are replaced at commit. A queued job
    (an upload) is claimed by its own id and marked failed when another job covers the key.
    ``snapshots``: an image job's snapshot hashes; the job takes those no done or running job
    of the same stimulus and parameters holds (with ``force``, all of them, and the done jobs
    holding any are replaced), and is skipped when there are none.
    """
    with _WRITE_LOCK, transaction(con):
        expire_stale_jobs(con)
        fresh: list[str] = list(dict.fromkeys(snapshots or []))
        holders = _snapshot_holders(con, key, fresh) if fresh else []
        if fresh and not force:
            held = {h for h, _, _ in holders}
            fresh = [h for h in fresh if h not in held]
            if not fresh:
                latest, status = max((j, st) for _, j, st in holders)
                message = (
                    f"already being ingested as job {latest}"
                    if status == "running"
                    else f"already ingested as job {latest}: all {len(held)} snapshot(s) are stored"
                )
                if queued_job_id is not None:
                    fail_job(con, queued_job_id, "Already ingested", f"{input_name}: {message}.")
                return Claim(latest, False, message=message)
        done = find_done_job(con, key)
        live = con.execute(
            f"SELECT job_id FROM ingest_jobs WHERE {_SAME_KEY} AND status = 'running' "
            "AND job_id IS DISTINCT FROM $own ORDER BY job_id LIMIT 1",
            {**_key_args(key), "own": queued_job_id},
        ).fetchone()
        other: tuple[int, str] | None = None
        if done is not None and not force:
            other = (done.job_id, f"already ingested as job {done.job_id}")
        elif live is not None:
            other = (int(live[0]), f"already being ingested as job {live[0]}")
        if other is not None:
            if queued_job_id is not None:
                fail_job(con, queued_job_id, "Already ingested", f"{input_name}: {other[1]}.")
            return Claim(other[0], False, message=other[1])
        replace = tuple(done_job_ids(con, key)) if force else ()
        if force:  # the snapshots are analysed again: the done jobs holding any are replaced
            replace = tuple(sorted({*replace, *(j for _, j, st in holders if st == "done")}))
        if queued_job_id is None:
            job_id = _insert_job(
                con, key, input_name, params_json, model_version, detector, "running", input_path
            )
        else:
            job_id = queued_job_id
            con.execute(
                "UPDATE ingest_jobs SET status = 'running', progress = 0, error_title = NULL, "
                "error_message = NULL, finished_at = NULL, updated_at = current_timestamp, "
                "worker_host = ?, worker_pid = ? WHERE job_id = ?",
                [socket.gethostname(), os.getpid(), job_id],
            )
        if fresh:
            con.execute(
                "INSERT INTO snapshot_files SELECT ?, unnest(?) ON CONFLICT DO NOTHING",
                [job_id, fresh],
            )
    return Claim(job_id, True, replace, snapshots=tuple(fresh))


def queued_job_inputs(con: duckdb.DuckDBPyConnection, job_id: int) -> tuple[str, str, int]:
    """(input_path, params JSON, source_id) of a queued job, for the process that runs it."""
    row = con.execute(
        "SELECT input_path, params, source_id FROM ingest_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    if row is None:
        from pipeline.errors import UnknownEntityError

        raise UnknownEntityError("Unknown job", f"No ingest job with id {job_id}.")
    return row[0], row[1], int(row[2])


def get_job(con: duckdb.DuckDBPyConnection, job_id: int) -> JobRecord | None:
    row = con.execute(
        f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    return JobRecord(*row) if row else None


def start_job(
    con: duckdb.DuckDBPyConnection,
    key: JobKey,
    input_name: str,
    params_json: str,
    model_version: str,
    detector: str,
    status: str = "running",
    input_path: str = "",
) -> int:
    """Record a job as running (or queued) without a claim: camera batches, whose key (URL
    and time) cannot repeat, and uploads, claimed later by the process that runs them."""
    with _WRITE_LOCK:
        expire_stale_jobs(con)
        return _insert_job(
            con, key, input_name, params_json, model_version, detector, status, input_path
        )


def _insert_job(
    con: duckdb.DuckDBPyConnection,
    key: JobKey,
    input_name: str,
    params_json: str,
    model_version: str,
    detector: str,
    status: str,
    input_path: str,
) -> int:
    running = status == "running"  # a queued job gets its worker when run-job claims it
    row = con.execute(
        "INSERT INTO ingest_jobs (source_id, input_name, input_path, content_hash, params_hash, "
        "params, model_version, detector, status, worker_host, worker_pid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING job_id",
        [
            key.source_id,
            input_name,
            input_path,
            key.content_hash,
            key.params_hash,
            params_json,
            model_version,
            detector,
            status,
            socket.gethostname() if running else None,
            os.getpid() if running else None,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_progress(
    con: duckdb.DuckDBPyConnection, job_id: int, progress: float, frames: int, faces: int
) -> None:
    with _WRITE_LOCK:
        con.execute(
            "UPDATE ingest_jobs SET progress = ?, frames = ?, faces = ?, "
            "updated_at = current_timestamp WHERE job_id = ? AND status IN ('queued', 'running')",
            [min(max(progress, 0.0), 1.0), frames, faces, job_id],
        )


def fail_job(con: duckdb.DuckDBPyConnection, job_id: int, title: str, message: str) -> None:
    with _WRITE_LOCK:
        con.execute(
            "UPDATE ingest_jobs SET status = 'failed', error_title = ?, error_message = ?, "
            "updated_at = current_timestamp, finished_at = current_timestamp "
            "WHERE job_id = ? AND status <> 'done'",
            [title, message, job_id],
        )


def commit_job(
    con: duckdb.DuckDBPyConnection,
    job_id: int,
    source: Source,
    result: JobResult,
    replace_job_ids: list[int] | None = None,
) -> bool:
    """Insert everything the job produced and mark it done, atomically; True when stored.

    ``replace_job_ids``: earlier jobs of the same key whose rows ``--force`` replaces, deleted in
    the same transaction so that a failure keeps the old rows. When another job stored the same
    key meanwhile (its claim had been given up as interrupted), nothing is added: the job is
    recorded as failed "Already ingested" and False returned.
    """
    faces = result.faces.copy()
    faces.insert(0, "job_id", job_id)
    faces.insert(1, "source_id", source.source_id)
    faces.insert(2, "stimulus_id", source.stimulus_id)
    frames = result.frames.copy()
    frames.insert(0, "job_id", job_id)
    tracks = result.tracks.copy()
    tracks.insert(0, "job_id", job_id)
    with _WRITE_LOCK, transaction(con):
        row = con.execute(
            "SELECT source_id, content_hash, params_hash FROM ingest_jobs WHERE job_id = ?",
            [job_id],
        ).fetchone()
        if row is None:
            from pipeline.errors import StoreError

            raise StoreError(
                "Job removed", f"Job {job_id} was removed (purged?) while it ran; nothing stored."
            )
        other = find_done_job(con, JobKey(int(row[0]), str(row[1]), str(row[2])))
        if other is not None and other.job_id not in (replace_job_ids or []):
            fail_job(
                con, job_id, "Already ingested", f"The same file was stored as job {other.job_id}."
            )
            return False
        if replace_job_ids:
            # An API operation answers from its job's source: it follows the job that replaces
            # its own into the same source (elsewhere its answer would be another source's).
            con.execute(
                "UPDATE api_operations o SET job_id = $new FROM ingest_jobs j "
                "WHERE o.job_id = j.job_id AND j.source_id = $source "
                "AND j.job_id IN (SELECT unnest($old))",
                {"new": job_id, "old": replace_job_ids, "source": source.source_id},
            )
            delete_jobs(con, replace_job_ids)
        _insert(con, "face_observations", faces)
        _insert(con, "frames", frames)
        _insert(con, "tracks", tracks)
        rollups.add_jobs(con, [job_id])
        warnings = "; ".join(result.warnings)
        con.execute(
            "UPDATE ingest_jobs SET status = 'done', progress = 1.0, frames = ?, faces = ?, "
            "tracks = ?, warnings = ?, updated_at = current_timestamp, "
            "finished_at = current_timestamp WHERE job_id = ?",
            [len(frames), len(faces), len(tracks), warnings, job_id],
        )
    return True


def delete_job_rows(con: duckdb.DuckDBPyConnection, job_ids: list[int]) -> None:
    """Delete these jobs' rows and take them out of the rollups in one pass (inside the
    caller's transaction; the job records stay)."""
    rollups.remove_jobs(con, job_ids)
    for table in ("face_observations", "frames", "tracks", "snapshot_files"):
        con.execute(f"DELETE FROM {table} WHERE job_id IN (SELECT unnest(?))", [job_ids])


def delete_jobs(con: duckdb.DuckDBPyConnection, job_ids: list[int]) -> None:
    """Delete these jobs, their rows and their share of the rollups (inside the caller's
    transaction)."""
    delete_job_rows(con, job_ids)
    con.execute("DELETE FROM ingest_jobs WHERE job_id IN (SELECT unnest(?))", [job_ids])


def done_job_ids(con: duckdb.DuckDBPyConnection, key: JobKey) -> list[int]:
    rows = con.execute(
        f"SELECT job_id FROM ingest_jobs WHERE {_SAME_KEY} AND status = 'done' ORDER BY job_id",
        _key_args(key),
    ).fetchall()
    return [r[0] for r in rows]


def touch_jobs(con: duckdb.DuckDBPyConnection, job_ids: Iterable[int]) -> None:
    """The heartbeat: these jobs' processes are alive."""
    ids = list(job_ids)
    if ids:
        with _WRITE_LOCK:
            con.execute(
                "UPDATE ingest_jobs SET updated_at = current_timestamp WHERE job_id IN "
                "(SELECT unnest(?)) AND status IN ('queued', 'running')",
                [ids],
            )


class Heartbeat:
    """A daemon thread that touches the given jobs every few seconds while work runs.

    A missed beat (database busy for a moment) is harmless: the next one comes a few seconds
    later, well inside EMOTION_JOB_STALE_S.
    """

    def __init__(self, db_path: Path | None, job_ids: Iterable[int]) -> None:
        self._db_path, self._ids = db_path, set(job_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def _run(self) -> None:
        from pipeline.errors import ReactionError
        from pipeline.store.database import connect

        every = heartbeat_every_s()
        while not self._stop.wait(every):
            try:
                with connect(self._db_path, lock_wait_s=every) as con:
                    touch_jobs(con, list(self._ids))
            except ReactionError:
                continue

    def forget(self, job_id: int) -> None:
        self._ids.discard(job_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def heartbeat(db_path: Path | None, job_ids: Iterable[int]) -> Iterator[Heartbeat]:
    with Heartbeat(db_path, job_ids) as beat:
        yield beat


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("_incoming", frame)
    try:
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming")
    finally:
        # In an aborted transaction unregister raises too; the insert's error is the one to show.
        with contextlib.suppress(duckdb.Error):
            con.unregister("_incoming")
