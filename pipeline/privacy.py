"""The minimum-crowd rule, applied in one place for every view and export.

A bucket with fewer faces than the minimum crowd says too much about too few people (and is
statistically meaningless): its expression figures are blanked and it is marked suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.emotion.labels import LABELS

_FIGURES = (
    *(f"mean_{n}" for n in LABELS),
    *(f"share_{n}" for n in LABELS),
    "valence",
    "valence_low",
    "valence_high",
    "mean_dwell_s",
    "people_looking",
    "share_looking",
    "positive_share",
)


def suppress_small_buckets(
    table: pd.DataFrame, min_crowd: int, faces_column: str = "faces"
) -> pd.DataFrame:
    """Copy of ``table`` with figures blanked (NaN) where faces < min_crowd, plus a
    boolean ``suppressed`` column. Face counts stay, so a reader sees why a gap exists."""
    out = table.copy()
    small = out[faces_column] < min_crowd
    for column in _FIGURES:
        if column in out.columns:
            out[column] = out[column].astype("float64")
            out.loc[small, column] = np.nan
    if "unique_tracks" in out.columns:
        out["unique_tracks"] = out["unique_tracks"].astype("Int64")
        out.loc[small, "unique_tracks"] = pd.NA
    out["suppressed"] = small
    return out
