"""The first-run demo: committed rows made by the real pipeline load into a new database."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipeline.audience import read
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
        summary = read.stimulus_summary(con, demo.campaign_id, 1)
        jobs = queries.recent_jobs(con, 100)
        mine = catalog.create_campaign(con, "My own campaign")
        stimulus = catalog.create_stimulus(con, mine, "My ad", "ad", 15.0)
    assert set(summary["kind"]) == {"ad", "display"}
    assert (summary["faces"] > 50).all()
    assert (jobs["status"] == "done").all()
    assert mine.campaign_id > demo.campaign_id
    assert stimulus.stimulus_id > summary["stimulus_id"].max()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo(db)
    return db


def test_demo_has_several_ads_of_people_with_head_pose(demo_db: Path) -> None:
    """Every ad is watched by enough people to pass the minimum crowd, and their head pose
    (looking or not) is known, so attention has figures to show."""
    from pipeline.settings import get_int

    with connect(demo_db) as con:
        per_ad = con.execute(
            "SELECT st.name, count(DISTINCT (o.job_id, o.track_id)), count(o.looking), "
            "count(*) FILTER (WHERE o.looking), count(*) FILTER (WHERE NOT o.looking) "
            "FROM face_observations o JOIN stimuli st USING (stimulus_id) "
            "WHERE st.kind = 'ad' GROUP BY 1"
        ).fetchall()
    assert len(per_ad) >= 3
    for name, people, known, looking, away in per_ad:
        assert people >= get_int("EMOTION_MIN_CROWD"), name
        assert known > 0 and looking > 0 and away > 0, name


def test_demo_expressions_build_up_gradually(demo_db: Path) -> None:
    """Many people reacting at their own moments: the audience's mean expression moves in
    steps smaller than a quarter per second, and no expression is every face's at once."""
    with connect(demo_db) as con:
        seconds = con.execute(
            "SELECT stimulus_id, floor(offset_s) AS s, avg(happiness), avg(surprise), "
            "avg(sadness), max(CASE WHEN dominant = 'neutral' THEN 0 ELSE 1 END), "
            "count(*) FILTER (WHERE dominant <> 'surprise') "
            "FROM face_observations WHERE ts IS NULL GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    assert len(seconds) > 40
    for before, after in itertools.pairwise(seconds):
        if before[0] == after[0]:
            steps = [abs(after[i] - before[i]) for i in (2, 3, 4)]
            assert max(steps) < 0.25, (before, after)
    assert all(row[6] > 0 for row in seconds)  # some face is not surprised in every second
