"""Audience figures of any group of base cells: people first, then what they looked like.

``person_table`` turns per-person cell rows into one row per person (their own means over
their own face rows); ``summarise`` turns those into one row per group (a bucket, a source, a
stimulus, a segment) with:

- faces and people (counts, shown even when the figures are withheld; for snapshot cameras
  people = the most faces in any one snapshot, per source);
- passers-by (people detected), watchers (people looking at least ``WATCHER_MIN_S`` seconds),
  mean attention and dwell seconds, attraction (total attention / total dwell);
- mean score and share of face rows per expression, averaged over people; expressiveness
  (share of non-neutral rows); the valence index with a 95 % interval over people;
- people looking (with at least one looking row) and their share of the people whose head
  pose is known; expression shares among watchers when there are enough watchers.

Looking-based figures stay NaN when no pose is known (NULL in the store): never guessed.
Snapshot cameras have no dwell, attention or unique people: those read NaN, not a wrong number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audience.intervals import mean_interval
from pipeline.emotion.labels import LABELS

PERSON = ["job_id", "track_id"]
WATCHER_MIN_S = 1.0
_SUMS = ["frames", *(f"sum_{n}" for n in LABELS), *(f"n_{n}" for n in LABELS), "sum_valence"]
_LOOK = ["posed_frames", "looking_frames"]

FIGURES: tuple[str, ...] = (
    "passers_by",
    "watchers",
    "mean_attention_s",
    "mean_dwell_s",
    "attraction",
    "people_per_snapshot",
    *(f"mean_{n}" for n in LABELS),
    *(f"share_{n}" for n in LABELS),
    "expressiveness",
    "valence",
    "valence_low",
    "valence_high",
    "people_looking",
    "share_looking",
    *(f"watcher_share_{n}" for n in LABELS),
)


def person_table(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (``keys``, person) from per-person cell rows: that person's own figures."""
    by = [*keys, *PERSON]
    if rows.empty:
        return pd.DataFrame(columns=[*by, "frames", "valence", "snapshot"])
    grouped = rows.groupby(by, sort=False, dropna=False)
    people = grouped[[*_SUMS, *_LOOK]].sum()
    first = grouped[["dwell_s", "attention_s", "snapshot"]].first()
    people = people.join(first).reset_index()
    frames = people["frames"].astype(float)
    for n in LABELS:
        people[f"mean_{n}"] = people[f"sum_{n}"] / frames
        people[f"share_{n}"] = people[f"n_{n}"] / frames
    people["valence"] = people["sum_valence"] / frames
    people["expressiveness"] = 1.0 - people["n_neutral"] / frames
    posed = people["posed_frames"] > 0
    people["looked"] = np.where(posed, (people["looking_frames"] > 0).astype(float), np.nan)
    attention = people["attention_s"].astype(float)
    people["watcher"] = np.where(attention.notna(), (attention >= WATCHER_MIN_S) * 1.0, np.nan)
    return people


def group_counts(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Faces and people per group over all rows (withheld cells included: counts only)."""
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "faces", "people", "snapshot"])
    snap = rows["snapshot"].astype(bool)
    parts = []
    if (~snap).any():
        video = rows[~snap]
        people = video.drop_duplicates([*keys, *PERSON]).groupby(keys, dropna=False).size()
        parts.append(people.rename("people"))
    if snap.any():
        most = rows[snap].groupby([*keys, "source_id"], dropna=False)["max_faces_in_frame"].max()
        parts.append(
            most.groupby(level=list(range(len(keys))), dropna=False).sum().rename("people")
        )
    people = pd.concat(parts).groupby(level=list(range(len(keys))), dropna=False).sum()
    out = rows.groupby(keys, dropna=False).agg(
        faces=("frames", "sum"), snapshot=("snapshot", "all")
    )
    out = out.join(people).reset_index()
    out["people"] = out["people"].astype("int64")
    return out


def _figures(people: pd.DataFrame, min_crowd: int) -> dict[str, float]:
    """One group's figures from its published people (one row per person)."""
    nan = float("nan")
    out: dict[str, float] = dict.fromkeys(FIGURES, nan)
    out["people_shown"] = float(len(people))
    if people.empty:
        return out
    for column in (*(f"mean_{n}" for n in LABELS), *(f"share_{n}" for n in LABELS)):
        out[column] = float(people[column].mean())
    out["expressiveness"] = float(people["expressiveness"].mean())
    valence = mean_interval(people["valence"].to_numpy(dtype=float))
    out["valence"], out["valence_low"], out["valence_high"] = (
        valence.value,
        valence.low,
        valence.high,
    )
    looked = people["looked"].dropna()
    if len(looked):
        out["people_looking"] = float(looked.sum())
        out["share_looking"] = float(looked.mean())
    video = people[~people["snapshot"].astype(bool)]
    if video.empty:
        return out
    out["passers_by"] = float(len(video))
    dwell = video["dwell_s"].astype(float)
    out["mean_dwell_s"] = float(dwell.mean()) if dwell.notna().any() else nan
    attention = video["attention_s"].astype(float)
    if attention.notna().any():
        out["watchers"] = float(video["watcher"].sum())
        out["mean_attention_s"] = float(attention.mean())
        both = attention.notna() & dwell.notna()
        total_dwell = float(dwell[both].sum())
        if total_dwell > 0:
            out["attraction"] = float(attention[both].sum()) / total_dwell
        watchers = video[video["watcher"] == 1.0]
        if len(watchers) >= max(1, int(min_crowd)):
            for n in LABELS:
                out[f"watcher_share_{n}"] = float(watchers[f"share_{n}"].mean())
    return out


def summarise(
    rows: pd.DataFrame, keys: list[str], min_crowd: int, sampled: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per group of ``keys``: counts over all rows, figures over published rows only.

    ``rows`` are per-person cell rows with a ``published`` column (``crowd.mark_published``).
    ``sampled``: frames sampled per row of ``keys`` (column ``sampled_frames``), for people
    per snapshot. A group without any published cell has ``suppressed`` True and NaN figures.
    """
    counts = group_counts(rows, keys)
    shown = rows[rows["published"]] if len(rows) else rows
    people = person_table(shown, keys)
    records = []
    if len(people):
        for values, group in people.groupby(keys, sort=False, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            records.append({**dict(zip(keys, values, strict=True)), **_figures(group, min_crowd)})
    figures = pd.DataFrame(records, columns=[*keys, "people_shown", *FIGURES])
    out = counts.merge(figures, on=keys, how="left")
    out["people_shown"] = out["people_shown"].fillna(0).astype("int64")
    out["suppressed"] = out["people_shown"] == 0
    if sampled is not None and out["snapshot"].any():
        out = out.merge(sampled, on=keys, how="left")
        per = out["faces"] / out["sampled_frames"].where(out["sampled_frames"] > 0)
        out["people_per_snapshot"] = per.where(out["snapshot"] & ~out["suppressed"])
        out = out.drop(columns=["sampled_frames"])
    return out
