"""Rollups give the same audience tables as the face rows, on real DuckDB files, at every step.

Each check runs every read of ``pipeline.audience.read`` (from the rollups) and of
``pipeline.audience.raw`` (from face rows) on the same file and several minimum crowds, and
compares them column by column (floats to 1e-9). It also remakes the rollups from scratch in a
copy and compares the tables row by row, so incremental maintenance (ingest, ``--force``,
delete, purge, segment edits) leaves exactly what a rebuild would.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis import AnalysisParams
from pipeline.audience import raw, read
from pipeline.audience.totals import Moments
from pipeline.audience.verdicts import Audience, verdict_table, verdicts
from pipeline.demo import DEMO_CAMPAIGN, build_demo
from pipeline.ingest import Target, ingest
from pipeline.store import catalog, manage, queries, rollups, zones
from pipeline.store.database import connect, transaction
from pipeline.store.retention import purge_older_than
from tests.audience_rows import Person, write_people
from tests.cli import run_cli

# No crowd, a small one (2) that shows most buckets and the default (5) that withholds many.
# A fourth between those two (3) cost about a minute of CI on a slow CPU.
CROWDS = (1, 2, 5)
# After a change to a database already compared at every crowd: the default minimum crowd (5)
# and a small one (2) that shows more buckets. Each pass over the demo costs minutes on a
# slow CPU.
CROWDS_AFTER_A_CHANGE = (2, 5)
_TABLES = {
    "rollup_person_cells": "job_id, track_id, by_clock, cell",
    "rollup_cells": "stimulus_id, source_id, by_clock, cell",
    "rollup_versions": "stimulus_id, source_id, by_clock, cell, model_version, detector",
    "rollup_people": "stimulus_id, source_id, by_clock, level, bucket",
}


def _numeric(column: pd.Series) -> bool:
    values = column.dropna()
    if pd.api.types.is_bool_dtype(column) or any(isinstance(v, bool) for v in values):
        return False
    return pd.api.types.is_numeric_dtype(column) or all(
        isinstance(v, (int, float, np.number)) for v in values
    )


def _same(ours: pd.DataFrame, theirs: pd.DataFrame, what: str) -> None:
    assert list(ours.columns) == list(theirs.columns), what
    if ours.empty and theirs.empty:
        return
    for column in ours.columns:
        a, b = ours[column].reset_index(drop=True), theirs[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(b) or pd.api.types.is_datetime64_any_dtype(a):
            x, y = pd.to_datetime(a), pd.to_datetime(b)
            assert ((x == y) | (x.isna() & y.isna())).all(), f"{what}: {column}"
        elif _numeric(a) and _numeric(b):
            x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
            assert np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True), f"{what}: {column}"
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), f"{what}: {column}"


def _same_audience(ours: Audience, theirs: pd.DataFrame, what: str) -> None:
    expected = Audience.from_people(theirs)
    assert ours.people == expected.people, what
    assert ours.versions == expected.versions, what
    for column, moments in expected.moments.items():
        got = ours.moments.get(column, Moments(0, math.nan, math.nan))
        assert got.n == moments.n, f"{what}: {column}"
        for a, b in ((got.mean, moments.mean), (got.var, moments.var)):
            assert (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=1e-9, abs_tol=1e-9
            ), f"{what}: {column}"


def assert_reads_match(db: Path, crowds: tuple[int, ...] = CROWDS) -> int:
    """Every read from the rollups equals the face-row computation; returns reads compared."""
    compared = 0
    with connect(db, read_only=True) as con:
        campaigns = [c.campaign_id for c in catalog.list_campaigns(con)]
        stimuli = con.execute("SELECT stimulus_id FROM stimuli ORDER BY 1").fetchall()
        for crowd in crowds:
            for campaign in campaigns:
                _same(
                    read.stimulus_summary(con, campaign, crowd),
                    raw.stimulus_summary(con, campaign, crowd),
                    f"summary {campaign} at {crowd}",
                )
                ours = read.campaign_kpis(con, campaign, crowd)
                theirs = raw.campaign_kpis(con, campaign, crowd)
                _same(pd.DataFrame([ours]), pd.DataFrame([theirs]), f"kpis {campaign}")
                compared += 2 + _batched_series_match(con, campaign, crowd)
            for (stimulus,) in stimuli:
                compared += _stimulus_reads_match(con, int(stimulus), crowd)
    return compared


def _batched_series_match(con, campaign: int, crowd: int) -> int:
    """A campaign's series read in grouped queries (the export) equal each stimulus's
    face-row series, at kept and unkept bucket sizes."""
    ids = [int(s) for (s,) in con.execute(
        "SELECT stimulus_id FROM stimuli WHERE campaign_id = ? ORDER BY 1", [campaign]
    ).fetchall()]  # fmt: skip
    clocks = read.stimuli_by_clock(con, ids)
    compared = 0
    for offset_s, clock_s in ((1.0, 3600.0), (1.5, 1200.0)):
        wanted = [(s, clock_s if clocks[s] else offset_s, clocks[s]) for s in ids]
        found = read.series_of_stimuli(con, wanted, crowd)
        assert list(found) == ids
        for stimulus, bucket, by_clock in wanted:
            what = f"batched series {stimulus} {bucket} at {crowd}"
            _same(found[stimulus], raw.series(con, stimulus, bucket, by_clock, crowd), what)
            compared += 1
    return compared


def _stimulus_reads_match(con, stimulus: int, crowd: int) -> int:
    kind, by_clock = read.stimulus_by_clock(con, stimulus)
    assert (kind, by_clock) == raw.stimulus_by_clock(con, stimulus)
    sources = [None, *(int(s) for (s,) in con.execute(
        "SELECT source_id FROM sources WHERE stimulus_id = ?", [stimulus]
    ).fetchall())]  # fmt: skip
    buckets = (300.0, 900.0, 3600.0, 86400.0, 1200.0) if by_clock else (0.5, 1.0, 2.0, 10.0, 1.5)
    compared = 0
    for source in sources:
        for bucket in buckets:
            what = f"series {stimulus} {bucket} {source} at {crowd}"
            _same(
                read.series(con, stimulus, bucket, by_clock, crowd, source),
                raw.series(con, stimulus, bucket, by_clock, crowd, source),
                what,
            )
            compared += 1
    first, last, offset = con.execute(
        "SELECT min(ts), max(ts), max(offset_s) FROM face_observations WHERE stimulus_id = ?",
        [stimulus],
    ).fetchone()
    assert queries.time_range(con, stimulus) == (first, last, offset)
    if by_clock:
        middle = first + (last - first) / 2
        windows = [(None, None), (first, middle), (middle.replace(minute=0, second=0), None)]
        for source in sources:
            for start, end in windows:
                what = f"window {stimulus} {start}-{end} {source} at {crowd}"
                _same(
                    read.series(con, stimulus, 3600.0, True, crowd, source, start, end),
                    raw.series(con, stimulus, 3600.0, True, crowd, source, start, end),
                    what,
                )
                _same(
                    read.hour_weekday(con, stimulus, crowd, source, start, end),
                    raw.hour_weekday(con, stimulus, crowd, source, start, end),
                    f"heatmap {what}",
                )
                _same_selection(con, stimulus, True, crowd, source, start, end)
                compared += 3
    else:
        for source in sources:
            _same_selection(con, stimulus, False, crowd, source, None, None)
            compared += 1
        _same(
            read.segment_summary(con, stimulus, crowd),
            raw.segment_summary(con, stimulus, crowd),
            f"segments {stimulus} at {crowd}",
        )
        compared += 1
    _same_audience(
        read.stimulus_people(con, stimulus, crowd),
        raw.stimulus_people(con, stimulus, crowd),
        f"people {stimulus} at {crowd}",
    )
    return compared + 1


def _same_selection(con, stimulus: int, by_clock: bool, crowd: int, *view: object) -> None:
    """The figures over a view's people read alike from rollups and face rows."""
    ours = read.selection(con, stimulus, by_clock, crowd, *view)
    theirs = raw.selection(con, stimulus, by_clock, crowd, *view)
    assert ours.empty == theirs.empty, (stimulus, view)
    if ours.empty:
        return
    columns = ["people", "people_shown", "valence", "valence_low", "valence_high"]
    _same(ours[columns], theirs[columns], f"selection {stimulus} {view} at {crowd}")


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    with connect(db, read_only=True) as con:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY {order}").df()
            for table, order in _TABLES.items()
        }


