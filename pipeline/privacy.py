"""The minimum-crowd rule on a finished table: a second, defensive pass for every view.

The rule itself is applied on the fixed base grid by ``pipeline.audience`` (people per base
cell, figures only from cells that pass), which is what makes differencing useless. This
module re-checks a finished table: a row with fewer people than the minimum crowd, or already
marked ``suppressed``, has its figures blanked (NaN). Counts stay, so a reader sees why a gap
exists. Tables without a ``people`` column (older golden inputs) fall back to
``unique_tracks``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audience.metrics import FIGURES

_FIGURES = (*FIGURES, "positive_share")


def count_column(table: pd.DataFrame) -> str:
    """The column that counts people in this table."""
    for name in ("people", "unique_tracks", "faces"):
        if name in table.columns:
            return name
    raise KeyError("table has no people count")


def suppress_small_buckets(table: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """Copy of ``table`` with figures blanked (NaN) where people < min_crowd or the row is
    already ``suppressed``, and a boolean ``suppressed`` column."""
    out = table.copy()
    small = (out[count_column(out)].fillna(0) < min_crowd).to_numpy()
    if "suppressed" in out.columns:
        small = small | out["suppressed"].fillna(True).astype(bool).to_numpy()
    columns = [c for c in _FIGURES if c in out.columns]
    if columns:
        # One block operation, not a .loc per column: this runs on every export and report.
        values = out[columns].to_numpy(dtype="float64", na_value=np.nan, copy=True)
        values[small] = np.nan
        out[columns] = pd.DataFrame(values, columns=columns, index=out.index)
    out["suppressed"] = small
    return out
