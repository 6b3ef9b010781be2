"""Clock time in each camera's zone: a chain with shops in Berlin and New York opens at 10:00
in both, on the series, the heatmap and the date filter, while the rows stay stored in UTC.

Real DuckDB files (hand-built face rows: detection is not what is tested here) and the real
CLI in a subprocess.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipeline.audience import clock
from pipeline.audience import read as audience
from pipeline.store import zones
from pipeline.store.database import connect
from tests.audience_rows import Person, write_people
from tests.cli import run_cli

# Monday 12 January 2026, 10:00 local: 09:00 UTC in Berlin (CET), 15:00 UTC in New York (EST).
OPENING_UTC = {
    "berlin-cam": dt.datetime(2026, 1, 12, 9, 0),
    "nyc-cam": dt.datetime(2026, 1, 12, 15),
}


@pytest.fixture()
def chain(tmp_path: Path) -> tuple[Path, int]:
    """Display "Window" with one camera per shop; six people in the first 10 minutes after
    opening at each, stored in UTC as every camera writes them."""
    db = tmp_path / "chain.duckdb"
    stimulus_id = 0
    for camera, opening in OPENING_UTC.items():
        people = [
            Person(0.0, 240.0, fps=0.5, start_time=opening + dt.timedelta(seconds=30 * i))
            for i in range(6)
        ]
        stimulus_id = write_people(db, "Chain", "Window", people, kind="display", source=camera)
    return db, stimulus_id


def _cli(db: Path, *args: str):
    return run_cli("time-zone", "Chain", *args, "--db", str(db))


def _first_hour(db: Path, stimulus_id: int, source_id: int | None) -> pd.Timestamp:
    with connect(db, read_only=True) as con:
        table = audience.series(con, stimulus_id, 3600.0, True, 5, source_id)
    shown = table[~table["suppressed"]]
    return pd.Timestamp(shown["bucket_ts"].min())


def test_a_chain_across_two_zones_opens_at_ten_in_each(chain: tuple[Path, int]) -> None:
    db, stimulus_id = chain
    with connect(db, read_only=True) as con:
        ids = {name: sid for sid, name, *_ in zones.source_settings(con, stimulus_id)}
    # Before any zone is set, everything is UTC: 09:00 and 15:00.
    assert _first_hour(db, stimulus_id, ids["berlin-cam"]).hour == 9
    assert _first_hour(db, stimulus_id, ids["nyc-cam"]).hour == 15

    done = _cli(db, "Europe/Berlin")  # campaign default
    assert done.returncode == 0, done.stderr
    done = _cli(db, "America/New_York", "--stimulus", "Window", "--camera", "nyc-cam")
    assert done.returncode == 0, done.stderr
    assert "'nyc-cam': America/New_York" in done.stdout
    assert "'berlin-cam': Europe/Berlin (campaign default)" in done.stdout

    for camera in OPENING_UTC:
        assert _first_hour(db, stimulus_id, ids[camera]) == pd.Timestamp(2026, 1, 12, 10)
    with connect(db, read_only=True) as con:
        pooled = audience.series(con, stimulus_id, 3600.0, True, 5)
        heat = audience.hour_weekday(con, stimulus_id, 5)
        stored = con.execute("SELECT min(ts), max(ts) FROM face_observations").fetchone()
        # The date filter is a local day: 12 January local holds both shops' morning.
        day = audience.series(
            con,
            stimulus_id,
            300.0,
            True,
            5,
            None,
            dt.datetime(2026, 1, 12),
            dt.datetime(2026, 1, 13),
        )
        label = clock.axis_title(zones.source_zones(con, stimulus_id).values())
    # Pooled: both shops land in the 10:00 bucket, twelve people.
    shown = pooled[~pooled["suppressed"]]
    assert list(shown["bucket_ts"]) == [pd.Timestamp(2026, 1, 12, 10)]
    assert int(shown["people"].iloc[0]) == 12
    assert list(zip(heat["weekday"], heat["hour"], strict=True)) == [(1, 10)]
    assert stored == (OPENING_UTC["berlin-cam"], OPENING_UTC["nyc-cam"] + dt.timedelta(seconds=388))
    assert int(day["people"].max()) == 12
    assert label == "Local time (America/New_York, Europe/Berlin)"


def test_default_clears_a_zone_and_unknown_zones_are_refused(chain: tuple[Path, int]) -> None:
    db, stimulus_id = chain
    assert _cli(db, "Asia/Tokyo").returncode == 0
    assert _cli(db, "default").returncode == 0
    with connect(db, read_only=True) as con:
        assert set(zones.source_zones(con, stimulus_id).values()) == {"UTC"}
    for bad in ("Mars/Olympus", "../etc/passwd", "Europe/Berlin;DROP"):
        done = _cli(db, bad)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "time zone" in done.stderr
    done = _cli(db, "UTC", "--stimulus", "Window")
    assert done.returncode == 2 and "--camera" in done.stderr


def test_zone_labels_say_which_clock_an_axis_uses() -> None:
    assert clock.axis_title([]) == "Time (UTC)"
    assert clock.axis_title(["Europe/Berlin", "Europe/Berlin"]) == "Time (Europe/Berlin)"
    stamp = clock.local_time(dt.datetime(2026, 7, 1, 8, 0), "Europe/Berlin")
    assert stamp == pd.Timestamp(2026, 7, 1, 10, 0)  # CEST: UTC+2 in summer
