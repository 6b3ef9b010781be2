"""Report tables: the per-stimulus summary and the campaign headline figures, privacy applied.

Both the dashboard and the reports build their tables here, so the minimum-crowd rule is
applied once and a number hidden on screen can never reappear in a download.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.emotion.labels import LABELS
from pipeline.privacy import suppress_small_buckets

# Columns of the summary a suppressed stimulus must not show beyond what
# ``suppress_small_buckets`` blanks (it knows series columns, not summary-only ones).
_SUMMARY_ONLY_FIGURES = ("positive_share",)

SUMMARY_COLUMNS: tuple[str, ...] = (
    "stimulus",
    "kind",
    "faces",
    "unique_viewers",
    "mean_dwell_s",
    "valence",
    "valence_low",
    "valence_high",
    "positive_share",
    "top_expression",
    "status",
)


def suppress_summary(summary: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """``queries.stimulus_summary`` with stimuli under ``min_crowd`` faces blanked.

    Returns a copy with a boolean ``suppressed`` column; face counts stay so a reader sees
    why a stimulus has no figures.
    """
    out = suppress_small_buckets(summary, min_crowd)
    for column in _SUMMARY_ONLY_FIGURES:
        if column in out.columns:
            out[column] = out[column].astype("float64")
            out.loc[out["suppressed"], column] = np.nan
    return out


def _top_expression(row: pd.Series) -> str:
    shares = {n: row.get(f"share_{n}") for n in LABELS}
    known = {n: float(v) for n, v in shares.items() if v is not None and not pd.isna(v)}
    return max(known, key=lambda n: known[n]) if known else ""


def stimulus_table(summary: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """One readable row per stimulus (SUMMARY_COLUMNS), for screens and reports.

    ``summary`` is ``queries.stimulus_summary``'s table; stimuli under ``min_crowd`` faces
    keep their face count and say "too few faces" instead of any figure. Valence is in
    [-1, 1], shares in [0, 1], dwell in seconds.
    """
    safe = suppress_summary(summary, min_crowd)
    table = pd.DataFrame(
        {
            "stimulus": safe["name"].astype(str),
            "kind": safe["kind"].astype(str),
            "faces": safe["faces"].astype("int64"),
            "unique_viewers": safe["unique_tracks"].astype("Int64"),
            "mean_dwell_s": safe["mean_dwell_s"].astype("float64"),
            "valence": safe["valence"].astype("float64"),
            "valence_low": safe["valence_low"].astype("float64"),
            "valence_high": safe["valence_high"].astype("float64"),
            "positive_share": safe["positive_share"].astype("float64"),
            "top_expression": [_top_expression(row) for _, row in safe.iterrows()],
            "status": np.where(safe["suppressed"], "too few faces", "ok"),
        }
    )
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class CampaignOverview:
    """Headline figures of one campaign; NaN / "" where the crowd is too small to say."""

    faces: int
    unique_viewers: int
    mean_dwell_s: float
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
    """Combine ``queries.campaign_kpis`` and ``stimulus_summary`` into the headline figures.

    Top and bottom stimulus are ranked by valence among stimuli with at least ``min_crowd``
    faces only; with a single eligible stimulus it is both top and bottom. Stimuli without
    any face are neither eligible nor counted as suppressed.
    """
    faces = int(kpis.get("faces", 0))
    small = faces < min_crowd
    nan = float("nan")
    with_data = summary[summary["faces"] > 0]
    eligible = with_data[(with_data["faces"] >= min_crowd) & with_data["valence"].notna()]
    ranked = eligible.sort_values(["valence", "name"], ascending=[False, True])
    top = ranked.iloc[0] if len(ranked) else None
    bottom = ranked.iloc[-1] if len(ranked) else None
    return CampaignOverview(
        faces=faces,
        unique_viewers=int(kpis.get("unique_viewers", 0)),
        mean_dwell_s=nan if small else _finite(kpis.get("mean_dwell_s")),
        positive_share=nan if small else _finite(kpis.get("positive_share")),
        top_stimulus="" if top is None else str(top["name"]),
        top_valence=nan if top is None else float(top["valence"]),
        bottom_stimulus="" if bottom is None else str(bottom["name"]),
        bottom_valence=nan if bottom is None else float(bottom["valence"]),
        eligible_stimuli=len(eligible),
        suppressed_stimuli=int(len(with_data) - len(eligible)),
    )


def _finite(value: float | None) -> float:
    if value is None:
        return float("nan")
    value = float(value)
    return value if math.isfinite(value) else float("nan")


def series_view(series: pd.DataFrame, min_crowd: int) -> pd.DataFrame:
    """A series as shown and exported: suppressed buckets blanked, ``suppressed`` flagged."""
    return suppress_small_buckets(series, min_crowd)


DISPLAY_HEADERS: tuple[str, ...] = (
    "Stimulus",
    "Kind",
    "Faces",
    "Unique viewers",
    "Mean dwell (s)",
    "Valence (95 % interval)",
    "Positive share",
    "Top expression",
)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``stimulus_table`` as text cells (DISPLAY_HEADERS) for the HTML and PDF reports.

    Suppressed stimuli read "too few faces" in every figure column, so a formatted report can
    never show a number the minimum-crowd rule removed.
    """
    rows = []
    for row in table.itertuples(index=False):
        hidden = row.status != "ok"
        few = "too few faces"
        rows.append(
            (
                row.stimulus,
                row.kind,
                f"{int(row.faces):,}",
                few if hidden or pd.isna(row.unique_viewers) else f"{int(row.unique_viewers):,}",
                few if hidden else _fmt(row.mean_dwell_s, "{:.1f}"),
                few
                if hidden
                else (
                    f"{_fmt(row.valence, '{:+.2f}')} "
                    f"[{_fmt(row.valence_low, '{:+.2f}')}, {_fmt(row.valence_high, '{:+.2f}')}]"
                ),
                few if hidden else _fmt(row.positive_share, "{:.0%}"),
                few if hidden else (row.top_expression or "-"),
            )
        )
    return pd.DataFrame(rows, columns=list(DISPLAY_HEADERS))


def _fmt(value: float, pattern: str) -> str:
    return "-" if value is None or pd.isna(value) else pattern.format(float(value))


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
