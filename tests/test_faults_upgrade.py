"""Upgrading databases made by every earlier migration set, then ingesting a snapshot.

Migration 002 was edited after release 1 had shipped it (``tracks.dwell_s`` lost NOT NULL), so
a release-1 database refused every snapshot ingest with "Current transaction is aborted".
Migration 004 repairs that; these tests build databases the way each release did and upgrade
them through ``connect``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.errors import StoreError
from pipeline.ingest import Target, ingest
from pipeline.store import catalog
from pipeline.store.database import _migrations, connect, migrate
from pipeline.store.job_keys import params_digest

GOLDEN = Path(__file__).parent / "golden" / "migrations_release1"


def _migration_sql(number: int, release1: bool) -> tuple[str, str]:
    name, sql = next((n, s) for num, n, s in _migrations() if num == number)
    if release1 and (GOLDEN / name).exists():
        sql = (GOLDEN / name).read_text()
    return name, sql


def _build(db: Path, numbers: list[int], release1: bool) -> None:
    """A database as a release with these migrations made it (same bookkeeping as migrate)."""
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    for number in numbers:
        name, sql = _migration_sql(number, release1)
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", [number, name])
    con.close()


_NUMBERS = [number for number, _, _ in _migrations()]
# Every earlier prefix of the migrations, plus release 1's own sets (its 002 before the edit).
SETS = {
    f"{_NUMBERS[0]:03d}-{_NUMBERS[i - 1]:03d}": (_NUMBERS[:i], False)
    for i in range(1, len(_NUMBERS))
} | {
    "001-002 release 1 (dwell_s NOT NULL)": ([1, 2], True),
    "001-003 on release 1's 002": ([1, 2, 3], True),
}


@pytest.mark.parametrize("label", list(SETS))
def test_every_earlier_database_upgrades_and_takes_a_snapshot(
    label: str, tmp_path: Path, snapshots: Path
) -> None:
    numbers, release1 = SETS[label]
    db = tmp_path / "old.duckdb"
    _build(db, numbers, release1)
    if release1:
        con = duckdb.connect(str(db))
        nullable = con.execute(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'tracks' AND column_name = 'dwell_s'"
        ).fetchone()
        con.close()
        assert nullable == ("NO",)  # the release-1 schema really is the broken one
    with connect(db) as con:
        applied = [r[0] for r in con.execute("SELECT number FROM schema_migrations").fetchall()]
        assert sorted(applied) == [n for n, _, _ in _migrations()]
        catalog.create_campaign(con, "Upgrade", "")
    snapshot = sorted(snapshots.glob("*.jpg"))[0]
    summary = ingest(
        "images",
        snapshot,
        Target("Upgrade", "Window", "display", "window_cam", "camera"),
        AnalysisParams(),
        db,
    )
    assert summary.status == "done" and summary.faces >= 1
    with connect(db, read_only=True) as con:
        dwell = con.execute("SELECT count(*), count(dwell_s) FROM tracks").fetchone()
    assert dwell is not None and dwell[0] >= 1 and dwell[1] == 0  # seen once: dwell unknown


def _one_snapshot_stored(tmp_path: Path, snapshots: Path) -> tuple[Path, Path, Target]:
    """A database holding one snapshot's job, as the current code stores it."""
    db = tmp_path / "upgrade.duckdb"
    with connect(db) as con:
        catalog.create_campaign(con, "Upgrade", "")
    snapshot = sorted(snapshots.glob("*.jpg"))[0]
    target = Target("Upgrade", "Window", "display", "window_cam", "camera")
    assert ingest("images", snapshot, target, AnalysisParams(), db).status == "done"
    return db, snapshot, target


def _before_014(con: duckdb.DuckDBPyConnection) -> None:
    """The schema as it was before migration 014: the per-job series table, 014 not applied."""
    con.execute("CREATE TABLE emotion_series (job_id INTEGER NOT NULL, faces INTEGER NOT NULL)")
    con.execute("INSERT INTO emotion_series SELECT job_id, faces FROM ingest_jobs")
    con.execute("DELETE FROM schema_migrations WHERE number = 14")


