"""Which columns each dashboard table shows, read with the product's one table of labels.

Labels, units and rounding come from ``pipeline.reports.labels`` (the same table the CSV,
HTML and PDF use), so "Attention (s)" reads the same on screen and on paper. What is left
here is how ``st.dataframe`` shows them: the tables keep their machine column names (tests,
exports and Parquet use them), shares are scaled to percents for a "%" format, and a missing
value reads "–" instead of Streamlit's grey "None". A number column without gaps stays
numeric (it sorts as numbers); one with gaps is shown as formatted text, because
``st.dataframe`` has no missing-value text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.emotion.labels import LABELS
from pipeline.reports.labels import column
from pipeline.reports.tables import SUMMARY_COLUMNS

MISSING = "–"
_NOT_NUMBERS = ("text", "flag", "clock", "difference")


@dataclass(frozen=True)
class Shown:
    """One column of a dashboard table: its machine name, and only where a table needs it a
    label of its own (the clock naming the cameras' time zone) or a width."""

    name: str
    label: str | None = None
    width: str | int | None = None


Spec = Sequence[str | Shown]

STIMULUS: Spec = SUMMARY_COLUMNS  # ``stimulus_table``'s columns, all shown
# The sentence first, wrapped in a fixed width (``VERDICT_ROW_PX`` rows), and the interval in
# one column: the whole table fits a 1400 px window beside the sidebar.
VERDICT_SENTENCE_PX = 380
VERDICT_ROW_PX = 76  # > 4rem: st.dataframe wraps text only in rows this tall (3 lines)
VERDICT: Spec = (
    Shown("verdict", width=VERDICT_SENTENCE_PX),
    "metric",
    "difference",
    "interval",
    "people_a",
    "people_b",
)
VERDICT_SENTENCE: Spec = (Shown("verdict", width=VERDICT_SENTENCE_PX),)
JOBS: Spec = (
    "job_id",
    "stimulus",
    "source",
    "input_name",
    "status",
    "progress",
    "faces",
    "tracks",
    "problem",
    "created_at",
)
KEPT_UPLOADS: Spec = ("job", "file", "size_mb")


def verdict_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Verdict rows with each difference and its interval written in its metric's unit, as
    in the sentence ("+37 pts", "+1.2 s", "+0.42"), instead of one format for all metrics;
    ``interval`` holds both ends in one cell ("+3 pts to +21 pts")."""
    from pipeline.audience.verdicts import METRICS

    units = {m.label: m for m in METRICS}
    out = table.copy()
    for name in ("difference", "low", "high"):
        out[name] = [
            MISSING if pd.isna(v) or m not in units else units[m].fmt(float(v))
            for v, m in zip(table[name], table["metric"], strict=True)
        ]
    out["interval"] = [
        MISSING if MISSING in (low, high) else f"{low} to {high}"
        for low, high in zip(out["low"], out["high"], strict=True)
    ]
    return out


def series_spec(by_clock: bool, time_title: str = "Time (UTC)") -> Spec:
    """A series table: bucket start (local time of the cameras, or seconds), counts,
    valence with its band, looking and the share of faces per dominant expression."""
    first = Shown("bucket_ts", label=time_title) if by_clock else "bucket_offset_s"
    return (
        first,
        "faces",
        "people",
        "valence",
        "valence_low",
        "valence_high",
        "people_looking",
        "share_looking",
        *(f"share_{n}" for n in LABELS),
        "suppressed",
    )


def _shown(item: str | Shown) -> Shown:
    return item if isinstance(item, Shown) else Shown(item)


def _text(value: object, name: str) -> str:
    if isinstance(value, str):
        return value  # already written for people (e.g. a verdict's "+37 pts")
    return column(name).text(value, MISSING)


def readable(table: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The columns of ``spec`` present in ``table``, ready for ``st.dataframe``: shares
    scaled to percents, gaps as a dash, and a column config with labels and formats."""
    wanted = [_shown(item) for item in spec]
    present = [s for s in wanted if s.name in table.columns]
    out = table[[s.name for s in present]].copy()
    config: dict[str, Any] = {}
    for shown in present:
        name, col = shown.name, column(shown.name)
        label = shown.label or col.label
        values = out[name]
        numeric = (
            col.kind not in _NOT_NUMBERS
            and pd.api.types.is_numeric_dtype(values)
            and not pd.api.types.is_bool_dtype(values)
        )
        if numeric and not values.isna().any():
            scaled = values.astype("float64") * 100 if col.kind == "share" else values
            out[name] = scaled
            config[name] = st.column_config.NumberColumn(label, format=col.printf)
        else:
            out[name] = [_text(v, name) for v in values]
            config[name] = st.column_config.TextColumn(
                label,
                width=shown.width,  # type: ignore[arg-type]
                alignment=None if col.kind in ("text", "flag", "clock") else "right",
            )
    return out, config


def show_table(
    table: pd.DataFrame, spec: Spec, key: str, row_height: int | None = None, **extra: Any
) -> None:
    """``st.dataframe`` of ``readable(table, spec)``; ``extra`` overrides column configs;
    ``row_height`` above 64 px lets long text (a verdict's sentence) wrap."""
    shown, config = readable(table, spec)
    config.update(extra)
    st.dataframe(shown, key=key, hide_index=True, column_config=config, row_height=row_height)
