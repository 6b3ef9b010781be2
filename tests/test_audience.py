"""People statistics on real DuckDB files with hand-built audiences (aggregation only).

The person is the unit: one person filmed at 5 frames/s is withheld at every bucket size, a
withheld cell cannot be recovered by differencing other views, intervals are over people,
and A/B verdicts name a winner only when the difference is clear.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.audience import raw, read
from pipeline.audience.crowd import resolve_min_crowd
from pipeline.audience.grid import check_bucket
from pipeline.audience.intervals import TOO_FEW_PEOPLE, mean_interval
from pipeline.audience.metrics import summarise
from pipeline.audience.verdicts import METRICS, compare, verdicts
from pipeline.emotion.labels import LABELS
from pipeline.errors import InputError
from pipeline.store import people as store_people
from pipeline.store import rollups
from pipeline.store.database import connect
from tests.audience_rows import Person, write_people

FIGURE_PREFIXES = ("mean_", "share_", "watcher_share_", "valence", "expressiveness")
OFFSET_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def _figures(table: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in table.columns if c.startswith(FIGURE_PREFIXES)]
    return table[columns].astype(float)


def test_one_person_at_5_fps_is_withheld_at_every_bucket_size(tmp_path: Path) -> None:
    db = tmp_path / "one.duckdb"
    stimulus = write_people(db, "Solo", "Ad", [Person(0.0, 20.0, fps=5.0)])
    with connect(db, read_only=True) as con:
        for bucket in OFFSET_BUCKETS:
            table = read.series(con, stimulus, bucket, False, 5)
            assert table["suppressed"].all() and (table["people"] == 1).all()
            assert _figures(table).isna().all().all()
            assert table["faces"].sum() == 100
        summary = read.stimulus_summary(con, 1, 5)
        kpis = read.campaign_kpis(con, 1, 5)
    assert summary["suppressed"].all() and summary["valence"].isna().all()
    assert kpis["people"] == 1 and kpis["suppressed"]
    assert math.isnan(kpis["valence"]) and math.isnan(kpis["share_happiness"])


def test_one_person_gets_no_band_even_when_shown(tmp_path: Path) -> None:
    db = tmp_path / "one.duckdb"
    stimulus = write_people(db, "Solo", "Ad", [Person(0.0, 20.0, fps=5.0)])
    with connect(db, read_only=True) as con:
        table = read.series(con, stimulus, 1.0, False, 1)
    assert not table["suppressed"].any() and (table["valence"] == 1.0).all()
    assert table["valence_low"].isna().all() and table["valence_high"].isna().all()
    estimate = mean_interval([1.0])
    assert not estimate.has_band and TOO_FEW_PEOPLE == "too few people"


def _crowd_with_and_without_loner(tmp_path: Path, loner: bool) -> Path:
    db = tmp_path / f"crowd_{loner}.duckdb"
    rng = np.random.default_rng(1)
    crowd = [
        Person(0.0, 10.0, dominant=str(rng.choice(["happiness", "neutral", "sadness"])))
        for _ in range(6)
    ]
    if loner:
        # Alone from 10 s to 13 s with an extreme expression: every cell of his is withheld.
        crowd.append(Person(10.0, 3.0, dominant="anger"))
    write_people(db, "Diff", "Ad", crowd)
    # A display with two cameras: camera A sees 6 people at 10:00 and 6 others at 10:05;
    # camera B sees one person at 10:00.
    start = dt.datetime(2026, 3, 14, 10, 0)
    later = start + dt.timedelta(minutes=5)
    window = [Person(0, 120, start_time=start) for _ in range(6)]
    window += [Person(0, 120, dominant="neutral", start_time=later) for _ in range(6)]
    write_people(db, "Diff", "Window", window, "display", "cam A", "footage")
    if loner:
        alone = [Person(0, 60, dominant="anger", start_time=start)]
        write_people(db, "Diff", "Window", alone, "display", "cam B", "footage")
    return db


def _views(db: Path) -> dict[str, pd.DataFrame]:
    """Every view of the ad (one source): bucket sizes, summary; camera A's own views."""
    views = {}
    with connect(db, read_only=True) as con:
        for bucket in OFFSET_BUCKETS:
            views[f"ad {bucket}"] = read.series(con, 1, bucket, False, 5)
        views["summary"] = read.stimulus_summary(con, 1, 5).query("name == 'Ad'")
        cam_a = int(con.execute("SELECT source_id FROM sources WHERE name = 'cam A'").fetchone()[0])
        for bucket in (300.0, 900.0, 3600.0, 86400.0):
            views[f"cam A {bucket}"] = read.series(con, 2, bucket, True, 5, cam_a)
            views[f"pooled {bucket}"] = read.series(con, 2, bucket, True, 5)
        day = dt.datetime(2026, 3, 14)
        views["cam A dated"] = read.series(
            con, 2, 3600.0, True, 5, cam_a, day, day + dt.timedelta(days=1)
        )
        views["cam A hour x weekday"] = read.hour_weekday(con, 2, 5, cam_a)
    return views


