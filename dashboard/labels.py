"""Human column labels and rounding for every table the dashboard shows.

The tables keep their machine column names (the tests, exports and Parquet use them); these
specs only change what a person reads: "Attention (s)" with one decimal instead of
``mean_attention_s 13.4444``, shares as percents, and a dash instead of Streamlit's grey
"None" for a missing value. A number column without gaps stays numeric (it sorts as numbers);
one with gaps is shown as formatted text, because ``st.dataframe`` has no missing-value text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.emotion.labels import LABELS

MISSING = "–"


@dataclass(frozen=True)
class Col:
    """How one column reads: its label, a printf format for numbers (None: text) and whether
    it holds a 0..1 share shown as a percent."""

    label: str
    fmt: str | None = None
    percent: bool = False
    width: str | None = None


_COUNT = "%d"
_SIGNED = "%+.2f"
_PERCENT = "%.0f%%"

STIMULUS: dict[str, Col] = {
    "stimulus": Col("Stimulus"),
    "kind": Col("Kind"),
    "faces": Col("Faces", _COUNT),
    "people": Col("People", _COUNT),
    "watchers": Col("Watchers", _COUNT),
    "mean_attention_s": Col("Attention (s)", "%.1f"),
    "mean_dwell_s": Col("Mean dwell (s)", "%.1f"),
    "attraction": Col("Attraction", _PERCENT, percent=True),
    "valence": Col("Valence", _SIGNED),
    "valence_low": Col("Low (95 %)", _SIGNED),
    "valence_high": Col("High (95 %)", _SIGNED),
    "positive_share": Col("Positive share", _PERCENT, percent=True),
    "share_looking": Col("Looking", _PERCENT, percent=True),
    "top_expression": Col("Top expression"),
    "status": Col("Status"),
}

VERDICT: dict[str, Col] = {
    "verdict": Col("Verdict", width="large"),
    "metric": Col("Metric"),
    "difference": Col("Difference", "%+.2f"),
    "low": Col("Low (95 %)", "%+.2f"),
    "high": Col("High (95 %)", "%+.2f"),
    "people_a": Col("People (first)", _COUNT),
    "people_b": Col("People (second)", _COUNT),
}

JOBS: dict[str, Col] = {
    "job_id": Col("Job", _COUNT),
    "stimulus": Col("Stimulus"),
    "source": Col("Source"),
    "input_name": Col("Input"),
    "status": Col("Status"),
    "progress": Col("Progress", "%.2f"),
    "faces": Col("Faces", _COUNT),
    "tracks": Col("Tracked faces", _COUNT),
    "problem": Col("Problem"),
    "created_at": Col("Started (UTC)"),
}


def verdict_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Verdict rows with each difference and its interval written in its metric's unit, as
    in the sentence ("+37 pts", "+1.2 s", "+0.42"), instead of one format for all metrics."""
    from pipeline.audience.verdicts import METRICS

    units = {m.label: m for m in METRICS}
    out = table.copy()
    for column in ("difference", "low", "high"):
        out[column] = [
            MISSING if pd.isna(v) or m not in units else units[m].fmt(float(v))
            for v, m in zip(table[column], table["metric"], strict=True)
        ]
    return out


def series_spec(by_clock: bool, time_title: str = "Time (UTC)") -> dict[str, Col]:
    """A series table: bucket start (local time of the cameras, or seconds), counts,
    valence with its band, looking and the share of faces per dominant expression."""
    first = {"bucket_ts": Col(time_title)} if by_clock else {"bucket_offset_s": Col("Second", "%g")}
    return {
        **first,
        "faces": Col("Faces", _COUNT),
        "people": Col("People", _COUNT),
        "valence": Col("Valence", _SIGNED),
        "valence_low": Col("Low (95 %)", _SIGNED),
        "valence_high": Col("High (95 %)", _SIGNED),
        "people_looking": Col("People looking", _COUNT),
        "share_looking": Col("Looking", _PERCENT, percent=True),
        **{f"share_{n}": Col(f"{n.capitalize()} (share)", _PERCENT, percent=True) for n in LABELS},
        "suppressed": Col("Too few people"),
    }


def _text(value: object, col: Col) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return MISSING
    if isinstance(value, str):
        return value  # already written for people (e.g. a verdict's "+37 pts")
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    if col.fmt is None:
        return str(value)
    return col.fmt % (round(float(value)) if col.fmt == _COUNT else float(value))  # type: ignore[arg-type]


def readable(table: pd.DataFrame, spec: dict[str, Col]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The columns of ``spec`` present in ``table``, ready for ``st.dataframe``: shares
    scaled to percents, gaps as a dash, and a column config with labels and formats."""
    columns = [c for c in spec if c in table.columns]
    out = table[columns].copy()
    config: dict[str, Any] = {}
    for name in columns:
        col = spec[name]
        values = out[name]
        if col.percent:
            values = values.astype("float64") * 100
        numeric = col.fmt is not None and pd.api.types.is_numeric_dtype(values)
        if numeric and not values.isna().any() and not pd.api.types.is_bool_dtype(values):
            out[name] = values
            config[name] = st.column_config.NumberColumn(col.label, format=col.fmt)
        else:
            out[name] = [_text(v, col) for v in values]
            config[name] = st.column_config.TextColumn(
                col.label,
                width=col.width,  # type: ignore[arg-type]
                alignment=None if col.fmt is None else "right",
            )
    return out, config


def show_table(table: pd.DataFrame, spec: dict[str, Col], key: str, **extra: Any) -> None:
    """``st.dataframe`` of ``readable(table, spec)``; ``extra`` overrides column configs."""
    shown, config = readable(table, spec)
    config.update(extra)
    st.dataframe(shown, key=key, hide_index=True, column_config=config)
