"""Audience figures from people sums: the rollup twin of ``metrics._figures``.

A group's sums (``pipeline.store.rollups.CONTRIBUTION_COLUMNS``) hold, over its shown people,
the sum of each person's own mean scores and shares, of their squared valence, and counts
of the people looking, watching, with known dwell... Dividing gives exactly the means over
people that ``metrics.summarise`` computes from one row per person (to float rounding), and
the valence band's standard deviation comes from the sum of squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.audience.intervals import t_quantile
from pipeline.audience.metrics import FIGURES
from pipeline.emotion.labels import LABELS


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def figures(sums: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """``people_shown`` and every FIGURES column per row of ``sums`` (NaN where no one is
    shown); ``people_per_snapshot`` is left NaN for the caller. Plain arrays, not pandas
    operations: this runs on every dashboard read."""
    s = {c: sums[c].to_numpy(dtype=float) for c in sums.columns}
    n = np.round(s["persons"])
    out: dict[str, np.ndarray] = {"people_shown": n.astype("int64")}
    for name in LABELS:
        out[f"mean_{name}"] = _ratio(s[f"m_{name}"], n)
        out[f"share_{name}"] = _ratio(s[f"s_{name}"], n)
    out["expressiveness"] = 1.0 - out["share_neutral"]
    valence = _ratio(s["valence"], n)
    out["valence"] = valence
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.where(n > 1, (s["valence_sq"] - n * valence**2) / (n - 1), np.nan)
        spread = np.sqrt(np.clip(variance, 0, None))
        quantile = np.array([t_quantile(k - 1) if k >= 2 else np.nan for k in n])
        half = quantile * spread / np.sqrt(n)
    out["valence_low"] = valence - half
    out["valence_high"] = valence + half
    # A figure over some of the shown people (those whose head pose or dwell is known) is
    # withheld when they are fewer than the crowd, as metrics._figures does.
    crowd = max(1, int(min_crowd))
    known = s["looked_known"] >= crowd
    snapshot_faces = s["persons"] - s["video"] > 0.5  # not people: no people-looking count
    out["people_looking"] = np.where(known & ~snapshot_faces, s["looked"], np.nan)
    out["share_looking"] = np.where(known, _ratio(s["looked"], s["looked_known"]), np.nan)
    attention_known = s["attention_n"] >= crowd
    out["passers_by"] = np.where(s["video"] > 0, s["video"], np.nan)
    dwell = _ratio(s["dwell_sum"], s["dwell_n"])
    out["mean_dwell_s"] = np.where(s["dwell_n"] >= crowd, dwell, np.nan)
    attention = _ratio(s["attention_sum"], s["attention_n"])
    out["mean_attention_s"] = np.where(attention_known, attention, np.nan)
    out["watchers"] = np.where(attention_known, s["watchers"], np.nan)
    attraction = _ratio(s["both_attention"], s["both_dwell"])
    out["attraction"] = np.where(attention_known, attraction, np.nan)
    out["people_per_snapshot"] = np.full(len(n), np.nan)
    enough = s["watchers"] >= max(1, int(min_crowd))
    for name in LABELS:
        share = _ratio(s[f"ws_{name}"], s["watchers"])
        out[f"watcher_share_{name}"] = np.where(enough, share, np.nan)
    nobody = n <= 0
    for name in FIGURES:
        out[name] = np.where(nobody, np.nan, out[name])
    return pd.DataFrame({c: out[c] for c in ("people_shown", *FIGURES)}, index=sums.index)


@dataclass(frozen=True)
class Moments:
    """Count, mean and sample variance of one per-person value over the shown people."""

    n: int
    mean: float
    var: float


def moments(n: float, total: float, squares: float) -> Moments:
    """Moments from a count, a sum and a sum of squares (variance NaN below two values)."""
    k = round(n)
    if k == 0:
        return Moments(0, math.nan, math.nan)
    mean = total / k
    if k < 2:
        return Moments(k, mean, math.nan)
    var = (squares - k * mean * mean) / (k - 1)
    # Equal values leave a rounding residue of the sum of squares, not a spread.
    return Moments(k, mean, var if var > 1e-12 * (1.0 + mean * mean) else 0.0)


def verdict_moments(sums: pd.Series) -> dict[str, Moments]:
    """Per verdict metric column (``verdicts.METRICS``): its moments over the shown people."""
    persons, neutral = float(sums["persons"]), float(sums["s_neutral"])
    return {
        "valence": moments(persons, sums["valence"], sums["valence_sq"]),
        "share_happiness": moments(persons, sums["s_happiness"], sums["happiness_sq"]),
        "expressiveness": moments(
            persons, persons - neutral, persons - 2 * neutral + sums["neutral_sq"]
        ),
        "looked": moments(sums["looked_known"], sums["looked"], sums["looked"]),
        "attention_s": moments(
            sums["all_attention_n"], sums["all_attention_sum"], sums["all_attention_sq"]
        ),
        "dwell_s": moments(sums["all_dwell_n"], sums["all_dwell_sum"], sums["all_dwell_sq"]),
    }
