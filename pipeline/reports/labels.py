"""Human labels and rounding of every machine column, in one table for all human-facing output.

The store, Parquet and JSON keep machine names (``mean_attention_s``, ``share_happiness``) and
full precision; what a person reads (the spreadsheet CSV, the HTML and PDF reports, the
dashboard's tables) goes through this table, so "Attention (s)" with one decimal, shares as
percent and "yes"/"no" flags read the same everywhere. README's "Column names" section lists
it (``python -m pipeline.reports.labels`` prints that list from this table).

Each column has a *kind* that fixes its unit and rounding (CSV number; report text):

- text: names and words, as they are;
- count: people, faces: whole numbers ("1,234");
- average: a mean of counts, 1 decimal;
- seconds: durations, 1 decimal ("12.3");
- share: a 0..1 fraction shown as percent, 1 decimal in the CSV ("46%" in reports);
- score: a mean expression score 0..1, 2 decimals;
- index: the valence index -1..+1, 2 decimals ("+0.44");
- flag: "yes" / "no";
- clock: local wall time to the minute ("2026-03-02 09:00");
- difference: an A/B verdict's difference in its metric's unit (index, points, seconds).

Missing values (withheld or not measured) are empty cells in a CSV, never "None" or "nan".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from pipeline.emotion.labels import LABELS

KINDS = (
    "text",
    "count",
    "average",
    "seconds",
    "share",
    "score",
    "index",
    "flag",
    "clock",
    "difference",
)
_DIGITS = {"average": 1, "seconds": 1, "share": 1, "score": 2, "index": 2, "difference": 2}
_PRINTF = {
    "count": "%d",
    "average": "%.1f",
    "seconds": "%.1f",
    "share": "%.0f%%",
    "score": "%.2f",
    "index": "%+.2f",
}
CLOCK_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Column:
    """How a machine column reads for people: its label (with unit) and its kind."""

    name: str
    label: str
    kind: str

    @property
    def printf(self) -> str | None:
        """A printf format for a dashboard NumberColumn, after ``as_percent`` for shares."""
        return _PRINTF.get(self.kind)

    def text(self, value: object, missing: str = "-") -> str:
        """One value as report text ("12.3", "46%", "+0.44", "1,234", "yes")."""
        if _missing(value):
            return missing
        if self.kind == "count":
            return f"{round(float(value)):,}"  # type: ignore[arg-type]
        if self.kind in ("average", "seconds"):
            return f"{float(value):.1f}"  # type: ignore[arg-type]
        if self.kind == "share":
            return f"{float(value):.0%}"  # type: ignore[arg-type]
        if self.kind == "score":
            return f"{float(value):.2f}"  # type: ignore[arg-type]
        if self.kind == "index":
            return f"{float(value):+.2f}"  # type: ignore[arg-type]
        if self.kind == "flag":
            return "yes" if bool(value) else "no"
        if self.kind == "clock":
            return pd.Timestamp(value).strftime(CLOCK_FORMAT)  # type: ignore[arg-type]
        return str(value)


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


# Per expression (LABELS): machine name, label and kind, with {} for the expression.
_PER_EXPRESSION = (
    ("mean_{}", "{}, mean score", "score"),
    ("share_{}", "{} share (%)", "share"),
    ("watcher_share_{}", "{} share among watchers (%)", "share"),
)


def _expression_columns() -> list[Column]:
    return [
        Column(name.format(n), text.format(n.capitalize()), kind)
        for name, text, kind in _PER_EXPRESSION
        for n in LABELS
    ]


_TABLE: tuple[Column, ...] = (
    # What was measured, and how it was bucketed.
    Column("campaign", "Campaign", "text"),
    Column("stimulus", "Stimulus", "text"),
    Column("stimulus_kind", "Kind", "text"),
    Column("kind", "Kind", "text"),
    Column("bucket_s", "Bucket (s)", "seconds"),
    Column("bucket_offset_s", "Seconds since start", "seconds"),
    Column("bucket_ts", "Clock time", "clock"),
    Column("time_zone", "Time zone", "text"),
    Column("snapshot", "Snapshot camera", "flag"),
    # Counts (shown even where figures are withheld).
    Column("faces", "Faces", "count"),
    Column("people", "People", "count"),
    Column("people_shown", "People in the figures", "count"),
    Column("passers_by", "Passers-by", "count"),
    Column("watchers", "Watchers", "count"),
    Column("people_looking", "People looking", "count"),
    Column("people_per_snapshot", "People per snapshot", "average"),
    # Audience figures.
    Column("mean_attention_s", "Attention (s)", "seconds"),
    Column("mean_dwell_s", "Dwell (s)", "seconds"),
    Column("attraction", "Attraction (%)", "share"),
    Column("share_looking", "Looking (%)", "share"),
    Column("positive_share", "Positive share (%)", "share"),
    Column("expressiveness", "Expressiveness (%)", "share"),
    Column("valence", "Valence index", "index"),
    Column("valence_low", "Valence index, low (95 %)", "index"),
    Column("valence_high", "Valence index, high (95 %)", "index"),
    Column("top_expression", "Top expression", "text"),
    *_expression_columns(),
    # Privacy and provenance.
    Column("status", "Status", "text"),
    Column("suppressed", "Withheld (too few people)", "flag"),
    Column("min_crowd", "Minimum crowd (people)", "count"),
    Column("consented_study", "Consented study", "flag"),
    # A/B verdicts (``pipeline.audience.verdicts.verdict_table``).
    Column("metric", "Metric", "text"),
    Column("stimulus_a", "Stimulus A", "text"),
    Column("stimulus_b", "Stimulus B", "text"),
    Column("people_a", "People (A)", "count"),
    Column("people_b", "People (B)", "count"),
    Column("difference", "Difference (A minus B)", "difference"),
    Column("low", "Difference, low (95 %)", "difference"),
    Column("high", "Difference, high (95 %)", "difference"),
    Column("interval", "95 % interval", "text"),
    Column("winner", "Winner", "text"),
    Column("verdict", "Verdict", "text"),
    Column("version_note", "Version note", "text"),
    # Ingest jobs and kept uploads (the dashboard's Overview and Upload pages).
    Column("job_id", "Job", "count"),
    Column("job", "Job", "count"),
    Column("source", "Source", "text"),
    Column("input_name", "Input", "text"),
    Column("progress", "Progress (%)", "share"),
    Column("tracks", "Tracked faces", "count"),
    Column("problem", "Problem", "text"),
    Column("created_at", "Started (UTC)", "clock"),
    Column("file", "File", "text"),
    Column("size_mb", "Size (MB)", "average"),
)
COLUMNS: dict[str, Column] = {c.name: c for c in _TABLE}
# Internal keys: meaningless to a reader, kept in Parquet and JSON only.
MACHINE_ONLY = ("stimulus_id", "source_id")
_DIFFERENCES = ("difference", "low", "high")


def column(name: str) -> Column:
    """The human reading of ``name``; unknown columns keep their name as text (never lost)."""
    return COLUMNS.get(name, Column(name, name, "text"))


def label(name: str) -> str:
    return column(name).label


def human_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` for a spreadsheet: human headers, rounded numbers, shares in percent,
    yes/no flags, clock times to the minute, internal ids dropped, missing values empty.

    Numbers stay numbers (a spreadsheet can sum them). A/B verdict differences are printed
    in their metric's unit, named in a "Unit" column (``pipeline.audience.verdicts``).
    """
    out = pd.DataFrame(index=table.index)
    for name in table.columns:
        if name in MACHINE_ONLY:
            continue
        spec = column(name)
        values = table[name]
        if name in _DIFFERENCES and "metric" in table.columns:
            out[spec.label] = _differences(table, name)
            if name == "difference":
                out["Unit"] = [_metric_unit(str(m)) for m in table["metric"]]
            continue
        out[spec.label] = _rounded(values, spec.kind)
    return out.reset_index(drop=True)


