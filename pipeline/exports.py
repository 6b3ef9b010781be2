"""Exports of a campaign's series (CSV, Parquet, Emotion-API-style JSON) and A/B verdicts.

CSV is for spreadsheets and people: human column labels, rounded numbers, shares in percent
(``pipeline.reports.labels``). Parquet and JSON are for programs: machine names, full precision.

All go through ``export_table``, which reads the series through ``pipeline.audience`` (people
per base cell, figures only from cells with at least the minimum crowd), so no export can carry
a bucket that the dashboard would hide. Every row says which minimum crowd made it and whether
the campaign is a consented study.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pandas as pd

from pipeline.audience import read as audience
from pipeline.audience.clock import zone_label
from pipeline.audience.verdicts import Audience
from pipeline.emotion.labels import LABELS
from pipeline.errors import InputError
from pipeline.privacy import suppress_small_buckets
from pipeline.store import catalog
from pipeline.store import people as store_people
from pipeline.store.database import connect, default_db_path
from pipeline.store.zones import source_zones

DEFAULT_BUCKET_S = {"ad": 1.0, "display": 3600.0, "product": 3600.0}


def export_table(
    con,
    campaign_name: str,
    stimulus_name: str | None,
    bucket_s: float | None,
    min_crowd: int | None = None,
) -> pd.DataFrame:
    """One row per (stimulus, bucket), withheld buckets blanked; ads by offset, others by
    clock time. ``min_crowd`` None: the campaign's floor; below the floor: InputError."""
    campaign = catalog.get_campaign(con, campaign_name)
    crowd = audience.campaign_min_crowd(con, campaign.campaign_id, min_crowd)
    consented = store_people.consent(con, campaign.campaign_id) is not None
    chosen = catalog.list_stimuli(con, campaign)
    if stimulus_name is not None:
        chosen = [catalog.get_stimulus(con, campaign, stimulus_name)]
    clocks = audience.stimuli_by_clock(con, [s.stimulus_id for s in chosen])
    wanted = []
    for stimulus in chosen:
        by_clock = clocks[stimulus.stimulus_id]
        bucket = bucket_s or DEFAULT_BUCKET_S[stimulus.kind]
        if not by_clock and stimulus.kind != "ad" and bucket_s is None:
            bucket = 1.0  # footage of a display without a start time: by offset
        wanted.append((stimulus.stimulus_id, bucket, by_clock))
    # All stimuli in one grouped query per grid and bucket, not one read per stimulus.
    found = audience.series_of_stimuli(con, wanted, crowd)
    tables = []
    for stimulus in chosen:
        by_clock = clocks[stimulus.stimulus_id]
        table = found[stimulus.stimulus_id]
        if table.empty:
            continue
        table.insert(0, "campaign", campaign.name)
        table.insert(1, "stimulus", stimulus.name)
        table.insert(2, "stimulus_kind", stimulus.kind)
        # Clock buckets are local wall time of the cameras (pipeline.audience.clock): say whose.
        zone = zone_label(source_zones(con, stimulus.stimulus_id).values()) if by_clock else None
        table.insert(table.columns.get_loc("bucket_ts") + 1, "time_zone", zone)
        table = suppress_small_buckets(table, crowd)
        table["min_crowd"] = crowd
        table["consented_study"] = consented
        tables.append(table)
    if not tables:
        raise InputError(
            "Nothing to export",
            f"Campaign {campaign.name!r} has no analysed faces for that selection.",
        )
    return pd.concat(tables, ignore_index=True)


def audiences_by_name(con, summary: pd.DataFrame, min_crowd: int) -> dict[str, Audience]:
    """The people of each stimulus in ``summary`` (``audience.stimulus_summary``) that has
    analysed faces, by name: what A/B verdicts compare (exports and reports alike)."""
    shown = [row for row in summary.itertuples(index=False) if row.faces > 0]
    read = audience.audiences(con, [int(row.stimulus_id) for row in shown], min_crowd)
    return {str(row.name): read[int(row.stimulus_id)] for row in shown}


def verdict_export(con, campaign_name: str, min_crowd: int | None = None) -> pd.DataFrame:
    """A/B verdicts between every pair of a campaign's stimuli with faces, one row per metric
    and pair (``pipeline.audience.verdicts``, as on the Compare page and in the reports)."""
    from pipeline.audience.verdicts import verdict_table, verdicts, version_note

    campaign = catalog.get_campaign(con, campaign_name)
    crowd = audience.campaign_min_crowd(con, campaign.campaign_id, min_crowd)
    people = audiences_by_name(
        con, audience.stimulus_summary(con, campaign.campaign_id, crowd), crowd
    )
    if len(people) < 2:
        raise InputError(
            "Nothing to compare",
            f"Campaign {campaign.name!r} needs two stimuli with analysed faces for a verdict.",
        )
    table = verdict_table(verdicts(people, crowd))
    table.insert(0, "campaign", campaign.name)
    table["min_crowd"] = crowd
    table["consented_study"] = store_people.consent(con, campaign.campaign_id) is not None
    table["version_note"] = version_note(people)
    return table


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """The spreadsheet CSV: human headers and rounding (``pipeline.reports.labels``), UTF-8
    with a byte-order mark so Excel reads accented names. Machine names stay in Parquet/JSON.
    Text is shown as text: a name such as ``=HYPERLINK(...)`` is written with a leading
    apostrophe, which spreadsheets take as "this is text", so opening the file runs nothing."""
    from pipeline.reports.labels import human_table

    human = human_table(table)
    for name in human.columns:
        if not pd.api.types.is_numeric_dtype(human[name]):
            human[name] = human[name].map(_as_text)
    return human.to_csv(index=False).encode("utf-8-sig")


