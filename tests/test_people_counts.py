"""Every view counts the same people, and a snapshot camera's faces are never counted as people.

A snapshot camera cannot follow a person from one snapshot to the next, so its people are the
most faces in any one snapshot (README "People statistics"). The summary table, the campaign's
key numbers, the A/B verdicts (Compare page, verdict CSV) and the reports read the demo's real
DuckDB file here; before this test the verdicts and "People in the figures" said 23 people for
a window whose summary said 6 (they counted the faces of its shown snapshots).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from pipeline.audience import raw, read
from pipeline.audience.intervals import t_quantile
from pipeline.demo import DEMO_CAMPAIGN, build_demo
from pipeline.exports import verdict_export
from pipeline.reports.build import collect_report
from pipeline.store.database import connect


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("people") / "demo.duckdb"
    build_demo(db)
    return db


def _most_in_one_snapshot(con, stimulus_id: int) -> int:
    """Counted from the face rows themselves, not through the audience code."""
    return int(
        con.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM face_observations "
            "WHERE stimulus_id = ? GROUP BY source_id, ts)",
            [stimulus_id],
        ).fetchone()[0]
    )


def test_window_people_are_its_most_faces_in_one_snapshot_in_every_view(demo_db: Path) -> None:
    with connect(demo_db, read_only=True) as con:
        campaign = int(con.execute("SELECT campaign_id FROM campaigns").fetchone()[0])
        crowd = read.campaign_min_crowd(con, campaign)
        summary = read.stimulus_summary(con, campaign, crowd).set_index("name")
        kpis = read.campaign_kpis(con, campaign, crowd)
        verdicts = verdict_export(con, DEMO_CAMPAIGN, crowd)
        report = collect_report(con, DEMO_CAMPAIGN, None, None, crowd)
        window = int(summary.loc["Window display", "stimulus_id"])
        most = _most_in_one_snapshot(con, window)
        faces = int(summary.loc["Window display", "faces"])

    assert faces > 10 * most  # many snapshots: faces are far more than people
    assert summary.loc["Window display", "people"] == most
    assert summary.loc["Window display", "people_shown"] == most  # its biggest snapshot passes
    for name, row in summary.iterrows():
        assert row["people_shown"] <= row["people"], name
    # The verdicts count the people the summary shows, never more.
    for side in ("a", "b"):
        pairs = zip(verdicts[f"stimulus_{side}"], verdicts[f"people_{side}"], strict=True)
        for name, people in pairs:
            assert people <= summary.loc[name, "people_shown"], (name, people)
    with_window = verdicts[verdicts["stimulus_b"] == "Window display"]
    assert len(with_window) and (with_window["people_b"] == most).any()
    # Key numbers: the campaign's people are its stimuli's, and no count exceeds them.
    assert kpis["people"] == summary["people"].sum()
    assert kpis["people_shown"] == summary["people_shown"].sum()
    assert pd.isna(kpis["people_looking"])  # the window's looking faces are not people
    assert report.overview.people == kpis["people"]
    reported = report.verdicts
    assert reported[["people_a", "people_b"]].equals(verdicts[["people_a", "people_b"]])


def test_window_valence_band_is_over_its_people_not_its_faces(demo_db: Path) -> None:
    """The summary's band, like the verdicts, spreads the faces' values over the people."""
    with connect(demo_db, read_only=True) as con:
        summary = read.stimulus_summary(con, 1, 5).set_index("name")
        window = int(summary.loc["Window display", "stimulus_id"])
        faces = raw.stimulus_people(con, window, 5)  # one row per shown face
    row = summary.loc["Window display"]
    people = int(row["people_shown"])
    assert len(faces) > 5 * people
    half = t_quantile(people - 1) * faces["valence"].std(ddof=1) / math.sqrt(people)
    assert row["valence"] == pytest.approx(faces["valence"].mean())
    assert row["valence_high"] - row["valence"] == pytest.approx(half)
    assert row["valence"] - row["valence_low"] == pytest.approx(half)


def test_window_buckets_count_people_not_faces(demo_db: Path) -> None:
    with connect(demo_db, read_only=True) as con:
        window = int(
            con.execute("SELECT stimulus_id FROM stimuli WHERE kind = 'display'").fetchone()[0]
        )
        hourly = read.series(con, window, 3600.0, True, 5)
        heatmap = read.hour_weekday(con, window, 5)
    assert len(hourly) and (hourly["faces"] > hourly["people"]).any()
    assert (hourly["people_shown"] <= hourly["people"]).all()
    assert hourly["people_looking"].isna().all()
    assert (heatmap["people_shown"] <= heatmap["people"]).all()
