"""Static charts (matplotlib -> PNG bytes) for the PDF report.

The PDF needs images; kaleido would need a Chrome at run time, matplotlib needs nothing but
itself. The object API (``Figure``, no ``pyplot``) keeps no global state, so concurrent
dashboard sessions can render at once. Inputs are the same privacy-applied tables the
interactive charts take, and suppressed buckets are drawn the same way: grey, no numbers.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, TypeVar, cast

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from pipeline.emotion.labels import LABELS
from pipeline.privacy import count_column
from pipeline.reports.charts import OFFSET_AXIS, heat_cells, hour_span
from pipeline.reports.palette import (
    LABEL_COLOURS,
    SEGMENT_COLOURS,
    SUPPRESSED_COLOUR,
    SUPPRESSED_LABEL,
    VALENCE_COLOUR,
    VIEWERS_COLOUR,
    WEEKDAYS,
)

_DPI = 150
_Chart = TypeVar("_Chart", bound=Callable[..., Any])


def _plain_text(chart: _Chart) -> _Chart:
    """Draw user text (stimulus and segment names) as typed: Matplotlib reads a pair of ``$``
    as math, so "$5 off, now $4" came out in italics and a name like "$\\frac$" failed the
    whole PDF. Text objects take the setting when made, ticks also while drawing."""

    @functools.wraps(chart)
    def plain(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context({"text.parse_math": False}):
            return chart(*args, **kwargs)

    return cast(_Chart, plain)


@_plain_text
def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at the report's resolution (a 10 x 7 in timeline: 1500 x 1050 px)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def _x(series: pd.DataFrame, by_clock: bool) -> np.ndarray:
    if by_clock:
        return pd.to_datetime(series["bucket_ts"]).to_numpy()
    return series["bucket_offset_s"].to_numpy(dtype=float)


def _width(series: pd.DataFrame, by_clock: bool) -> object:
    bucket = float(series["bucket_s"].iloc[0])
    return pd.Timedelta(seconds=bucket).to_timedelta64() if by_clock else bucket


def _legend_beside(ax: Axes, handles: list[Artist]) -> None:
    """A legend right of ``ax``, outside its plot area: it can never cover data
    (constrained layout makes room for it)."""
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=7,
        frameon=False,
    )


@_plain_text
def timeline_chart(
    series: pd.DataFrame,
    *,
    by_clock: bool,
    mode: str = "lines",
    segments: pd.DataFrame | None = None,
    title: str = "",
    clock_title: str = "clock time",
) -> Figure:
    """The timeline as a matplotlib figure; legends sit right of the plots, never on data.

    series: privacy-applied ``pipeline.audience.read.series`` rows of one stimulus; mode
    "lines" (mean scores) or "share" (stacked shares of dominant expression).
    """
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[5, 3, 2])
    x = _x(series, by_clock)
    width = _width(series, by_clock)
    suppressed = series["suppressed"].to_numpy(dtype=bool)
    top, middle, bottom = axes
    centre = x + width / 2  # type: ignore[operator]
    if mode == "share":
        base = np.zeros(len(series))
        for label in LABELS:
            share = series[f"share_{label}"].fillna(0).to_numpy(dtype=float)
            top.bar(
                x,
                share,
                width=width,
                bottom=base,
                align="edge",
                label=label,
                color=LABEL_COLOURS[label],
                alpha=0.9,
            )
            base = base + share
        top.set_ylabel("share of faces")
    else:
        for label in LABELS:
            top.plot(
                centre,
                series[f"mean_{label}"].to_numpy(dtype=float),
                marker="o",
                markersize=2.5,
                color=LABEL_COLOURS[label],
                label=label,
                linewidth=1.6,
            )
        top.set_ylabel("mean score")
    top.set_ylim(0, 1)
    # Padded: an ad's segment names sit between the title and the plot.
    top.set_title(
        "Mean expression score" if mode == "lines" else "Share by dominant expression",
        fontsize=10,
        loc="left",
        pad=16 if segments is not None and len(segments) and not by_clock else 6,
    )
    valence = series["valence"].to_numpy(dtype=float)
    middle.fill_between(
        centre,
        series["valence_low"].to_numpy(dtype=float),
        series["valence_high"].to_numpy(dtype=float),
        color=VALENCE_COLOUR,
        alpha=0.18,
        linewidth=0,
        label="95 % interval",
    )
    middle.plot(
        centre, valence, color=VALENCE_COLOUR, marker="o", markersize=3, label="valence index"
    )
    middle.axhline(0, color="#999999", linewidth=0.8)
    middle.set_ylim(-1.05, 1.05)
    middle.set_title("Valence index (95 % interval)", fontsize=10, loc="left")
    _legend_beside(middle, middle.get_legend_handles_labels()[0])
    viewers = series[count_column(series)].astype("float64").fillna(0).to_numpy()
    bottom.bar(x, viewers, width=width, align="edge", color=VIEWERS_COLOUR, alpha=0.9)
    bottom.set_title("People", fontsize=10, loc="left")
    bottom.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))  # people come whole
    for ax in axes:
        for start, flagged in zip(x, suppressed, strict=True):
            if flagged:
                ax.axvspan(
                    start, start + width, color=SUPPRESSED_COLOUR, alpha=0.6, zorder=0, linewidth=0
                )
        ax.grid(alpha=0.25)
    if segments is not None and not by_clock:
        for i, segment in enumerate(segments.itertuples(index=False)):
            for ax in axes:
                ax.axvspan(
                    segment.start_s,
                    segment.end_s,
                    zorder=-1,
                    linewidth=0,
                    color=SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)],
                    alpha=0.6,
                )
                ax.axvline(segment.start_s, color="#888888", linewidth=0.8, linestyle=":")
            top.annotate(
                str(segment.name),
                xy=((segment.start_s + segment.end_s) / 2, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
            )
    handles = top.get_legend_handles_labels()[0]
    if suppressed.any():
        handles.append(Patch(color=SUPPRESSED_COLOUR, label=f"greyed: {SUPPRESSED_LABEL}"))
    _legend_beside(top, handles)
    if by_clock:
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
        bottom.set_xlabel(clock_title)
    else:
        bottom.set_xlabel(OFFSET_AXIS)
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    return fig


@_plain_text
def compare_chart(table: pd.DataFrame, title: str = "") -> Figure:
    """Valence per stimulus with 95 % intervals; suppressed stimuli as grey "too few people".

    table: ``tables.suppress_summary`` output (name, valence, valence_low, valence_high,
    suppressed).
    """
    height = max(2.5, 0.5 * len(table) + 1.5)
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.subplots()
    names = table["name"].astype(str).tolist()
    y = np.arange(len(names))
    for i, row in enumerate(table.itertuples(index=False)):
        if bool(row.suppressed) or pd.isna(row.valence):
            ax.barh(i, 0.08, left=-0.04, color=SUPPRESSED_COLOUR)
            ax.text(0.08, i, SUPPRESSED_LABEL, va="center", fontsize=9, color="#666666")
        else:
            ax.barh(
                i,
                row.valence,
                color=VALENCE_COLOUR,
                xerr=[[row.valence - row.valence_low], [row.valence_high - row.valence]],
                capsize=4,
                ecolor="#333333",
            )
            ax.text(
                row.valence_high + 0.03 if row.valence >= 0 else row.valence_low - 0.03,
                i,
                f"{row.valence:+.2f}",
                va="center",
                ha="left" if row.valence >= 0 else "right",
                fontsize=9,
            )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(-1.05, 1.05)
    ax.axvline(0, color="#999999", linewidth=0.8)
    ax.set_xlabel("valence index (share positive minus share negative expressions)")
    ax.grid(axis="x", alpha=0.25)
    ax.set_title(title or "Valence index per stimulus (95 % interval)", fontsize=11, loc="left")
    return fig


@_plain_text
def heatmap_chart(table: pd.DataFrame, title: str = "") -> Figure:
    """Valence per weekday x hour (``pipeline.audience.read.hour_weekday`` after suppression);
    the numbers are people, never faces."""
    span = hour_span(table)
    valence, grey_cells, text, _ = heat_cells(table, list(range(1, 8)), list(span), "too few")
    grey = ~np.isnan(grey_cells)
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("#f4f4f4")  # empty cells differ from a white valence of 0
    ax.imshow(np.where(grey, 1.0, np.nan), cmap=_grey_map(), vmin=0, vmax=1, aspect="auto")
    image = ax.imshow(valence, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for (d, h), label in np.ndenumerate(text):
        if label:
            ax.text(h, d, label, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(span)), [f"{h:02d}:00" for h in span], fontsize=7)
    ax.set_yticks(range(7), list(WEEKDAYS), fontsize=8)
    ax.set_xlabel("hour of day (numbers: people)")
    fig.colorbar(image, ax=ax, label="valence index", shrink=0.9)
    ax.set_title(title or "Valence by hour and weekday", fontsize=11, loc="left")
    return fig


def _grey_map() -> ListedColormap:
    return ListedColormap([SUPPRESSED_COLOUR])
