"""The demo campaign a newcomer sees on first run.

``rebuild_demo`` runs the real pipeline (CenterFace, head pose, people tracking and our model)
over viewing sessions and window snapshots made of real photographs and FER+ validation faces
(pipeline/demo_footage.py) and saves the resulting rows (numbers only, no pixels) to
``data/demo/*.parquet``, which are committed. ``build_demo`` loads those rows into a fresh
database, so the dashboard shows real pipeline output on machines without the dataset.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.analysis import AnalysisParams
from pipeline.demo_footage import (
    SEATS,
    WINDOW_SEATS,
    Reaction,
    Viewer,
    fer_viewer,
    photo_viewer,
    real_photos,
    session_clip,
    snapshot,
)
from pipeline.settings import PROJECT_ROOT
from pipeline.store import rollups
from pipeline.store.database import connect, default_db_path

if TYPE_CHECKING:
    from pipeline.emotion.ferplus import FerplusSplit

DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_CAMPAIGN = "Demo: Spring launch"
# The real photographs the demo's people come from (see that folder's README).
REAL_PHOTOS_DIR = PROJECT_ROOT.parent / "shared" / "datasets" / "real-photos"
# Every table a demo needs, in load order (all rows of the demo database are demo rows).
DEMO_TABLES = (
    "campaigns",
    "stimuli",
    "segments",
    "sources",
    "ingest_jobs",
    "frames",
    "face_observations",
    "tracks",
)
# name: (segments (start, end, name), plan of one FER+ person's reaction). Every person draws
# their own onset, build-up and whether they react at all, so the audience curve is the sum
# of many different people, as in a real viewing room.
_Segments = list[tuple[float, float, str]]
_ADS: dict[str, tuple[_Segments, Callable[[np.random.Generator], Reaction]]] = {
    "Ad A: family picnic": (
        [(0, 5, "intro"), (5, 12, "product shot"), (12, 20, "offer")],
        lambda rng: (
            [(5 + rng.uniform(0.5, 4.0), "happiness")]
            + ([(13 + rng.uniform(0, 4), "neutral")] if rng.random() < 0.4 else [])
            if rng.random() < 0.8
            else []
        ),
    ),
    "Ad B: price shock": (
        [(0, 5, "intro"), (5, 12, "price reveal"), (12, 20, "small print")],
        lambda rng: _surprise_then(rng, 5 + rng.uniform(0.2, 2.5), "sadness", 0.5),
    ),
    "Ad C: new flavour": (
        [(0, 6, "teaser"), (6, 14, "tasting"), (14, 20, "logo")],
        lambda rng: (
            [(6 + rng.uniform(1, 6), "happiness")]
            if rng.random() < 0.45
            else _surprise_then(rng, 7 + rng.uniform(0, 4), "neutral", 1.0)
            if rng.random() < 0.3
            else []
        ),
    ),
}
_AD_SECONDS = 20.0
_SESSIONS = 3  # viewing rooms per ad
_VIEWERS = 5  # people per session, of whom _PHOTO_VIEWERS are real photographs
_PHOTO_VIEWERS = 2


def _surprise_then(
    rng: np.random.Generator, onset: float, after: str, share_after: float
) -> Reaction:
    """A brief surprise (most people), fading to neutral, then ``after`` for some."""
    if rng.random() >= 0.75:
        return []
    reaction = [(onset, "surprise"), (onset + rng.uniform(2.0, 4.5), "neutral")]
    if rng.random() < share_after:
        reaction.append((12 + rng.uniform(0, 4), after))
    return reaction


def build_demo(db_path: Path | None = None, if_missing: bool = False) -> str:
    """Load the committed demo rows into the database (only into an empty one)."""
    path = db_path or default_db_path()
    missing = [t for t in DEMO_TABLES if not (DEMO_DIR / f"{t}.parquet").is_file()]
    if missing:
        from pipeline.errors import InputError

        raise InputError(
            "Demo data missing",
            f"{DEMO_DIR} lacks {', '.join(missing)}.parquet; run `python -m pipeline demo "
            "--rebuild` where the FER+ data is available.",
        )
    with connect(path) as con:
        has_data = con.execute("SELECT count(*) FROM campaigns").fetchone()[0]  # type: ignore[index]
        if has_data:
            if if_missing:
                return f"{path} already has data; demo not loaded"
            raise_existing(path)
        con.execute("BEGIN TRANSACTION")
        for table in DEMO_TABLES:
            source = DEMO_DIR / f"{table}.parquet"
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [str(source)])
        for sequence, table, column in (
            ("campaign_ids", "campaigns", "campaign_id"),
            ("stimulus_ids", "stimuli", "stimulus_id"),
            ("source_ids", "sources", "source_id"),
            ("job_ids", "ingest_jobs", "job_id"),
        ):
            _advance_sequence(con, sequence, table, column)
        rollups.add_jobs(con, None)
        con.execute("COMMIT")
        faces = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
    return f"loaded demo campaign {DEMO_CAMPAIGN!r} ({faces} faces) into {path}"


def raise_existing(path: Path) -> None:
    from pipeline.errors import InputError

    raise InputError(
        "Database not empty",
        f"{path} already holds campaigns; the demo is only loaded into an empty database.",
    )


def _advance_sequence(con, sequence: str, table: str, column: str) -> None:
    """Move a sequence past the loaded ids so that new rows never collide with demo rows."""
    top = con.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]
    current = con.execute(f"SELECT nextval('{sequence}')").fetchone()[0]
    for _ in range(max(0, int(top) - int(current) + 1)):
        con.execute(f"SELECT nextval('{sequence}')")


def _presence(rng: np.random.Generator) -> tuple[float, float]:
    """When a person arrives and leaves: most sit through, some come late or leave early."""
    enter = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 2.0))
    if rng.random() < 0.2:
        enter = float(rng.uniform(3.0, 9.0))
    leave = _AD_SECONDS + 5 if rng.random() < 0.8 else float(rng.uniform(11.0, 18.0))
    return enter, leave


def _session(
    split: FerplusSplit,
    photos: list[np.ndarray],
    plan: Callable[[np.random.Generator], Reaction],
    rng: np.random.Generator,
) -> list[Viewer]:
    seats = rng.permutation(SEATS)[:_VIEWERS]
    viewers = []
    for i, seat in enumerate(seats):
        enter, leave = _presence(rng)
        if i < _PHOTO_VIEWERS:
            viewers.append(photo_viewer(photos.pop(), int(seat), enter, leave, rng))
        else:
            viewers.append(fer_viewer(split, int(seat), enter, leave, plan(rng), rng))
    return viewers


def _passers_by(
    split: FerplusSplit, photos: list[np.ndarray], when: dt.datetime, rng: np.random.Generator
) -> list[Viewer]:
    """People in front of the window at ``when``: a few in the morning, crowds at lunch and
    after work, more on Saturday, happier in the evening and at the weekend. How many stand
    there is drawn (Poisson) around that rate for every snapshot, so hours differ day to day."""
    hour = when.hour + when.minute / 60
    lunch = 4.0 * np.exp(-((hour - 12.5) ** 2) / 2)
    evening = 6.0 * np.exp(-((hour - 17.5) ** 2) / 2.5)
    busy = (2.5 + lunch + evening) * (1.4 if when.weekday() == 5 else 1.0)
    count = int(min(WINDOW_SEATS, rng.poisson(busy)))
    happy = 0.15 + 0.03 * (hour - 9) + (0.15 if when.weekday() >= 5 else 0.0)
    viewers = []
    for seat in rng.permutation(WINDOW_SEATS)[:count]:
        if photos and rng.random() < 0.3:
            viewers.append(
                photo_viewer(photos[int(rng.integers(len(photos)))], int(seat), 0, 1, rng)
            )
            continue
        label = str(rng.choice(["happiness", "surprise", "neutral"], p=[happy, 0.1, 0.9 - happy]))
        viewers.append(fer_viewer(split, int(seat), 0, 1, [(-5.0, label)], rng))
    return viewers


def rebuild_demo(
    dataset_dir: Path | None = None,
    out_dir: Path = DEMO_DIR,
    seed: int = 2026,
    photos_dir: Path = REAL_PHOTOS_DIR,
) -> str:
    """Make demo footage of real and FER+ faces, run the real pipeline, save rows as Parquet."""
    from tqdm import tqdm

    from pipeline.emotion.ferplus import load_split
    from pipeline.ingest import Target, ingest
    from pipeline.store import catalog

    valid = load_split("valid", dataset_dir)
    photos = real_photos(photos_dir)
    rng = np.random.default_rng(seed)
    rng.shuffle(photos)  # type: ignore[arg-type]
    display_photos = photos[_SESSIONS * len(_ADS) * _PHOTO_VIEWERS :]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "demo.duckdb"
        with connect(db) as con:
            campaign = catalog.create_campaign(
                con,
                DEMO_CAMPAIGN,
                "Generated demo: three ad creatives, each watched by three small viewing "
                "rooms, and a shop window watched by a camera for a week.",
            )
            for name, (segments, _) in _ADS.items():
                stimulus = catalog.create_stimulus(con, campaign, name, "ad", _AD_SECONDS)
                catalog.set_segments(
                    con, stimulus, [catalog.Segment(n, s, e) for s, e, n in segments]
                )
        sessions = [(name, room) for name in _ADS for room in range(_SESSIONS)]
        for name, room in tqdm(sessions, desc="viewing sessions", unit="session"):
            viewers = _session(valid, photos, _ADS[name][1], rng)
            clip = session_clip(
                work / f"{len(list(work.glob('*.mp4')))}.mp4", viewers, _AD_SECONDS, rng
            )
            ingest(
                "video",
                clip,
                Target(
                    DEMO_CAMPAIGN, name, "ad", f"viewing room {room + 1}", "footage", _AD_SECONDS
                ),
                AnalysisParams(),
                db,
            )
        # A week of window snapshots, 9:00-18:40, one every 20 minutes; closed at night.
        start = dt.datetime(2026, 11, 2, 9, 0)
        for day in tqdm(range(7), desc="window camera days", unit="day"):
            folder = work / "window" / str(day)
            folder.mkdir(parents=True)
            for k in range(30):
                when = start + dt.timedelta(days=day, minutes=20 * k)
                snapshot(folder, _passers_by(valid, display_photos, when, rng), rng, when)
            ingest(
                "images",
                folder,
                Target(DEMO_CAMPAIGN, "Window display", "display", "window camera", "camera"),
                AnalysisParams(),
                db,
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        with connect(db) as con:
            con.execute("UPDATE ingest_jobs SET input_path = ''")
            for table in DEMO_TABLES:
                con.table(table).write_parquet(str(out_dir / f"{table}.parquet"))
            faces = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
    return f"demo rebuilt: {faces} face rows written to {out_dir}"
