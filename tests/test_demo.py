"""The first-run demo: committed rows made by the real pipeline load into a new database."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.demo import DEMO_CAMPAIGN, DEMO_DIR, DEMO_TABLES, build_demo
from pipeline.errors import InputError
from pipeline.store import catalog, queries
from pipeline.store.database import connect


def test_demo_rows_are_committed_for_every_table() -> None:
    assert sorted(p.stem for p in DEMO_DIR.glob("*.parquet")) == sorted(DEMO_TABLES)


def test_demo_loads_once_and_new_rows_do_not_collide(tmp_path: Path) -> None:
    db = tmp_path / "first_run.duckdb"
    assert "loaded demo campaign" in build_demo(db, if_missing=True)
    assert "already has data" in build_demo(db, if_missing=True)
    with pytest.raises(InputError, match="already holds campaigns"):
        build_demo(db)
    with connect(db) as con:
        demo = catalog.get_campaign(con, DEMO_CAMPAIGN)
        summary = queries.stimulus_summary(con, demo.campaign_id)
        jobs = queries.recent_jobs(con, 100)
        mine = catalog.create_campaign(con, "My own campaign")
        stimulus = catalog.create_stimulus(con, mine, "My ad", "ad", 15.0)
    assert set(summary["kind"]) == {"ad", "display"}
    assert (summary["faces"] > 50).all()
    assert (jobs["status"] == "done").all()
    assert mine.campaign_id > demo.campaign_id
    assert stimulus.stimulus_id > summary["stimulus_id"].max()