def test_differencing_recovers_nothing_of_a_withheld_person(tmp_path: Path) -> None:
    """A person only ever in withheld cells changes no figure of any bucket size or camera
    view; and where a small camera's person is pooled into a crowd, no other camera's part of
    that cell is shown on its own, so "all cameras minus camera A" isolates nobody."""
    without = _views(_crowd_with_and_without_loner(tmp_path, loner=False))
    with_loner = _views(_crowd_with_and_without_loner(tmp_path, loner=True))
    ten = pd.Timestamp("2026-03-14 10:00")
    for name, table in with_loner.items():
        if name.startswith(("pooled", "cam A")):
            continue  # checked below: camera A loses its 10:00 cell when camera B is small
        base = without[name]
        keys = ("bucket_offset_s", "bucket_ts", "weekday", "hour", "stimulus_id")
        key = [c for c in keys if c in table and (c != "stimulus_id" or "bucket_s" not in table)]
        shown = table[~table["suppressed"]]
        merged = shown.merge(base, on=key, how="left", suffixes=("", "_without"))
        for column in _figures(shown).columns:
            pd.testing.assert_series_equal(
                merged[column].astype(float),
                merged[f"{column}_without"].astype(float),
                check_names=False,
                obj=f"{name}: {column}",
            )
    # The ad's loner is counted (so gaps are explained) but his expression never shows.
    assert with_loner["ad 1.0"]["people"].max() == 6
    assert with_loner["ad 1.0"].query("bucket_offset_s >= 10")["suppressed"].all()
    assert with_loner["summary"]["people"].iloc[0] == 7
    assert with_loner["summary"]["share_anger"].iloc[0] == 0.0
    # Camera B's loner is inside a crowd of 7 in the pooled 10:00 cell ...
    pooled = with_loner["pooled 300.0"].set_index("bucket_ts")
    assert pooled.loc[ten, "people_shown"] == 7 and not pooled.loc[ten, "suppressed"]
    # ... so camera A's own 10:00 cell is withheld (it was shown without the loner), and every
    # camera-A figure of any bucket size comes from its 10:05 cell only: identical to the
    # figures of camera A's 10:05 cell, never a subtraction away from camera B's person.
    cam_a = with_loner["cam A 300.0"].set_index("bucket_ts")
    assert cam_a.loc[ten, "suppressed"]
    assert not without["cam A 300.0"].set_index("bucket_ts").loc[ten, "suppressed"]
    alone = cam_a.loc[ten + pd.Timedelta(minutes=5)]
    for name in ("cam A 900.0", "cam A 3600.0", "cam A 86400.0", "cam A dated"):
        view = with_loner[name]
        shown = view[~view["suppressed"]].iloc[0]
        assert shown["people_shown"] == 6
        assert shown["valence"] == alone["valence"]
        assert shown["share_neutral"] == alone["share_neutral"] == 1.0
    hours = with_loner["cam A hour x weekday"]
    assert hours["people_shown"].tolist() == [6] and hours["valence"].tolist() == [0.0]


def _files_in_one_source(db: Path, files: list[list[Person]]) -> list[int]:
    """Write each list of people as one ingest job (one file, a track per person) of one
    source, as a CLI ingest of several videos into one source stores them; their job ids."""
    write_people(db, "Files", "Ad", [person for people in files for person in people])
    with connect(db) as con:
        jobs = [
            row[0] for row in con.execute("SELECT job_id FROM ingest_jobs ORDER BY 1").fetchall()
        ]
        firsts, at = [], 0
        for people in files:
            group = jobs[at : at + len(people)]
            con.execute(
                "UPDATE face_observations SET track_id = job_id, job_id = ? "
                "WHERE job_id IN (SELECT unnest(?))",
                [group[0], group],
            )
            firsts.append(group[0])
            at += len(people)
    return firsts