def assert_same_as_rebuilt(db: Path, tmp_path: Path) -> None:
    """The incrementally kept rollups equal those a rebuild makes from the face rows."""
    copy = tmp_path / f"rebuilt-{len(list(tmp_path.iterdir()))}.duckdb"
    shutil.copy(db, copy)
    with connect(copy) as con, transaction(con):
        rollups.rebuild(con)
    kept, rebuilt = _tables(db), _tables(copy)
    for table in _TABLES:
        assert len(kept[table]) == len(rebuilt[table]), table
        _same(kept[table], rebuilt[table], table)


def test_hand_built_audiences_read_the_same_from_rollups(tmp_path: Path) -> None:
    """Crowds that pass and fail at different buckets, two rooms, a snapshot camera, pose."""
    db = tmp_path / "hand.duckdb"
    rng = np.random.default_rng(11)
    moods = ["happiness", "neutral", "surprise", "sadness"]
    room = [
        Person(
            float(rng.uniform(0, 8)),
            float(rng.uniform(0.3, 9)),
            dominant=str(rng.choice(moods)),
            looking=[None, True, False][k % 3],
            attention_s=[None, 0.5, 3.0][k % 3],
        )
        for k in range(14)
    ]
    write_people(db, "Hand", "Ad", room[:9], source="room A")
    write_people(db, "Hand", "Ad", room[9:], source="room B")
    start = dt.datetime(2026, 3, 7, 8, 55)  # New York moves to summer time on the 8th
    passers = [
        Person(
            float(rng.uniform(0, 3 * 86400)),
            float(rng.uniform(2, 900)),
            dominant=str(rng.choice(moods)),
            fps=0.2,
            start_time=start,
            attention_s=float(rng.uniform(0, 4)),
        )
        for _ in range(60)
    ]
    write_people(db, "Hand", "Window", passers[:45], "display", "street cam", "footage")
    write_people(db, "Hand", "Window", passers[45:], "display", "side cam", "footage")
    with connect(db) as con:
        campaign = catalog.get_campaign(con, "Hand")
        ad = catalog.get_stimulus(con, campaign, "Ad")
        catalog.set_segments(
            con, ad, [catalog.Segment("one", 0, 3), catalog.Segment("two", 2.5, 9.5)]
        )
    assert assert_reads_match(db) > 100
    assert_same_as_rebuilt(db, tmp_path)
    with connect(db) as con:  # local time: a campaign zone with summer time, a +5:45 camera
        zones.set_campaign_zone(con, campaign.campaign_id, "America/New_York")
        side = catalog.ensure_source(
            con, catalog.get_stimulus(con, campaign, "Window"), "footage", "side cam"
        )
        zones.set_source_zone(con, side.source_id, "Asia/Kathmandu")
    assert_reads_match(db, CROWDS_AFTER_A_CHANGE)
    assert_same_as_rebuilt(db, tmp_path)


