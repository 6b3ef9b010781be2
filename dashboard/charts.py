"""Dashboard-only figures: pure functions from privacy-applied tables to plotly figures.

No ``st.*`` here, so plain pytest covers them. Shared figures (the timeline, compare bars,
small multiples) live in ``pipeline.reports.charts``; these are the ones only the dashboard
draws: the audience overview, the verdict chart and a heatmap trimmed to the hours with
footage. Legends sit below the plot, never over data; user-supplied names are escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.reports.charts import heat_cells, interval_bars, plain
from pipeline.reports.palette import SUPPRESSED_COLOUR, VALENCE_COLOUR

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Qualitative colours per stimulus (colour-blind safe, Okabe-Ito).
STIMULUS_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "xanchor": "left"}


def _empty(message: str, height: int = 160) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, template="plotly_white", margin={"t": 20, "b": 20})
    return fig


def hour_window(hours: list[int]) -> list[int]:
    """The shortest run of clock hours (0-23, wrapping past midnight) that holds ``hours``:
    a shop open 18:00-03:00 reads 18:00 ... 02:00, not a day of empty columns."""
    present = sorted(set(int(h) % 24 for h in hours))
    if not present:
        return []
    gaps = [((present[(i + 1) % len(present)] - h - 1) % 24, i) for i, h in enumerate(present)]
    _, before = max(gaps)  # the longest stretch without footage ends the window
    start = present[(before + 1) % len(present)]
    length = (present[before] - start) % 24 + 1
    return [(start + i) % 24 for i in range(length)]


def hour_weekday_heatmap(table: pd.DataFrame, zone: str, title: str = "") -> go.Figure:
    """Valence per hour of day (local time of ``zone``) and weekday, trimmed to the hours and
    weekdays with footage; numbers are people, grey cells have too few people.

    table: ``audience.hour_weekday`` after ``series_view`` (weekday 1-7, hour 0-23, people,
    valence, suppressed).
    """
    if table.empty:
        return _empty("No footage with a clock time in this selection.")
    hours = hour_window(list(table["hour"]))
    days = sorted(int(d) for d in table["weekday"].unique())
    valence, grey, text, people = heat_cells(table, days, hours, "few")
    x = [f"{h:02d}:00" for h in hours]
    y = [WEEKDAY_NAMES[d - 1] for d in days]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=grey,
            x=x,
            y=y,
            colorscale=[[0, SUPPRESSED_COLOUR], [1, SUPPRESSED_COLOUR]],
            showscale=False,
            hoverinfo="skip",
            xgap=2,
            ygap=2,
            name="too few people",
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=valence,
            x=x,
            y=y,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            colorbar={"title": {"text": "Valence"}, "thickness": 12},
            text=text,
            customdata=people,
            texttemplate="%{text}",
            hovertemplate="%{y} %{x}: valence %{z:+.2f}, %{customdata:.0f} people<extra></extra>",
            xgap=2,
            ygap=2,
            name="valence index",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="")
    fig.update_xaxes(title_text=f"Hour of day ({plain(zone)})", type="category")
    fig.update_layout(
        title={"text": plain(title) or "Valence by hour and weekday (numbers: people)"},
        height=140 + 42 * len(days),
        template="plotly_white",
        margin={"t": 50, "l": 90, "r": 20, "b": 50},
    )
    return fig


def audience_figure(
    panels: list[tuple[str, pd.DataFrame]], *, by_clock: bool, axis_title: str, title: str
) -> go.Figure:
    """People (top) and valence index (bottom) over time, one line per stimulus.

    panels: (stimulus name, privacy-applied series with ``bucket_ts`` or ``bucket_offset_s``,
    ``people``, ``valence``, ``suppressed``); clock series should carry gap rows
    (``clock.with_gaps``) so lines break where there was no footage.
    """
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.45, 0.55],
        vertical_spacing=0.08,
        subplot_titles=(
            "People per bucket",
            "Valence index (buckets with too few people left out)",
        ),
    )
    for i, (name, series) in enumerate(panels):
        if series.empty:
            continue
        colour = STIMULUS_COLOURS[i % len(STIMULUS_COLOURS)]
        x = series["bucket_ts"] if by_clock else series["bucket_offset_s"].astype(float)
        shown = ~series["suppressed"].astype(bool)
        people = series["people"].astype(float)  # counts stay: they explain a withheld gap
        valence = series["valence"].astype(float).where(shown)
        label = plain(name)
        for row, values, fmt in ((1, people, "%{y:.0f} people"), (2, valence, "%{y:+.2f}")):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=values,
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colour, "width": 2},
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    connectgaps=False,
                    # The trace's name, not pasted in: a name holding "%{y}" is shown as is.
                    hovertemplate=f"%{{fullData.name}}: {fmt}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(title_text="people", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="valence", range=[-1.05, 1.05], zeroline=True, row=2, col=1)
    fig.update_xaxes(title_text=plain(axis_title), row=2, col=1)
    fig.update_layout(
        title={"text": plain(title)},
        height=460,
        template="plotly_white",
        hovermode="x unified",
        legend=_LEGEND_BELOW | {"y": -0.16},
        margin={"t": 70, "l": 60, "r": 20, "b": 90},
    )
    return fig


def verdict_figure(table: pd.DataFrame, metric: str = "valence index") -> go.Figure:
    """One row per pair of stimuli: the difference on ``metric`` with its 95 % interval.

    table: ``verdicts.verdict_table`` rows. Winners are drawn in colour, "no clear
    difference" in grey; pairs with too few people are left out (their sentence says so).
    """
    rows = table[(table["metric"] == metric) & table["difference"].notna()]
    if rows.empty:
        return _empty(f"No pair of stimuli has enough people to compare {metric}.", 120)
    labels = [
        f"{plain(a)} vs {plain(b)}"
        for a, b in zip(rows["stimulus_a"], rows["stimulus_b"], strict=True)
    ]
    clear = rows["winner"].astype(str) != ""
    colours = [VALENCE_COLOUR if c else SUPPRESSED_COLOUR for c in clear]
    fig = go.Figure(
        go.Scatter(
            x=rows["difference"],
            y=labels,
            mode="markers",
            marker={"size": 11, "color": colours, "line": {"color": "#333333", "width": 1}},
            error_x=interval_bars(rows["difference"], rows["low"], rows["high"], "#555555"),
            customdata=np.stack([rows["low"], rows["high"]], axis=-1),
            hovertemplate=(
                "%{y}: %{x:+.2f} [%{customdata[0]:+.2f}, %{customdata[1]:+.2f}]<extra></extra>"
            ),
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line={"color": "#888888", "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text=f"Difference in {metric} (first minus second, 95 % interval)")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        height=110 + 38 * len(rows),
        template="plotly_white",
        margin={"t": 20, "l": 20, "r": 20, "b": 50},
    )
    return fig