def _rounded(values: pd.Series, kind: str) -> pd.Series:
    if kind == "count":
        return pd.to_numeric(values, errors="coerce").round().astype("Int64")
    if kind == "share":
        return (pd.to_numeric(values, errors="coerce") * 100).round(_DIGITS[kind])
    if kind in _DIGITS:
        return pd.to_numeric(values, errors="coerce").round(_DIGITS[kind])
    if kind == "flag":
        return values.map(lambda v: "" if _missing(v) else ("yes" if bool(v) else "no"))
    if kind == "clock":
        stamps = pd.to_datetime(values)
        return stamps.dt.strftime(CLOCK_FORMAT).fillna("")
    return values.map(lambda v: "" if _missing(v) else str(v))


def _metric_unit(metric: str) -> str:
    from pipeline.audience.verdicts import METRICS

    for m in METRICS:
        if m.label == metric:
            if m.percent:
                return "percentage points"
            return "seconds" if m.pattern.endswith(" s") else "index"
    return ""


def _differences(table: pd.DataFrame, name: str) -> pd.Series:
    """A verdict's difference in its metric's unit: points for shares, seconds, index."""
    from pipeline.audience.verdicts import METRICS

    by_label = {m.label: m for m in METRICS}
    out = []
    for metric, value in zip(table["metric"], table[name], strict=True):
        spec = by_label.get(str(metric))
        if _missing(value) or spec is None or not math.isfinite(float(value)):
            out.append(float("nan"))
        elif spec.percent:
            out.append(round(float(value) * 100, 1))
        else:
            out.append(round(float(value), 2))
    return pd.Series(out, index=table.index, dtype="float64")


def as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """Copy with the 0..1 share columns scaled to 0..100, for a dashboard "%" printf."""
    shares = [c for c in table.columns if column(c).kind == "share"]
    return table.assign(**{c: table[c] * 100 for c in shares})


def markdown_listing() -> str:
    """The mapping as a Markdown table (README's "Column names" section)."""
    units = {
        "text": "text",
        "count": "whole number",
        "average": "1 decimal",
        "seconds": "seconds, 1 decimal",
        "share": "percent, 1 decimal (a 0..1 fraction in Parquet)",
        "score": "0..1, 2 decimals",
        "index": "-1..+1, 2 decimals",
        "flag": "yes / no (true / false in Parquet)",
        "clock": "local time, to the minute",
        "difference": "in the metric's unit (column Unit): index 2 decimals, points 1",
    }
    per_expression = {name.format(n) for name, _, _ in _PER_EXPRESSION for n in LABELS}
    rows = [
        "| Column (Parquet, JSON, database) | Label (CSV, reports, dashboard) | Unit, rounding |",
        "| --- | --- | --- |",
    ]
    for spec in _TABLE:
        if spec.name in per_expression:
            continue
        unit = units[spec.kind]
        rows.append(f"| `{spec.name}` | {spec.label} | {unit} |")
    for name, text, kind in _PER_EXPRESSION:
        rows.append(
            f"| `{name.format('<expression>')}` | {text.format('<Expression>')} | {units[kind]} |"
        )
    rows.append(
        f"| {', '.join(f'`{n}`' for n in MACHINE_ONLY)} | (left out of the CSV) | internal ids |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_listing())
