"""Human column labels and rounding for the dashboard's tables.

The tables keep their machine column names (the tests, exports and Parquet use them); these
configs only change what a person reads: "Attention (s)" with one decimal instead of
``mean_attention_s 13.4444``. One table per kind of row, so every page says the same.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

_PERCENT = ("positive_share", "share_looking", "attraction")


def stimulus_columns() -> dict[str, Any]:
    """Column config for ``pipeline.reports.tables.stimulus_table`` rows (shares shown as %,
    see ``as_percent``)."""
    number = st.column_config.NumberColumn
    return {
        "stimulus": "Stimulus",
        "kind": "Kind",
        "faces": number("Faces", format="%d"),
        "people": number("People", format="%d"),
        "watchers": number("Watchers", format="%d"),
        "mean_attention_s": number("Attention (s)", format="%.1f"),
        "mean_dwell_s": number("Mean dwell (s)", format="%.1f"),
        "attraction": number("Attraction", format="%.0f%%"),
        "valence": number("Valence", format="%+.2f"),
        "valence_low": number("Low (95 %)", format="%+.2f"),
        "valence_high": number("High (95 %)", format="%+.2f"),
        "positive_share": number("Positive share", format="%.0f%%"),
        "share_looking": number("Looking", format="%.0f%%"),
        "top_expression": "Top expression",
        "status": "Status",
    }


def as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """Copy with the 0..1 share columns scaled to 0..100 for a "%" format."""
    return table.assign(**{c: table[c] * 100 for c in _PERCENT if c in table.columns})


def verdict_columns() -> dict[str, Any]:
    """Column config for the A/B verdict table."""
    number = st.column_config.NumberColumn
    return {
        "verdict": st.column_config.TextColumn("Verdict", width="large"),
        "metric": "Metric",
        "difference": number("Difference", format="%+.2f"),
        "low": number("Low (95 %)", format="%+.2f"),
        "high": number("High (95 %)", format="%+.2f"),
        "people_a": number("People (first)", format="%d"),
        "people_b": number("People (second)", format="%d"),
    }