def test_one_file_of_a_shared_source_is_shown_only_where_every_file_is_a_crowd(
    tmp_path: Path,
) -> None:
    """An API operation whose video was already stored answers with that file's people even
    where its source holds other files (read.job_series): the file's part of a cell is shown
    only where every file there is a crowd of its own, so "the source minus this file"
    isolates nobody; where shown, its figures are those of the file stored alone."""
    smiling = [Person(0.0, 4.0) for _ in range(6)]
    angry = [Person(0.0, 2.0, dominant="anger") for _ in range(6)]
    late = [Person(2.0, 2.0, dominant="anger")]  # alone in the other file from 2 s on
    shared = tmp_path / "shared.duckdb"
    first, _ = _files_in_one_source(shared, [smiling, angry + late])
    alone = tmp_path / "alone.duckdb"
    _files_in_one_source(alone, [smiling])
    with connect(shared, read_only=True) as con:
        own = read.job_series(con, 1, first, 1.0, 5).set_index("bucket_offset_s")
        source = raw.series(con, 1, 1.0, False, 5, source_id=1).set_index("bucket_offset_s")
    with connect(alone, read_only=True) as con:
        expected = raw.series(con, 1, 1.0, False, 5).set_index("bucket_offset_s")
    assert own.index.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert own["people"].tolist() == [6, 6, 6, 6]
    assert not own.loc[[0.0, 1.0], "suppressed"].any()
    assert own.loc[[2.0, 3.0], "suppressed"].all(), "a subtraction away from the lone viewer"
    assert not source.loc[[2.0, 3.0], "suppressed"].any()  # 7 people in the source's cells
    assert source.loc[0.0, "share_anger"] == 0.5  # the source's series mixes both files
    shown = own.loc[[0.0, 1.0]]
    pd.testing.assert_frame_equal(_figures(shown), _figures(expected.loc[[0.0, 1.0]]))
    assert (shown["share_happiness"] == 1.0).all()


def test_frame_level_figures_would_have_leaked_the_loner(tmp_path: Path) -> None:
    """The old rule (faces per bucket) shows the loner's 15 frames as a crowd: the attack
    this module prevents is real."""
    db = _crowd_with_and_without_loner(tmp_path, loner=True)
    with connect(db, read_only=True) as con:
        rows = store_people.person_cells(con, 1, 1.0, False)
    lone = rows[rows["cell"] >= 10.0]
    assert (lone.groupby("cell")["frames"].sum() >= 5).all()
    assert (lone["n_anger"] == lone["frames"]).all()


def _simulated_audience(rng: np.random.Generator, people: int, frames: int) -> pd.DataFrame:
    """One row per person: ``frames`` face rows drawn from that person's own tendencies."""
    happy = rng.beta(2, 3, people) * 0.6
    sad = rng.beta(1, 4, people) * 0.4
    draws = rng.random((people, frames))
    n_happy = (draws < happy[:, None]).sum(axis=1)
    n_sad = ((draws >= happy[:, None]) & (draws < (happy + sad)[:, None])).sum(axis=1)
    rows = pd.DataFrame(
        {
            "source_id": 1,
            "cell": 0.0,
            "job_id": np.arange(people),
            "track_id": 1,
            "frames": frames,
            "sum_valence": n_happy - n_sad,
            "posed_frames": 0,
            "looking_frames": 0,
            "max_faces_in_frame": people,
            "dwell_s": frames / 5.0,
            "attention_s": np.nan,
            "snapshot": False,
            "published": True,
        }
    )
    for n in LABELS:
        counts = n_happy if n == "happiness" else n_sad if n == "sadness" else 0
        if n == "neutral":
            counts = frames - n_happy - n_sad
        rows[f"n_{n}"] = counts
        rows[f"sum_{n}"] = rows[f"n_{n}"].astype(float)
    return rows


