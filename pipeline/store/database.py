"""Opening the DuckDB file and bringing its schema up to date.

DuckDB lets one process at a time open a file for writing, and an open reader in another
process keeps every writer out. The dashboard, a background upload job and the CLI are
separate processes, so every operation opens the file, does its work and closes it again,
retrying for up to EMOTION_LOCK_WAIT_S when another process holds the lock. Readers copy what
they need into pandas/Arrow and close before any slow work (a report is rendered after its
connection closed), so a writer never waits more than a few seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb

from pipeline.errors import StoreError


def default_db_path() -> Path:
    from pipeline.settings import get_setting

    return Path(get_setting("EMOTION_DB_PATH"))


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("pipeline.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any error without hiding that error.

    After a failed statement DuckDB aborts the transaction, and a ROLLBACK (or any cleanup
    statement) may raise again; the first error is the one the user must see, so a failing
    ROLLBACK is only attached to it as a note.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException as error:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            error.add_note(f"(the rollback failed too: {rollback_error})")
        raise


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the numbered migrations not applied yet, each in its own transaction.

    A failing migration raises a StoreError that names it and gives DuckDB's own reason.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, "
        "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    applied = {row[0] for row in con.execute("SELECT number FROM schema_migrations").fetchall()}
    done = []
    for number, name, sql in _migrations():
        if number in applied:
            continue
        try:
            with transaction(con):
                con.execute(sql)
                _after_migration(con, number)
                con.execute(
                    "INSERT INTO schema_migrations (number, name) VALUES (?, ?)", [number, name]
                )
        except (duckdb.Error, ValueError, TypeError, KeyError) as error:
            # DuckDB's own errors, and a stored value the Python part of a migration cannot
            # read (a job's parameters that are not a JSON object, say): one line either way.
            raise StoreError(
                "Database upgrade failed",
                f"Migration {name} could not be applied, nothing of it was kept: {error}",
            ) from error
        done.append(name)
    _refresh_rollups(con)
    return done


def _after_migration(con: duckdb.DuckDBPyConnection, number: int) -> None:
    """The part of a migration that SQL cannot do, in the migration's own transaction, so a
    database never holds the new schema without it."""
    if number == 14:  # the bucket size left the job key: re-key the jobs stored before
        from pipeline.store.job_keys import upgrade_job_keys

        upgrade_job_keys(con)


def _refresh_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Build the rollups of a database that has none yet (upgraded past migration 012, or
    ``rollups --rebuild``), in one transaction: until then no reader sees figures."""
    from pipeline.store import rollups

    if not rollups.is_stale(con):
        return
    try:
        with transaction(con):
            rollups.rebuild(con)
    except duckdb.Error as error:
        raise StoreError(
            "Database upgrade failed", f"The rollups could not be built, nothing was kept: {error}"
        ) from error


def _behind(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the file lacks any migration this code has (or has no migration table).

    Any, not just the latest: numbers are reserved per branch, so a file can hold 012 and
    still miss 011 when the later number landed first.
    """
    try:
        rows = con.execute("SELECT number FROM schema_migrations").fetchall()
    except duckdb.Error:
        return True
    return not {number for number, _, _ in _migrations()} <= {int(r[0]) for r in rows}


# DuckDB shares one database instance between the connections of a process and detaches the
# file when the last of them closes. A thread opening the file while another opens it, or
# while the last connection is closing, can try to attach a file that is still attached: it
# fails with "Unique file handle conflict" (seen with concurrent HTTP pushes). So opens and
# closes are taken one at a time. Opening is quick (a lock held by another process fails at
# once, and the retrying happens outside); closing the last connection writes a checkpoint,
# which can take seconds after a large ingest, so an open waits for it no longer than the
# caller's lock wait.
_OPENING = threading.Lock()


def _open(path: Path, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
    if not _OPENING.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise StoreError(
            "Database busy", f"Could not open {path}: another thread is still closing it."
        )
    try:
        return duckdb.connect(str(path), read_only=read_only)
    finally:
        _OPENING.release()


def _close(con: duckdb.DuckDBPyConnection) -> None:
    with _OPENING:
        con.close()


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _open_waiting(
    path: Path, read_only: bool, deadline: float
) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """(connection, whether it is read-only), retrying until ``deadline`` while another
    process holds the file's lock or this process has it open in the other mode.

    Why one helper: a reader that upgrades an old database reopens it afterwards, and that
    reopen meets the same locks as the first open (a writer can take the file in between).
    """
    delay = 0.05
    while True:
        try:
            con = _open(path, read_only, deadline)
            return con, read_only
        except duckdb.IOException as error:
            if not _is_lock_error(error) or time.monotonic() > deadline:
                raise StoreError(
                    "Database busy" if _is_lock_error(error) else "Database unavailable",
                    f"Could not open {path}: {error}",
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except duckdb.ConnectionException as error:
            # This process already has the file open in the other mode (another thread: a
            # heartbeat, a dashboard session queuing an upload). A reader simply reads through
            # a write connection; a writer waits for the readers of its own process.
            if "different configuration" not in str(error) or time.monotonic() > deadline:
                raise StoreError(
                    "Database unavailable", f"Could not open {path}: {error}"
                ) from error
            if read_only:
                read_only = False
            else:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        except duckdb.Error as error:
            raise StoreError("Database unavailable", f"Could not open {path}: {error}") from error


@contextlib.contextmanager
def connect(
    db_path: Path | None = None, read_only: bool = False, lock_wait_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated connection to the database, closed on exit.

    Waits up to ``lock_wait_s`` for another process to release the file, then raises a
    StoreError that says so, instead of DuckDB's raw lock message.
    """
    path = db_path or default_db_path()
    if read_only and not path.exists():
        read_only = False  # first use: create it so readers see an empty, migrated store
    path.parent.mkdir(parents=True, exist_ok=True)
    if lock_wait_s is None:
        from pipeline.settings import get_float

        lock_wait_s = get_float("EMOTION_LOCK_WAIT_S")
    con, read_only = _open_waiting(path, read_only, time.monotonic() + lock_wait_s)
    if read_only and _behind(con):
        # A reader of a database no writer has upgraded yet: upgrade it once, then read.
        _close(con)
        with connect(path, lock_wait_s=lock_wait_s):
            pass
        con, read_only = _open_waiting(path, True, time.monotonic() + lock_wait_s)
    try:
        if not read_only:
            migrate(con)
        yield con
    except duckdb.Error as error:
        # The one place DuckDB failures become ours: callers (CLI, dashboard) show the title
        # and message, never a DuckDB traceback.
        raise StoreError("Database query failed", f"{path}: {error}") from error
    finally:
        _close(con)