def test_a_figure_over_fewer_people_than_the_crowd_is_withheld(tmp_path: Path) -> None:
    """Six people watch an ad together, five seen by a detector without head pose: every
    bucket has 6 people and is shown at a crowd of 5, but its looking, attention and watcher
    figures describe the one person with a pose, and are withheld (they were published),
    from the rollups and the face rows alike; at a crowd of 1 they are there."""
    db = tmp_path / "pose.duckdb"
    posed = Person(0, 4, dominant="neutral", looking=True, attention_s=3.0)
    stimulus = write_people(db, "Mix", "Ad", [Person(0, 4) for _ in range(5)] + [posed])
    one_person = ["share_looking", "people_looking", "mean_attention_s", "watchers", "attraction"]
    with connect(db, read_only=True) as con:
        campaign = catalog.get_campaign(con, "Mix").campaign_id
        for reader in (read, raw):
            series = reader.series(con, stimulus, 1.0, False, 5)
            summary = reader.stimulus_summary(con, campaign, 5)
            assert (series["people_shown"] == 6).all() and len(series) >= 4
            for table in (series, summary):
                assert table[one_person].isna().all().all(), reader.__name__
                assert table["mean_dwell_s"].notna().all()  # over all six
            alone = reader.stimulus_summary(con, campaign, 1).iloc[0]
            assert alone["share_looking"] == 1.0 and alone["mean_attention_s"] == 3.0
    assert_reads_match(db)