def test_band_over_people_covers_the_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    true_mean = 0.6 * 2 / 5 - 0.4 * 1 / 5  # E[happy] - E[sad]
    covered = frame_level_covered = 0
    for _ in range(200):
        rows = _simulated_audience(rng, people=25, frames=100)
        row = summarise(rows, ["cell"], 5).iloc[0]
        covered += row["valence_low"] <= true_mean <= row["valence_high"]
        # Today's frame-level band: every face row an independent observation.
        points = np.concatenate(
            [
                np.r_[np.ones(h), -np.ones(s), np.zeros(100 - h - s)]
                for h, s in zip(rows["n_happiness"], rows["n_sadness"], strict=True)
            ]
        )
        half = 1.96 * points.std(ddof=1) / math.sqrt(len(points))
        frame_level_covered += abs(points.mean() - true_mean) <= half
    assert 0.90 <= covered / 200 <= 0.98
    assert frame_level_covered / 200 < 0.80


def test_verdict_names_a_winner_only_for_a_clear_difference(tmp_path: Path) -> None:
    db = tmp_path / "ab.duckdb"
    mix = ["happiness"] * 8 + ["neutral"] * 4
    flat = ["happiness"] * 2 + ["neutral"] * 10
    even = ["happiness"] * 6 + ["neutral"] * 6
    for name, moods in (("Ad A", mix), ("Ad B", flat), ("Ad C", even), ("Ad D", even)):
        write_people(db, "AB", name, [Person(0, 6, dominant=m) for m in moods])
    with connect(db, read_only=True) as con:
        people = {n: read.stimulus_people(con, i, 5) for i, n in enumerate("ABCD", 1)}
        raw_a = raw.stimulus_people(con, 1, 5)  # one row per person: three of them
    valence = METRICS[0]
    clear = compare(valence, "Ad A", people["A"], "Ad B", people["B"], 5)
    assert clear.winner == "Ad A"
    assert clear.text.startswith("Ad A: more positive than Ad B, +0.50 [")
    assert clear.text.endswith("12 vs 12 viewers")
    assert clear.difference.low > 0 and clear.difference.low < 0.5 < clear.difference.high
    flipped = compare(valence, "Ad B", people["B"], "Ad A", people["A"], 5)
    assert flipped.winner == "Ad A" and flipped.text.startswith("Ad A: more positive than Ad B")
    # The winner comes first in the row too, so its difference reads as the sentence does.
    assert (flipped.a, flipped.b) == ("Ad A", "Ad B")
    assert flipped.difference.value == pytest.approx(clear.difference.value)
    assert flipped.difference.low == pytest.approx(clear.difference.low)
    none = compare(valence, "Ad C", people["C"], "Ad D", people["D"], 5)
    assert none.winner == "" and "no clear difference in valence index, +0.00" in none.text
    few = compare(valence, "Ad A", raw_a.head(3), "Ad B", people["B"], 5)
    assert few.winner == "" and "too few people" in few.text
    looking = compare(METRICS[3], "Ad A", people["A"], "Ad B", people["B"], 5)
    assert "not available" in looking.text and looking.winner == ""
    assert len(verdicts({"A": people["A"], "B": people["B"], "C": people["C"]}, 5)) == 3 * 6


def test_watchers_attention_and_attraction_from_pose(tmp_path: Path) -> None:
    db = tmp_path / "look.duckdb"
    crowd = [Person(0, 10, looking=True, attention_s=4.0) for _ in range(4)]
    crowd += [Person(0, 10, looking=False, attention_s=0.0) for _ in range(2)]
    crowd += [Person(0, 10, looking=True, attention_s=0.5, dominant="neutral")]
    write_people(db, "Look", "Ad", crowd)
    write_people(db, "Look", "Haar ad", [Person(0, 10) for _ in range(6)])
    with connect(db, read_only=True) as con:
        summary = read.stimulus_summary(con, 1, 5).set_index("name")
        buckets = read.series(con, 1, 1.0, False, 5)
    looked = summary.loc["Ad"]
    assert looked["passers_by"] == 7 and looked["watchers"] == 4
    assert looked["mean_attention_s"] == pytest.approx(16.5 / 7)
    assert looked["attraction"] == pytest.approx(16.5 / 70)
    assert looked["people_looking"] == 5 and looked["share_looking"] == pytest.approx(5 / 7)
    assert math.isnan(looked["watcher_share_happiness"])  # 4 watchers < minimum crowd 5
    assert np.allclose(buckets["share_looking"], 5 / 7)
    unknown = summary.loc["Haar ad"]  # no pose: looking figures empty, never guessed
    assert unknown["passers_by"] == 6 and math.isnan(unknown["watchers"])
    for column in ("share_looking", "mean_attention_s", "attraction", "people_looking"):
        assert math.isnan(unknown[column])


