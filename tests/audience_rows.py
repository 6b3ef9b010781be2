"""Hand-built audiences written into a real DuckDB file (aggregation tests only).

Each person is one track of its own ingest job (as one respondent per file would be): face
rows at ``fps`` with chosen dominant expressions and scores, optional looking values and
track attention. Detection and scoring are not exercised here; tests on real footage are
in test_audience_footage.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.emotion.labels import LABELS
from pipeline.store import catalog, rollups
from pipeline.store.database import connect


@dataclass
class Person:
    start_s: float
    seconds: float
    dominant: str = "happiness"
    fps: float = 5.0
    looking: bool | None = None
    attention_s: float | None = None
    start_time: dt.datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _scores(dominant: str) -> dict[str, float]:
    scores = dict.fromkeys(LABELS, 0.02)
    scores[dominant] = 1.0 - 0.02 * (len(LABELS) - 1)
    return scores


def write_people(
    db: Path,
    campaign: str,
    stimulus: str,
    people: list[Person],
    kind: str = "ad",
    source: str = "lab",
    source_kind: str = "footage",
    model_version: str = "test-1",
) -> int:
    """Add ``people`` to ``stimulus`` (created if new), each as its own job. Returns its id."""
    with connect(db) as con:
        found = [c for c in catalog.list_campaigns(con) if c.name == campaign]
        camp = found[0] if found else catalog.create_campaign(con, campaign)
        stim = catalog.ensure_stimulus(con, camp, stimulus, kind)
        src = catalog.ensure_source(con, stim, source_kind, source)
        for person in people:
            job = con.execute(
                "INSERT INTO ingest_jobs (source_id, input_name, content_hash, params_hash, "
                "params, model_version, detector, status) VALUES (?, 'hand.mp4', "
                "gen_random_uuid()::VARCHAR, 'p', '{}', ?, 'opencv', 'done') RETURNING job_id",
                [src.source_id, model_version],
            ).fetchone()[0]
            n = max(1, round(person.seconds * person.fps))
            offsets = person.start_s + np.arange(n) / person.fps
            rows = pd.DataFrame(
                {
                    "job_id": job,
                    "source_id": src.source_id,
                    "stimulus_id": stim.stimulus_id,
                    "frame_index": np.arange(n),
                    "offset_s": offsets,
                    "ts": [
                        None
                        if person.start_time is None
                        else person.start_time + dt.timedelta(seconds=float(o))
                        for o in offsets
                    ],
                    "track_id": 1,
                    "x": 10,
                    "y": 10,
                    "w": 100,
                    "h": 100,
                    "det_confidence": 0.9,
                    "face_px": 100,
                    **_scores(person.dominant),
                    "dominant": person.dominant,
                    "is_small": False,
                    "is_blurred": False,
                    "is_profile": False,
                    "looking": person.looking,
                    **person.extra,
                }
            )
            rows["ts"] = pd.to_datetime(rows["ts"])
            con.register("_rows", rows)
            columns = ", ".join(rows.columns)
            con.execute(f"INSERT INTO face_observations ({columns}) SELECT {columns} FROM _rows")
            con.unregister("_rows")
            frames = rows[["job_id", "frame_index", "offset_s", "ts"]].assign(faces=1)
            con.register("_frames", frames)
            con.execute("INSERT INTO frames SELECT * FROM _frames")
            con.unregister("_frames")
            con.execute(
                "INSERT INTO tracks (job_id, track_id, first_offset_s, last_offset_s, dwell_s, "
                "observations, attention_s) VALUES (?, 1, ?, ?, ?, ?, ?)",
                [
                    job,
                    float(offsets[0]),
                    float(offsets[-1]),
                    float(n / person.fps),
                    n,
                    person.attention_s,
                ],
            )
            rollups.add_jobs(con, [job])  # as the ingest commit does
        return stim.stimulus_id