def test_a_file_stored_with_a_bucket_size_is_still_recognised_after_the_upgrade(
    tmp_path: Path, snapshots: Path
) -> None:
    """Migration 014 drops the face-weighted per-job series and takes the bucket size out of
    the job key. A file stored before, keyed with its bucket size, must still be recognised
    afterwards: analysed again under the new key, its people would be counted twice."""
    db, snapshot, target = _one_snapshot_stored(tmp_path, snapshots)
    # Turn it into what the code before 014 left: the job keyed and stored with the bucket
    # size of `ingest-images` (60 s), the per-job series table beside it, 014 not applied.
    con = duckdb.connect(str(db))
    row = con.execute("SELECT params, model_version, params_hash FROM ingest_jobs").fetchone()
    assert row is not None
    old_fields = {**json.loads(row[0]), "bucket_s": 60.0}
    old_key = params_digest(old_fields, row[1])
    assert old_key != row[2]  # the old key really is another key
    con.execute(
        "UPDATE ingest_jobs SET params = ?, params_hash = ?",
        [json.dumps(old_fields, sort_keys=True), old_key],
    )
    _before_014(con)
    faces_before = con.execute("SELECT count(*) FROM face_observations").fetchone()
    con.close()

    again = ingest("images", snapshot, target, AnalysisParams(), db)
    assert again.status == "skipped", again
    with connect(db, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        jobs = con.execute("SELECT params, params_hash FROM ingest_jobs").fetchall()
        faces_after = con.execute("SELECT count(*) FROM face_observations").fetchone()
    assert "emotion_series" not in tables
    assert len(jobs) == 1 and "bucket_s" not in json.loads(jobs[0][0])
    assert jobs[0][1] == row[2]
    assert faces_after == faces_before and faces_before is not None and faces_before[0] > 0


def test_a_file_stored_twice_with_two_bucket_sizes_counts_its_people_once_after_the_upgrade(
    tmp_path: Path, snapshots: Path
) -> None:
    """Before 014 the same snapshot ingested with two bucket sizes was two jobs with the same
    face rows, and every figure counted its people twice. The upgrade keeps the newer job's
    rows and removes the older one, and the rollups then count each person once."""
    from pipeline.audience import raw, read
    from pipeline.store import rollups

    db, snapshot, target = _one_snapshot_stored(tmp_path, snapshots)
    con = duckdb.connect(str(db))
    params, model, key = con.execute(
        "SELECT params, model_version, params_hash FROM ingest_jobs"
    ).fetchone()  # type: ignore[misc]
    # The second job, as the code before 014 stored it: the same rows, another bucket size.
    con.execute(
        "INSERT INTO ingest_jobs SELECT * REPLACE (nextval('job_ids') AS job_id) FROM ingest_jobs"
    )
    for table in ("face_observations", "frames", "tracks", "snapshot_files"):
        con.execute(f"INSERT INTO {table} SELECT * REPLACE (2 AS job_id) FROM {table}")
    rollups.add_jobs(con, [2])
    # The older one was an upload the user chose to keep; the newer one holds no file.
    kept_upload = tmp_path / "uploads" / snapshot.name
    kept_upload.parent.mkdir()
    kept_upload.write_bytes(snapshot.read_bytes())
    con.execute(
        "UPDATE ingest_jobs SET input_path = ?, keep_input = true WHERE job_id = 1",
        [str(kept_upload)],
    )
    for job_id, bucket in ((1, 60.0), (2, 3600.0)):
        fields = {**json.loads(params), "bucket_s": bucket}
        con.execute(
            "UPDATE ingest_jobs SET params = ?, params_hash = ? WHERE job_id = ?",
            [json.dumps(fields, sort_keys=True), params_digest(fields, model), job_id],
        )
    _before_014(con)
    stimulus_id = con.execute("SELECT stimulus_id FROM stimuli").fetchone()[0]  # type: ignore[index]
    faces = con.execute("SELECT count(*) FROM face_observations WHERE job_id = 1").fetchone()[0]  # type: ignore[index]
    counted_twice = read.selection(con, stimulus_id, True, 1)
    con.close()
    assert int(counted_twice["faces"].iloc[0]) == 2 * faces  # what the old store reported

    with connect(db) as con:
        jobs = con.execute("SELECT job_id, params_hash FROM ingest_jobs").fetchall()
        upload = con.execute("SELECT input_path, keep_input FROM ingest_jobs").fetchall()
        stored = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
        once = read.selection(con, stimulus_id, True, 1)
        reference = raw.selection(con, stimulus_id, True, 1)
    assert jobs == [(2, key)] and stored == faces
    assert upload == [(str(kept_upload), True)]  # the kept upload stays the user's
    assert int(once["faces"].iloc[0]) == faces
    assert int(once["people"].iloc[0]) == int(reference["people"].iloc[0]) > 0
    assert ingest("images", snapshot, target, AnalysisParams(), db).status == "skipped"


def test_a_job_whose_parameters_cannot_be_read_stops_the_upgrade_in_one_line(
    tmp_path: Path,
) -> None:
    """014 reads every job's stored parameters; one it cannot parse fails the upgrade with a
    StoreError naming the migration, and the file keeps its earlier schema untouched."""
    db = tmp_path / "odd.duckdb"
    _build(db, _NUMBERS[: _NUMBERS.index(14)], release1=False)
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO ingest_jobs (source_id, input_name, content_hash, params_hash, params, "
        "model_version, detector, status) VALUES (1, 'x.mp4', 'c', 'p', 'not json', 'm', 'd', "
        "'done')"
    )
    con.close()
    with pytest.raises(StoreError) as caught, connect(db):
        pass
    assert caught.value.title == "Database upgrade failed"
    assert "014_drop_face_row_series.sql" in caught.value.message
    assert "\n" not in caught.value.message
    con = duckdb.connect(str(db))
    applied = {r[0] for r in con.execute("SELECT number FROM schema_migrations").fetchall()}
    series = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'emotion_series'")
    assert 14 not in applied and series.fetchone() == (1,)
    con.close()


def test_a_failing_migration_names_itself_and_the_real_cause(tmp_path: Path) -> None:
    """The cause is DuckDB's own message, not "transaction is aborted" from the rollback."""
    db = tmp_path / "clash.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE campaigns (x INTEGER)")  # 001 cannot create its own table
    with pytest.raises(StoreError) as caught:
        migrate(con)
    message = caught.value.message
    assert "001_domain.sql" in message and "campaigns" in message and "already exists" in message
    assert "aborted" not in message.lower()
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)
    con.close()


