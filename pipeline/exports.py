"""Exports of a campaign's series: CSV, Parquet and the Emotion-API-style JSON.

All go through ``export_table``, which applies the minimum-crowd rule, so no export can carry
a bucket that the dashboard would hide.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from pipeline.emotion.labels import LABELS
from pipeline.errors import InputError
from pipeline.privacy import suppress_small_buckets
from pipeline.store import catalog, queries
from pipeline.store.database import connect

DEFAULT_BUCKET_S = {"ad": 1.0, "display": 3600.0, "product": 3600.0}


def export_table(
    con, campaign_name: str, stimulus_name: str | None, bucket_s: float | None, min_crowd: int
) -> pd.DataFrame:
    """One row per (stimulus, bucket), suppressed buckets blanked; ads by offset, others by
    clock time."""
    campaign = catalog.get_campaign(con, campaign_name)
    chosen = catalog.list_stimuli(con, campaign)
    if stimulus_name is not None:
        chosen = [catalog.get_stimulus(con, campaign, stimulus_name)]
    tables = []
    for stimulus in chosen:
        by_clock = stimulus.kind != "ad"
        bucket = bucket_s or DEFAULT_BUCKET_S[stimulus.kind]
        table = queries.series(con, stimulus.stimulus_id, bucket, by_clock)
        if table.empty:
            continue
        table.insert(0, "campaign", campaign.name)
        table.insert(1, "stimulus", stimulus.name)
        table.insert(2, "stimulus_kind", stimulus.kind)
        tables.append(suppress_small_buckets(table, min_crowd))
    if not tables:
        raise InputError(
            "Nothing to export",
            f"Campaign {campaign.name!r} has no analysed faces for that selection.",
        )
    return pd.concat(tables, ignore_index=True)


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def to_parquet_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def to_emotion_api_json(table: pd.DataFrame, timescale: int = 1000) -> bytes:
    """The 2016 Emotion API video shape: timescale, offset, framerate, fragments with
    start/duration/interval and events carrying windowFaceDistribution and windowMeanScores.

    One fragment per stimulus; one event per bucket (suppressed buckets have empty events, as
    the API did for intervals without faces). Extra fields (stimulus, faces) are ours.
    """
    fragments = []
    for (stimulus, kind), group in table.groupby(["stimulus", "stimulus_kind"], sort=False):
        bucket = float(group["bucket_s"].iloc[0])
        if kind == "ad":
            starts = group["bucket_offset_s"].to_numpy(dtype=float)
            origin = 0.0
        else:
            stamps = pd.to_datetime(group["bucket_ts"])
            origin_ts = stamps.min()
            starts = (stamps - origin_ts).dt.total_seconds().to_numpy()
            origin = 0.0
        events: list[list[dict[str, object]]] = []
        span = round((starts.max() - origin) / bucket) + 1 if len(starts) else 0
        by_slot = {
            round((s - origin) / bucket): row
            for s, (_, row) in zip(starts, group.iterrows(), strict=True)
        }
        for slot in range(span):
            row = by_slot.get(slot)
            if row is None or bool(row["suppressed"]):
                events.append([])
                continue
            events.append(
                [
                    {
                        "windowFaceDistribution": {
                            n: round(float(row[f"share_{n}"]), 4) for n in LABELS
                        },
                        "windowMeanScores": {n: round(float(row[f"mean_{n}"]), 4) for n in LABELS},
                        "faces": int(row["faces"]),
                    }
                ]
            )
        fragment = {
            "stimulus": stimulus,
            "start": round(origin * timescale),
            "duration": round(span * bucket * timescale),
            "interval": round(bucket * timescale),
            "events": events,
        }
        if kind != "ad":
            fragment["startTime"] = pd.Timestamp(origin_ts).isoformat()
        fragments.append(fragment)
    payload = {
        "version": 1,
        "timescale": timescale,
        "offset": 0,
        "framerate": None,
        "labels": list(LABELS),
        "fragments": fragments,
    }
    return json.dumps(payload, indent=2).encode()


def export_to_file(
    fmt: str,
    out: Path,
    campaign: str,
    stimulus: str | None,
    bucket_s: float | None,
    db_path: Path | None = None,
    min_crowd: int = 5,
) -> Path:
    """Write one export format to ``out`` (the CLI's ``export`` command)."""
    # Read, close, then render: an open reader keeps every writer out of the file.
    if fmt in ("html", "pdf"):
        from pipeline.reports.build import collect_report, render

        with connect(db_path, read_only=True) as con:
            report = collect_report(con, campaign, stimulus, bucket_s, min_crowd)
        data = render(report, fmt)
    else:
        with connect(db_path, read_only=True) as con:
            table = export_table(con, campaign, stimulus, bucket_s, min_crowd)
        writers = {
            "csv": to_csv_bytes,
            "parquet": to_parquet_bytes,
            "json": to_emotion_api_json,
        }
        data = writers[fmt](table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
