"""Audience figures of any group of base cells: people first, then what they looked like.

``person_table`` turns per-person cell rows into one row per person (their own means over
their own face rows); ``summarise`` turns those into one row per group (a bucket, a source, a
stimulus, a segment) with:

- faces and people (counts, shown even when the figures are withheld; for snapshot cameras
  people = the most faces in any one snapshot, per source), and the people in the figures
  (``people_shown``, counted the same way over the shown cells);
- passers-by (people detected), watchers (people looking at least ``WATCHER_MIN_S`` seconds),
  mean attention and dwell seconds, attraction (total attention / total dwell);
- mean score and share of face rows per expression, averaged over people; expressiveness
  (share of non-neutral rows); the valence index with a 95 % interval over people;
- people looking (with at least one looking row) and their share of the people whose head
  pose is known; expression shares among watchers when there are enough watchers.

Looking-based figures stay NaN when no pose is known (NULL in the store): never guessed.
Snapshot cameras have no dwell, attention, unique people or count of people looking (their
rows are faces, and the same passer-by may be in several snapshots): those read NaN, not a
wrong number; a group with snapshot faces has no people-looking count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audience.intervals import band_over_people, t_quantile
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


def _figures(people: pd.DataFrame, keys: list[str], min_crowd: int) -> pd.DataFrame:
    """Per group of ``keys``: figures from its published people (one row per person).

    Vectorised (one groupby per figure family), so a display's thousands of 5-minute buckets
    cost milliseconds, not a Python loop per bucket.
    """
    columns = [*keys, "people_shown", *FIGURES]
    if people.empty:
        return pd.DataFrame(columns=columns)
    grouped = people.groupby(keys, sort=False, dropna=False)
    expression = [*(f"mean_{n}" for n in LABELS), *(f"share_{n}" for n in LABELS)]
    out = grouped[[*expression, "expressiveness", "valence"]].mean()
    out["people_shown"] = grouped.size()
    spread = grouped["valence"].std(ddof=1)
    count = out["people_shown"].astype(float)
    quantile = count.map(lambda n: t_quantile(n - 1) if n >= 2 else np.nan)
    half = quantile * spread / np.sqrt(count)
    out["valence_low"] = out["valence"] - half
    out["valence_high"] = out["valence"] + half
    # A figure over some of the shown people (those whose head pose, dwell or attention is
    # known) describes fewer people than the bucket: withheld when they are below the crowd,
    # or a bucket of five snapshot faces and one footage passer-by would publish his dwell.
    crowd = max(1, int(min_crowd))
    looked = grouped["looked"]
    known = looked.count()
    # A count of people: not for a snapshot camera's faces (its share looking still is).
    faces_only = grouped["snapshot"].agg(lambda v: bool(v.astype(bool).any()))
    out["people_looking"] = looked.sum(min_count=1).where((known >= crowd) & ~faces_only)
    out["share_looking"] = looked.mean().where(known >= crowd)
    video = people[~people["snapshot"].astype(bool)]
    nan = pd.Series(np.nan, index=out.index)
    for column in ("passers_by", "mean_dwell_s", "watchers", "mean_attention_s", "attraction"):
        out[column] = nan
    if len(video):
        by = video.groupby(keys, sort=False, dropna=False)
        dwell = video["dwell_s"].astype(float)
        attention = video["attention_s"].astype(float)
        both = dwell.notna() & attention.notna()
        flags = video.assign(
            dwell=dwell,
            attention=attention,
            both_dwell=dwell.where(both),
            both_attention=attention.where(both),
        ).groupby(keys, sort=False, dropna=False)
        out["passers_by"] = by.size().astype(float).reindex(out.index)
        dwell_known = flags["dwell"].count().reindex(out.index)
        out["mean_dwell_s"] = flags["dwell"].mean().reindex(out.index).where(dwell_known >= crowd)
        attention_known = flags["attention"].count().reindex(out.index) >= crowd
        out["mean_attention_s"] = (
            flags["attention"].mean().reindex(out.index).where(attention_known)
        )
        out["watchers"] = (
            flags["watcher"].sum().reindex(out.index).where(attention_known).astype(float)
        )
        total_dwell = flags["both_dwell"].sum().reindex(out.index)
        total_attention = flags["both_attention"].sum().reindex(out.index)
        out["attraction"] = (total_attention / total_dwell.where(total_dwell > 0)).where(
            attention_known
        )
    out["people_per_snapshot"] = np.nan
    watchers = people[(people["watcher"] == 1.0) & ~people["snapshot"].astype(bool)]
    shares = [f"share_{n}" for n in LABELS]
    if len(watchers):
        among = watchers.groupby(keys, sort=False, dropna=False)
        enough = among.size() >= max(1, int(min_crowd))
        means = among[shares].mean()[enough]
        means.columns = [f"watcher_{c}" for c in shares]
        out = out.join(means)
    for column in (f"watcher_{c}" for c in shares):
        if column not in out:
            out[column] = np.nan
    return out.reset_index()[columns]


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
    figures = _figures(people, keys, min_crowd)
    out = counts.merge(figures, on=keys, how="left")
    # People, not faces: counted on the shown rows as ``people`` is on all rows, so a
    # snapshot camera's shown faces count as its most faces in one snapshot.
    if len(shown):
        seen = group_counts(shown, keys)[[*keys, "people"]].rename(columns={"people": "seen"})
        out = out.merge(seen, on=keys, how="left")
        rows = out["people_shown"].to_numpy(dtype=float)
        out["people_shown"] = out["seen"].where(out["people_shown"].notna())
        out = out.drop(columns=["seen"])
        out["valence_low"], out["valence_high"] = band_over_people(
            out["valence"], out["valence_high"], rows, out["people_shown"]
        )
    out["people_shown"] = out["people_shown"].fillna(0).astype("int64")
    out["suppressed"] = out["people_shown"] == 0
    if sampled is not None and out["snapshot"].any():
        out = out.merge(sampled, on=keys, how="left")
        per = out["faces"] / out["sampled_frames"].where(out["sampled_frames"] > 0)
        out["people_per_snapshot"] = per.where(out["snapshot"] & ~out["suppressed"])
        out = out.drop(columns=["sampled_frames"])
    return out
