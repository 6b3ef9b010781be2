"""Report tables: the per-stimulus summary and the campaign headline figures, privacy applied.

Both the dashboard and the reports build their tables here from ``pipeline.audience``'s
tables (already withheld on the base grid), so a number hidden on screen can never reappear in
a download.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.emotion.labels import LABELS
from pipeline.privacy import count_column, suppress_small_buckets

FEW = "too few people"
NOT_AVAILABLE = "not available"

SUMMARY_COLUMNS: tuple[str, ...] = (
    "stimulus",
    "kind",
    "faces",
    "people",
    "watchers",
    "mean_attention_s",
    "mean_dwell_s",
    "attraction",
    "valence",
    "valence_low",
    "valence_high",
    "positive_share",
    "share_looking",
    "top_expression",
    "status",
)


def _column(table: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` present in ``table`` as floats, else NaN (older tables)."""
    for name in names:
        if name in table.columns:
            return table[name].astype("float64")
    return pd.Series(np.nan, index=table.index, dtype="float64")


def suppress_summary(summary: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """A stimulus summary with stimuli under ``min_crowd`` people (or withheld on the base
    grid) blanked; a boolean ``suppressed`` column; counts stay to explain the gap."""
    out = suppress_small_buckets(summary, min_crowd)
    out["positive_share"] = _column(out, "positive_share", "share_happiness")
    out.loc[out["suppressed"], "positive_share"] = np.nan
    return out


def _top_expression(row: pd.Series) -> str:
    shares = {n: row.get(f"share_{n}") for n in LABELS}
    known = {n: float(v) for n, v in shares.items() if v is not None and not pd.isna(v)}
    return max(known, key=lambda n: known[n]) if known else ""


def stimulus_table(summary: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """One readable row per stimulus (SUMMARY_COLUMNS), for screens and reports.

    ``summary`` is ``pipeline.audience.read.stimulus_summary``'s table. Stimuli under
    ``min_crowd`` people keep their counts and say "too few people" instead of any figure.
    ``people``: distinct people for footage; for snapshot cameras the most faces in one
    snapshot. Watchers and attention are NaN while head pose is unknown; valence is in
    [-1, 1], shares in [0, 1], seconds for attention and dwell.
    """
    safe = suppress_summary(summary, min_crowd)
    table = pd.DataFrame(
        {
            "stimulus": safe["name"].astype(str),
            "kind": safe["kind"].astype(str),
            "faces": safe["faces"].astype("int64"),
            "people": safe[count_column(safe)].astype("Int64"),
            "watchers": _column(safe, "watchers"),
            "mean_attention_s": _column(safe, "mean_attention_s"),
            "mean_dwell_s": _column(safe, "mean_dwell_s"),
            "attraction": _column(safe, "attraction"),
            "valence": _column(safe, "valence"),
            "valence_low": _column(safe, "valence_low"),
            "valence_high": _column(safe, "valence_high"),
            "positive_share": _column(safe, "positive_share"),
            "share_looking": _column(safe, "share_looking"),
            "top_expression": [_top_expression(row) for _, row in safe.iterrows()],
            "status": np.where(safe["suppressed"], FEW, "ok"),
        }
    )
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class CampaignOverview:
    """Headline figures of one campaign; NaN / "" where the crowd is too small to say."""

    faces: int
    people: int
    watchers: float
    mean_attention_s: float
    mean_dwell_s: float
    attraction: float
    positive_share: float
    top_stimulus: str
    top_valence: float
    bottom_stimulus: str
    bottom_valence: float
    eligible_stimuli: int
    suppressed_stimuli: int


def campaign_overview(
    kpis: dict[str, float], summary: pd.DataFrame, min_crowd: int
) -> CampaignOverview:
    """Combine ``audience.read.campaign_kpis`` and ``stimulus_summary`` into headline figures.

    Top and bottom stimulus are ranked by valence among stimuli shown at ``min_crowd``
    people only; with a single eligible stimulus it is both top and bottom. Stimuli without
    any face are neither eligible nor counted as suppressed.
    """
    people = int(kpis.get("people", kpis.get("unique_viewers", 0)) or 0)
    small = people < min_crowd or bool(kpis.get("suppressed", False))
    nan = float("nan")
    safe = suppress_summary(summary, min_crowd)
    with_data = safe[safe["faces"] > 0]
    eligible = with_data[~with_data["suppressed"] & with_data["valence"].notna()]
    ranked = eligible.sort_values(["valence", "name"], ascending=[False, True])
    top = ranked.iloc[0] if len(ranked) else None
    bottom = ranked.iloc[-1] if len(ranked) else None

    def figure(*names: str) -> float:
        for name in names:
            if name in kpis:
                return nan if small else _finite(kpis[name])
        return nan

    return CampaignOverview(
        faces=int(kpis.get("faces", 0)),
        people=people,
        watchers=figure("watchers"),
        mean_attention_s=figure("mean_attention_s"),
        mean_dwell_s=figure("mean_dwell_s"),
        attraction=figure("attraction"),
        positive_share=figure("share_happiness", "positive_share"),
        top_stimulus="" if top is None else str(top["name"]),
        top_valence=nan if top is None else float(top["valence"]),
        bottom_stimulus="" if bottom is None else str(bottom["name"]),
        bottom_valence=nan if bottom is None else float(bottom["valence"]),
        eligible_stimuli=len(eligible),
        suppressed_stimuli=int(len(with_data) - len(eligible)),
    )


def _finite(value: object) -> float:
    if value is None:
        return float("nan")
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else float("nan")


def series_view(series: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """A series as shown and exported: suppressed buckets blanked, ``suppressed`` flagged."""
    return suppress_small_buckets(series, min_crowd)


DISPLAY_HEADERS: tuple[str, ...] = (
    "Stimulus",
    "Kind",
    "Faces",
    "People",
    "Watchers",
    "Attention (s)",
    "Dwell (s)",
    "Attraction",
    "Valence (95 % interval)",
    "Positive share",
    "Top expression",
)


def valence_text(value: float, low: float, high: float) -> str:
    """ "+0.43 [+0.35, +0.51]", or the value and "too few people for a band"."""
    if value is None or pd.isna(value):
        return "-"
    if low is None or pd.isna(low) or high is None or pd.isna(high):
        return f"{value:+.2f} ({FEW} for a band)"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``stimulus_table`` as text cells (DISPLAY_HEADERS) for the HTML and PDF reports.

    Suppressed stimuli read "too few people" in every figure column, so a formatted report
    can never show a number the minimum-crowd rule removed; looking-based figures read "not
    available" while head pose is unknown (never a guess).
    """
    rows = []
    for row in table.itertuples(index=False):
        hidden = row.status != "ok"
        rows.append(
            (
                row.stimulus,
                row.kind,
                f"{int(row.faces):,}",
                "-" if pd.isna(row.people) else f"{int(row.people):,}",
                FEW if hidden else _fmt(row.watchers, "{:.0f}", NOT_AVAILABLE),
                FEW if hidden else _fmt(row.mean_attention_s, "{:.1f}", NOT_AVAILABLE),
                FEW if hidden else _fmt(row.mean_dwell_s, "{:.1f}", NOT_AVAILABLE),
                FEW if hidden else _fmt(row.attraction, "{:.0%}", NOT_AVAILABLE),
                FEW if hidden else valence_text(row.valence, row.valence_low, row.valence_high),
                FEW if hidden else _fmt(row.positive_share, "{:.0%}"),
                FEW if hidden else (row.top_expression or "-"),
            )
        )
    return pd.DataFrame(rows, columns=list(DISPLAY_HEADERS))


def _fmt(value: float, pattern: str, missing: str = "-") -> str:
    return missing if value is None or pd.isna(value) else pattern.format(float(value))


def bucket_label(seconds: float) -> str:
    """A bucket size for people: "0.5 s", "1 s", "15 min", "1 h", "1 day"."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def kpi_cells(overview: CampaignOverview, stimuli: int) -> list[tuple[str, str]]:
    """(label, text) headline cells shared by the HTML and PDF reports."""

    def num(value: float, pattern: str, missing: str = FEW) -> str:
        return missing if value is None or pd.isna(value) else pattern.format(value)

    few_people = overview.people == 0 or pd.isna(overview.positive_share)
    looking_missing = FEW if few_people else NOT_AVAILABLE
    cells = [
        ("faces analysed", f"{overview.faces:,}"),
        ("people", f"{overview.people:,}"),
        ("watchers", num(overview.watchers, "{:,.0f}", looking_missing)),
        ("mean attention", num(overview.mean_attention_s, "{:.1f} s", looking_missing)),
        ("mean dwell", num(overview.mean_dwell_s, "{:.1f} s", looking_missing)),
        ("attraction", num(overview.attraction, "{:.0%}", looking_missing)),
        ("positive share", num(overview.positive_share, "{:.0%}")),
    ]
    if overview.top_stimulus and stimuli > 1:
        cells += [
            ("top stimulus (valence)", f"{overview.top_stimulus} ({overview.top_valence:+.2f})"),
            (
                "bottom stimulus (valence)",
                f"{overview.bottom_stimulus} ({overview.bottom_valence:+.2f})",
            ),
        ]
    return cells


SEGMENT_HEADERS = ("Segment", "Seconds", "People", "Valence (95 % interval)", "Peak moment")


def segment_display(summary: pd.DataFrame | None) -> pd.DataFrame:
    """Per ad segment as text: people, valence with its band, the peak second."""
    rows = []
    for row in (summary if summary is not None else pd.DataFrame()).itertuples(index=False):
        hidden = bool(getattr(row, "suppressed", True)) or pd.isna(getattr(row, "valence", None))
        peak = getattr(row, "peak_s", float("nan"))
        rows.append(
            (
                row.name,
                f"{row.start_s:g}-{row.end_s:g}",
                "-" if pd.isna(getattr(row, "people", None)) else f"{int(row.people):,}",
                FEW if hidden else valence_text(row.valence, row.valence_low, row.valence_high),
                FEW if hidden or pd.isna(peak) else f"{peak:g} s (valence {row.peak_valence:+.2f})",
            )
        )
    return pd.DataFrame(rows, columns=list(SEGMENT_HEADERS))


def verdict_display(verdicts: pd.DataFrame, compared_only: bool = False) -> pd.DataFrame:
    """A/B verdict sentences, one per metric and pair, as a one-column text table;
    ``compared_only`` leaves out pairs with too few people or an unmeasured metric (the
    reports count them in one line instead, see ``not_compared``)."""
    if verdicts is None or verdicts.empty:
        return pd.DataFrame(columns=["Verdict"])
    if compared_only:
        verdicts = verdicts[verdicts["difference"].notna()]
    return pd.DataFrame({"Verdict": verdicts["verdict"].astype(str)}).reset_index(drop=True)


def not_compared(verdicts: pd.DataFrame) -> str:
    """One line for the comparisons that could not be made, or ""."""
    if verdicts is None or verdicts.empty:
        return ""
    left = verdicts[verdicts["difference"].isna()]
    if left.empty:
        return ""
    metrics = ", ".join(dict.fromkeys(left["metric"].astype(str)))
    return (
        f"{len(left)} comparison{'s' if len(left) != 1 else ''} could not be made (too few "
        f"people, or not measured): {metrics}. The verdicts CSV lists each."
    )