def test_snapshot_people_are_the_most_faces_in_one_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "snap.duckdb"
    start = dt.datetime(2026, 3, 14, 9, 0)
    # Three snapshots, one minute apart, of 5, 5 and 2 faces: each face its own track.
    people = [
        Person(60.0 * k, 0.2, start_time=start) for k, faces in enumerate((5, 5, 2))
        for _ in range(faces)
    ]  # fmt: skip
    write_people(db, "Snap", "Window", people, "display", "cam", "camera")
    with connect(db) as con:
        # One snapshot holds all faces taken at the same minute.
        con.execute("UPDATE face_observations SET frame_index = CAST(offset_s AS INTEGER)")
        con.execute("UPDATE face_observations SET job_id = 1")
        con.execute("UPDATE tracks SET dwell_s = NULL")
        rollups.rebuild(con)  # rows edited in place: roll them up again
        table = read.series(con, 1, 300.0, True, 5)
        summary = read.stimulus_summary(con, 1, 5).iloc[0]
    assert table["people"].tolist() == [5] and not table["suppressed"].any()
    assert math.isnan(summary["passers_by"]) and math.isnan(summary["mean_dwell_s"])


def test_minimum_crowd_can_only_be_raised_unless_consented() -> None:
    assert resolve_min_crowd(None, 5, consented=False) == 5
    assert resolve_min_crowd(8, 5, consented=False) == 8
    with pytest.raises(InputError, match="below the configured minimum of 5"):
        resolve_min_crowd(1, 5, consented=False)
    assert resolve_min_crowd(None, 5, consented=True) == 1
    with pytest.raises(InputError, match="multiple of the base cell"):
        check_bucket(0.3, by_clock=False)
    assert check_bucket(1200.0, by_clock=True) == 1200.0


def test_a_campaign_without_faces_has_every_column_and_no_figures(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    from pipeline.store import catalog

    with connect(db) as con:
        campaign = catalog.create_campaign(con, "Empty")
        catalog.create_stimulus(con, campaign, "Ad", "ad", 10.0)
        summary = read.stimulus_summary(con, campaign.campaign_id, 5)
        kpis = read.campaign_kpis(con, campaign.campaign_id, 5)
    assert list(summary["faces"]) == [0] and summary["valence"].isna().all()
    assert not summary["suppressed"].any() and kpis["people"] == 0


def test_verdicts_flag_rows_made_by_different_model_versions(tmp_path: Path) -> None:
    from pipeline.audience.verdicts import version_note

    db = tmp_path / "versions.duckdb"
    write_people(db, "V", "Ad A", [Person(0, 6) for _ in range(6)], model_version="2026.1")
    write_people(db, "V", "Ad B", [Person(0, 6) for _ in range(6)], model_version="2026.2")
    write_people(db, "V", "Ad C", [Person(0, 6) for _ in range(6)], model_version="2026.2")
    with connect(db, read_only=True) as con:
        people = {n: read.stimulus_people(con, i, 5) for i, n in enumerate("ABC", 1)}
    note = version_note(people)
    assert "different detector or model versions" in note
    assert "model 2026.1" in note and "model 2026.2" in note
    assert version_note({"B": people["B"], "C": people["C"]}) == ""


def test_a_segments_peak_is_the_earliest_of_valences_that_tie_in_their_last_bits() -> None:
    """The curve read from rollups and from face rows sums in another order, so equal
    valences can differ by an ulp: both paths must name the same second (the earliest)."""
    segments = pd.DataFrame({"name": ["small print"], "start_s": [12.0], "end_s": [20.0]})
    one_ulp = np.nextafter(1 / 15, 1.0)
    curve = pd.DataFrame(
        {
            "bucket_offset_s": [11.0, 13.0, 12.0, 14.0, 15.0],
            "valence": [0.9, one_ulp, 1 / 15, 0.05, 0.5],
            "suppressed": [False, False, False, False, True],
        }
    )
    out = raw.with_peaks(segments[["name"]].copy(), segments, curve)
    assert out["peak_s"].tolist() == [12.0]
    # A real difference is no tie, and a suppressed bucket is never the peak.
    curve.loc[curve["bucket_offset_s"] == 13.0, "valence"] = 0.07
    assert raw.with_peaks(segments[["name"]].copy(), segments, curve)["peak_s"].tolist() == [13.0]