def test_a_view_s_valence_counts_each_person_once(tmp_path: Path) -> None:
    """One happy person stays 10 s, four sad ones glance for 1 s: over the people the ad is
    mostly sad, while a mean of its 1 s buckets (each weighed by its people) is happy, as
    the timeline's headline used to be; the view's figure is the stimulus's, any bucket."""
    db = tmp_path / "once.duckdb"
    glances = [Person(0, 1, dominant="sadness") for _ in range(4)]
    stimulus = write_people(db, "Once", "Ad", [Person(0, 10), *glances])
    with connect(db, read_only=True) as con:
        campaign = catalog.get_campaign(con, "Once").campaign_id
        for reader in (read, raw):
            view = reader.selection(con, stimulus, False, 1).iloc[0]
            whole = reader.stimulus_summary(con, campaign, 1).iloc[0]
            series = reader.series(con, stimulus, 1.0, False, 1)
            weights = series["people_shown"].astype(float)
            by_buckets = float((series["valence"] * weights).sum() / weights.sum())
            assert view["people_shown"] == 5 and view["valence"] < 0 < by_buckets
            assert view["valence"] == pytest.approx(whole["valence"])


@pytest.fixture()
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "demo.duckdb"
    build_demo(db)
    return db


def test_demo_reads_the_same_from_rollups_after_each_change(demo_db: Path, tmp_path: Path) -> None:
    """The demo (real pipeline rows): as loaded, after a segment edit, a delete and a purge."""
    assert assert_reads_match(demo_db) > 50
    assert_same_as_rebuilt(demo_db, tmp_path)
    with connect(demo_db) as con:
        campaign = catalog.get_campaign(con, DEMO_CAMPAIGN)
        ad = catalog.list_stimuli(con, campaign)[0]
        catalog.set_segments(con, ad, [catalog.Segment("all of it", 0.0, 20.0)])
        first_job = con.execute("SELECT min(job_id) FROM ingest_jobs").fetchone()[0]
        with transaction(con):
            from pipeline.store import jobs

            jobs.delete_job_rows(con, [int(first_job)])
        manage.delete_stimulus(con, DEMO_CAMPAIGN, catalog.list_stimuli(con, campaign)[1].name)
    assert_reads_match(demo_db, CROWDS_AFTER_A_CHANGE)
    assert_same_as_rebuilt(demo_db, tmp_path)
    with connect(demo_db) as con:
        removed = purge_older_than(con, 0)
        left = con.execute("SELECT count(*) FROM rollup_people").fetchone()[0]
    assert removed["jobs"] > 0 and left == 0
    assert_reads_match(demo_db, CROWDS_AFTER_A_CHANGE)


def test_force_reingest_and_cli_rebuild_keep_rollups_exact(
    writable_db: Path, ad_clip, tmp_path: Path
) -> None:
    """A real ingest, the same file again with ``--force``, then ``rollups --rebuild``."""
    assert_reads_match(writable_db)
    summary = ingest(
        "video",
        ad_clip.path,
        Target("Spring launch", "Spring ad", "ad", "lab-session-1", "footage", 12.0),
        AnalysisParams(),
        writable_db,
        force=True,
    )
    assert summary.status == "done"
    assert_reads_match(writable_db, CROWDS_AFTER_A_CHANGE)
    assert_same_as_rebuilt(writable_db, tmp_path)
    before = _tables(writable_db)
    result = run_cli("rollups", "--rebuild", "--db", str(writable_db))
    assert result.returncode == 0 and "rollup_people:" in result.stdout
    after = _tables(writable_db)
    for table in _TABLES:
        _same(after[table], before[table], table)


def test_verdicts_from_rollups_read_as_from_people(demo_db: Path) -> None:
    with connect(demo_db, read_only=True) as con:
        ids = con.execute("SELECT stimulus_id, name FROM stimuli WHERE kind = 'ad'").fetchall()
        ours = {name: read.stimulus_people(con, sid, 2) for sid, name in ids}
        theirs = {name: raw.stimulus_people(con, sid, 2) for sid, name in ids}
    a, b = verdict_table(verdicts(ours, 2)), verdict_table(verdicts(theirs, 2))
    assert a["verdict"].tolist() == b["verdict"].tolist()
    _same(a, b, "verdicts")


def test_an_upgraded_database_gets_its_rollups(tmp_path: Path) -> None:
    """A file from before migration 012 with face rows: the first connection rolls them up."""
    db = tmp_path / "old.duckdb"
    write_people(db, "Old", "Ad", [Person(0, 4) for _ in range(6)])
    with connect(db) as con:
        for table in _TABLES:
            con.execute(f"DROP TABLE {table}")
        con.execute("DROP TABLE rollup_state")
        con.execute("DELETE FROM schema_migrations WHERE number = 12")
    with connect(db, read_only=True) as con:
        summary = read.stimulus_summary(con, 1, 5)
        assert summary["people_shown"].tolist() == [6]
        assert not rollups.is_stale(con)
    assert_reads_match(db)