def _as_text(value: object) -> object:
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)  # "-3.5" written as text is a number, not a formula
    except ValueError:
        return "'" + value
    return value


def to_parquet_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _number(value: object, digits: int = 4) -> float | None:
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return None
    number = float(value)  # type: ignore[arg-type]
    return round(number, digits) if math.isfinite(number) else None


def to_emotion_api_json(table: pd.DataFrame, timescale: int = 1000) -> bytes:
    """The 2016 Emotion API video shape: timescale, offset, framerate, fragments with
    start/duration/interval and events carrying windowFaceDistribution and windowMeanScores.

    One fragment per stimulus; one event per bucket (withheld buckets have empty events, as
    the API did for intervals without faces). Extra fields are ours: stimulus, faces, people,
    shareLooking (null while head pose is unknown), minCrowd, consentedStudy, and timeZone of
    a clock fragment (its startTime is local wall time there).
    """
    fragments = []
    for (stimulus, _kind), group in table.groupby(["stimulus", "stimulus_kind"], sort=False):
        bucket = float(group["bucket_s"].iloc[0])
        by_clock = group["bucket_ts"].notna().any()
        if not by_clock:
            starts = group["bucket_offset_s"].to_numpy(dtype=float)
        else:
            stamps = pd.to_datetime(group["bucket_ts"])
            origin_ts = stamps.min()
            starts = (stamps - origin_ts).dt.total_seconds().to_numpy()
        events: list[list[dict[str, object]]] = []
        span = round(starts.max() / bucket) + 1 if len(starts) else 0
        by_slot = {
            round(s / bucket): row for s, (_, row) in zip(starts, group.iterrows(), strict=True)
        }
        for slot in range(span):
            row = by_slot.get(slot)
            if row is None or bool(row["suppressed"]):
                events.append([])
                continue
            events.append(
                [
                    {
                        "windowFaceDistribution": {n: _number(row[f"share_{n}"]) for n in LABELS},
                        "windowMeanScores": {n: _number(row[f"mean_{n}"]) for n in LABELS},
                        "faces": int(row["faces"]),
                        "people": int(row["people"]),
                        "shareLooking": _number(row.get("share_looking")),
                    }
                ]
            )
        fragment: dict[str, object] = {
            "stimulus": stimulus,
            "start": 0,
            "duration": round(span * bucket * timescale),
            "interval": round(bucket * timescale),
            "events": events,
        }
        if by_clock:
            fragment["startTime"] = pd.Timestamp(origin_ts).isoformat()
            if "time_zone" in group and group["time_zone"].notna().any():
                fragment["timeZone"] = str(group["time_zone"].dropna().iloc[0])
        fragments.append(fragment)
    payload = {
        "version": 1,
        "timescale": timescale,
        "offset": 0,
        "framerate": None,
        "labels": list(LABELS),
        "minCrowd": int(table["min_crowd"].iloc[0]) if "min_crowd" in table else None,
        "consentedStudy": bool(table["consented_study"].iloc[0])
        if "consented_study" in table
        else False,
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
    min_crowd: int | None = None,
) -> Path:
    """Write one export format to ``out`` (the CLI's ``export`` command)."""
    # Read, close, then render: an open reader keeps every writer out of the file.
    if fmt in ("html", "pdf"):
        from pipeline.reports.build import collect_report, render

        with connect(db_path, read_only=True) as con:
            report = collect_report(con, campaign, stimulus, bucket_s, min_crowd)
        data = render(report, fmt)
    elif fmt == "verdicts":
        with connect(db_path, read_only=True) as con:
            data = to_csv_bytes(verdict_export(con, campaign, min_crowd))
    else:
        with connect(db_path, read_only=True) as con:
            table = export_table(con, campaign, stimulus, bucket_s, min_crowd)
        writers = {
            "csv": to_csv_bytes,
            "parquet": to_parquet_bytes,
            "json": to_emotion_api_json,
        }
        data = writers[fmt](table)
    _write_beside(out, data, db_path)
    return out


def _write_beside(out: Path, data: bytes, db_path: Path | None) -> None:
    """Write ``out`` whole or not at all (a partial file beside it, moved into place), never
    over the database itself; a path that cannot be written is a one-line error."""
    database = db_path or default_db_path()
    if out.exists() and database.exists() and out.samefile(database):
        raise InputError("Export would overwrite the database", f"{out} is the DuckDB file.")
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(out)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise InputError(
            "Export not written", f"{out} could not be written ({error.strerror or error})."
        ) from error
