"""The demo campaign a newcomer sees on first run.

``rebuild_demo`` runs the real pipeline (DeepFace + our model) over footage and snapshots
generated from FER+ validation faces and saves the resulting rows (numbers only, no pixels) to
``data/demo/*.parquet``, which are committed. ``build_demo`` loads those rows into a fresh
database, so the dashboard shows real pipeline output on machines without the dataset.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from pipeline.analysis import AnalysisParams
from pipeline.settings import PROJECT_ROOT
from pipeline.store.database import connect, default_db_path

DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_CAMPAIGN = "Demo: Spring launch"
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
    "emotion_series",
)
_ADS = {
    # name: (segments (start, end, segment name, planted expression), people per session)
    "Ad A: family picnic": (
        [
            (0, 5, "intro", "neutral"),
            (5, 12, "product shot", "happiness"),
            (12, 20, "offer", "happiness"),
        ],
        4,
    ),
    "Ad B: price shock": (
        [
            (0, 5, "intro", "neutral"),
            (5, 12, "price reveal", "surprise"),
            (12, 20, "small print", "sadness"),
        ],
        4,
    ),
}


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


def rebuild_demo(
    dataset_dir: Path | None = None, out_dir: Path = DEMO_DIR, seed: int = 2026
) -> str:
    """Generate demo media from FER+ faces, run the real pipeline, save the rows as Parquet."""
    from pipeline.emotion.ferplus import load_split
    from pipeline.ingest import Target, ingest
    from pipeline.store import catalog
    from pipeline.synthetic_footage import planted_clip, snapshot_folder

    valid = load_split("valid", dataset_dir)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "demo.duckdb"
        with connect(db) as con:
            campaign = catalog.create_campaign(
                con,
                DEMO_CAMPAIGN,
                "Generated demo: two ad creatives tested with viewers, and a "
                "window display watched by a camera for a week.",
            )
            for name, (segments, _) in _ADS.items():
                stimulus = catalog.create_stimulus(con, campaign, name, "ad", 20.0)
                catalog.set_segments(
                    con, stimulus, [catalog.Segment(n, s, e) for s, e, n, _ in segments]
                )
        for ad_index, (name, (segments, people)) in enumerate(_ADS.items()):
            for session in range(2):
                clip = planted_clip(
                    work / f"ad{ad_index}_{session}.mp4",
                    valid,
                    people,
                    [(float(s), float(e), label) for s, e, _, label in segments],
                    seed=seed + 10 * ad_index + session,
                )
                ingest(
                    "video",
                    clip.path,
                    Target(
                        DEMO_CAMPAIGN, name, "ad", f"viewing room {session + 1}", "footage", 20.0
                    ),
                    AnalysisParams(),
                    db,
                )
        # A week of snapshots, 9:00-18:40, one every 20 minutes: mornings calmer, evenings
        # happier, so the hour x weekday view has a pattern to show.
        start = dt.datetime(2026, 11, 2, 9, 0)
        for day in range(7):
            for label_set, hour0 in (
                (["neutral", "neutral", "happiness"], 9),
                (["happiness", "surprise", "happiness"], 14),
            ):
                folder = work / "window" / f"{day}_{hour0}"
                snapshot_folder(
                    folder,
                    valid,
                    start + dt.timedelta(days=day, hours=hour0 - 9),
                    count=15,
                    every=dt.timedelta(minutes=20),
                    labels=label_set,
                    seed=seed + day * 100 + hour0,
                    people=3,
                )
                ingest(
                    "images",
                    folder,
                    Target(DEMO_CAMPAIGN, "Window display", "display", "window camera", "camera"),
                    AnalysisParams(bucket_s=3600.0),
                    db,
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        with connect(db) as con:
            con.execute("UPDATE ingest_jobs SET input_path = ''")
            for table in DEMO_TABLES:
                con.table(table).write_parquet(str(out_dir / f"{table}.parquet"))
            faces = con.execute("SELECT count(*) FROM face_observations").fetchone()[0]  # type: ignore[index]
    return f"demo rebuilt: {faces} face rows written to {out_dir}"