def test_a_file_missing_an_earlier_number_is_upgraded_by_its_first_reader(tmp_path: Path) -> None:
    """Numbers are reserved per branch: a file can hold 012 without 011 (012 landed first).
    A read-only open must still notice and apply 011, not only compare the latest number."""
    db = tmp_path / "gap.duckdb"
    _build(db, [n for n in _NUMBERS if n != 11], release1=False)
    with connect(db, read_only=True) as con:
        applied = {r[0] for r in con.execute("SELECT number FROM schema_migrations").fetchall()}
        zone = con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'sources' AND column_name = 'time_zone'"
        ).fetchone()
    assert applied == set(_NUMBERS) and zone == (1,)


_HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
con.close()
"""


def test_a_reader_that_upgrades_waits_for_a_writer_that_took_the_file_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of an old database closes it, upgrades it through a write connection, then
    opens it again to read. Another process can take the file between the upgrade and that
    reopen; the reopen must wait for it like the first open does, not fail with DuckDB's raw
    lock error. The other process really holds the lock: it starts when the upgrading
    connection closes, and the reopen runs only once it holds the file."""
    import subprocess
    import sys

    from pipeline.store import database

    db = tmp_path / "old.duckdb"
    _build(db, _NUMBERS[:-1], release1=False)
    holding = tmp_path / "holding"
    holders: list[subprocess.Popen[bytes]] = []
    closes: list[bool] = []
    real_close = database._close

    def close_then_let_a_writer_in(con: duckdb.DuckDBPyConnection) -> None:
        real_close(con)
        closes.append(True)
        if len(closes) == 2:  # the upgrading write connection has just closed
            holders.append(
                subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(db), str(holding), "1.5"])
            )
            give_up = time.monotonic() + 30
            while not holding.exists():
                assert holders[0].poll() is None and time.monotonic() < give_up, "no lock taken"
                time.sleep(0.01)

    monkeypatch.setattr(database, "_close", close_then_let_a_writer_in)
    with connect(db, read_only=True, lock_wait_s=30) as con:
        applied = {r[0] for r in con.execute("SELECT number FROM schema_migrations").fetchall()}
    assert holders and holders[0].wait(timeout=30) == 0
    assert applied == set(_NUMBERS)
