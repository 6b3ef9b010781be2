"""Interactive charts (plotly): pure functions from privacy-applied tables to figures.

Every function takes tables that already went through the minimum-crowd rule (a
``suppressed`` column, blanked figures) and draws suppressed buckets or stimuli as grey
"too few people" areas, never their numbers. The dashboard and the HTML report call these.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.emotion.labels import LABELS
from pipeline.privacy import count_column
from pipeline.reports.palette import (
    BAND_RGBA,
    LABEL_COLOURS,
    SEGMENT_COLOURS,
    SUPPRESSED_COLOUR,
    SUPPRESSED_LABEL,
    VALENCE_COLOUR,
    VIEWERS_COLOUR,
    WEEKDAYS,
)

TIMELINE_MODES = ("lines", "share")
# Legends sit right of the plotting area (paper x > 1), where they can never cover data.
LEGEND_BESIDE = {"x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}
OFFSET_AXIS = "seconds since the start of the footage"
_CLOCK_AXIS = "clock time"


def interval_bars(
    value: pd.Series, low: pd.Series, high: pd.Series, colour: str
) -> dict[str, object]:
    """Plotly error bars that draw the interval [low, high] around ``value``: Plotly wants
    the two arms' lengths, not the ends, and they differ for an asymmetric interval."""
    return {
        "type": "data",
        "symmetric": False,
        "array": (high - value).to_numpy(),
        "arrayminus": (value - low).to_numpy(),
        "color": colour,
    }


def plain(text: object) -> str:
    """A user-supplied name as Plotly text: Plotly renders tags like <a href> and <b>."""
    return html.escape(str(text), quote=False)


def _x_values(series: pd.DataFrame, by_clock: bool) -> pd.Series:
    """Bucket starts: timestamps (clock) or seconds since the start of the footage."""
    return series["bucket_ts"] if by_clock else series["bucket_offset_s"].astype("float64")


def _centres(series: pd.DataFrame, by_clock: bool) -> tuple[pd.Series, float]:
    """Bucket centres (where a bucket's value is drawn) and the bar width in axis units
    (seconds, or milliseconds on a date axis)."""
    if series.empty:
        return _x_values(series, by_clock), 1.0
    bucket = float(series["bucket_s"].iloc[0])
    if by_clock:
        starts = pd.to_datetime(series["bucket_ts"])
        return starts + pd.Timedelta(seconds=bucket / 2), bucket * 1000.0
    return series["bucket_offset_s"].astype("float64") + bucket / 2, bucket


def _bucket_end(start: object, bucket_s: float, by_clock: bool) -> object:
    if by_clock:
        return pd.Timestamp(start) + pd.Timedelta(seconds=bucket_s)
    return float(start) + bucket_s  # type: ignore[arg-type]


def _suppressed_runs(series: pd.DataFrame, by_clock: bool) -> list[tuple[object, object]]:
    """(start, end) of each run of consecutive suppressed buckets, in x-axis units."""
    if "suppressed" not in series.columns or series.empty:
        return []
    bucket_s = float(series["bucket_s"].iloc[0])
    x = list(_x_values(series, by_clock))
    runs: list[tuple[object, object]] = []
    for start, flagged in zip(x, series["suppressed"].astype(bool), strict=True):
        if not flagged:
            continue
        end = _bucket_end(start, bucket_s, by_clock)
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def _band_polygons(
    x: pd.Series, low: pd.Series, high: pd.Series
) -> tuple[list[object], list[object]]:
    """The 95 % band as closed polygons, one per run of consecutive buckets that have a band,
    separated by None. ``fill="toself"`` closes each run on its own, so no band is drawn
    across withheld buckets or nights without footage (``fill="tonexty"`` would bridge them)."""
    xs: list[object] = []
    ys: list[object] = []
    xv = list(x)
    lo = low.to_numpy(dtype=float)
    hi = high.to_numpy(dtype=float)
    has_band = ~(np.isnan(lo) | np.isnan(hi))
    i = 0
    while i < len(xv):
        if not has_band[i]:
            i += 1
            continue
        j = i
        while j < len(xv) and has_band[j]:
            j += 1
        run = list(range(i, j))
        if xs:
            xs.append(None)
            ys.append(None)
        xs += [xv[k] for k in run] + [xv[k] for k in reversed(run)]
        ys += [float(hi[k]) for k in run] + [float(lo[k]) for k in reversed(run)]
        i = j
    return xs, ys


def _band_trace(x: pd.Series, series: pd.DataFrame, name: str) -> go.Scatter:
    """The valence band of ``series`` at ``x`` (bucket centres) as one filled trace."""
    xs, ys = _band_polygons(x, series["valence_low"], series["valence_high"])
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"width": 0},
        fill="toself",
        fillcolor=BAND_RGBA,
        name=name,
        hoverinfo="skip",
    )


def _legend_swatch(fig: go.Figure, name: str, colour: str) -> None:
    """A legend-only entry (no data) explaining a coloured area."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"size": 12, "symbol": "square", "color": colour},
            name=name,
            hoverinfo="skip",
        )
    )


def _looking(series: pd.DataFrame) -> pd.Series | None:
    """People looking per bucket, or None while head pose is unknown (nothing is drawn)."""
    if "people_looking" not in series.columns:
        return None
    looking = series["people_looking"].astype("float64")
    return looking if looking.notna().any() else None


def timeline_figure(
    series: pd.DataFrame,
    *,
    by_clock: bool,
    mode: str = "lines",
    segments: pd.DataFrame | None = None,
    title: str = "",
    clock_title: str = _CLOCK_AXIS,
) -> go.Figure:
    """Reaction timeline of one stimulus: expressions, valence with its 95 % band, viewers.

    series: ``pipeline.audience.read.series`` after ``suppress_small_buckets`` (one row per bucket,
    x = ``bucket_offset_s`` seconds since the start for ads, ``bucket_ts`` for clock time).
    mode: "lines" draws the mean score of each expression (0..1); "share" stacks the share of
    faces whose dominant expression it is (sums to 1 per bucket).
    segments: the ad's named segments (name, start_s, end_s), drawn as bands; offset only.
    clock_title: the clock axis title, naming the time zone (``audience.clock.axis_title``).
    """
    if mode not in TIMELINE_MODES:
        raise ValueError(f"mode must be one of {TIMELINE_MODES}, not {mode!r}")
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.5, 0.3, 0.2],
        vertical_spacing=0.06,
        # Row 1 has no title: the segment names of an ad sit above it.
        subplot_titles=(
            "",
            "Valence index (95 % interval)",
            "People" if _looking(series) is None else "People (and people looking)",
        ),
    )
    x, width = _centres(series, by_clock)
    for label in LABELS:
        if mode == "lines":
            trace = go.Scatter(
                x=x,
                y=series[f"mean_{label}"],
                mode="lines+markers",
                name=label,
                line={"color": LABEL_COLOURS[label], "width": 2},
                marker={"size": 4},
                legendgroup="expressions",
                hovertemplate="%{y:.2f}",
            )
        else:
            trace = go.Bar(
                x=x,
                y=series[f"share_{label}"],
                width=width,
                name=label,
                marker={"color": LABEL_COLOURS[label], "line": {"width": 0}},
                legendgroup="expressions",
                hovertemplate="%{y:.0%}",
            )
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(_band_trace(x, series, "95 % interval"), row=2, col=1)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=series["valence"],
            mode="lines+markers",
            name="valence index",
            line={"color": VALENCE_COLOUR, "width": 2.5},
            marker={"size": 5},
            hovertemplate="%{y:+.2f}",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=series[count_column(series)].astype("float64"),
            width=width,
            name="people",
            marker={"color": VIEWERS_COLOUR},
            customdata=series["faces"],
            hovertemplate="%{y} people, %{customdata} faces<extra></extra>",
        ),
        row=3,
        col=1,
    )
    looking = _looking(series)
    if looking is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=looking,
                mode="lines+markers",
                name="people looking",
                line={"color": VALENCE_COLOUR, "width": 1.5},
                marker={"size": 4},
                hovertemplate="%{y} people looking<extra></extra>",
            ),
            row=3,
            col=1,
        )
    if segments is not None and not by_clock:
        _add_segments(fig, segments)
    runs = _suppressed_runs(series, by_clock)
    for start, end in runs:
        fig.add_vrect(
            x0=start,
            x1=end,
            fillcolor=SUPPRESSED_COLOUR,
            opacity=0.55,
            line_width=0,
            layer="below",
            row="all",
            col=1,
        )
    if runs:
        _legend_swatch(fig, f"greyed: {SUPPRESSED_LABEL}", SUPPRESSED_COLOUR)
    fig.update_yaxes(
        range=[0, 1],
        tickformat=".0%" if mode == "share" else ".2f",
        title_text="share of faces" if mode == "share" else "mean score",
        row=1,
        col=1,
    )
    fig.update_yaxes(range=[-1.05, 1.05], zeroline=True, title_text="valence", row=2, col=1)
    fig.update_yaxes(rangemode="tozero", title_text="people", row=3, col=1)
    fig.update_xaxes(title_text=plain(clock_title) if by_clock else OFFSET_AXIS, row=3, col=1)
    fig.update_layout(
        title={"text": plain(title)},
        height=720,
        template="plotly_white",
        hovermode="x unified",
        barmode="stack",
        legend={"tracegroupgap": 12, "traceorder": "grouped", **LEGEND_BESIDE},
        margin={"t": 90, "l": 60, "r": 20, "b": 50},
        bargap=0.1,
    )
    return fig


def _add_segments(fig: go.Figure, segments: pd.DataFrame) -> None:
    """Named ad segments: light bands on every row, boundary lines, names above the top row."""
    for i, segment in enumerate(segments.itertuples(index=False)):
        start, end = float(segment.start_s), float(segment.end_s)
        fig.add_vrect(
            x0=start,
            x1=end,
            fillcolor=SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)],
            opacity=0.5,
            line_width=0,
            layer="below",
            row="all",
            col=1,
        )
        fig.add_vline(x=start, line={"color": "#888888", "width": 1, "dash": "dot"})
        fig.add_annotation(
            x=(start + end) / 2,
            y=1.0,
            xref="x",
            yref="paper",
            yanchor="bottom",
            text=f"<b>{plain(segment.name)}</b>",
            showarrow=False,
            font={"size": 12},
        )


def hour_span(table: pd.DataFrame) -> range:
    """The hours of day from the first to the last with footage (all 24 when none): a shop
    open 9-19 gets a readable 11-column heatmap, not 24 columns mostly empty."""
    if table.empty:
        return range(24)
    return range(int(table["hour"].min()), int(table["hour"].max()) + 1)


def heat_cells(
    table: pd.DataFrame, days: list[int], hours: list[int], few: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A weekday x hour table as grids (rows ``days``, columns ``hours``): valence, grey (0
    where suppressed, else NaN), cell text (people, or ``few`` where suppressed) and people.

    table: weekday 1-7, hour 0-23, people, valence, suppressed; every row's day and hour
    must be in ``days`` and ``hours``.
    """
    shape = (len(days), len(hours))
    valence, grey, people = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    text = np.full(shape, "", dtype=object)
    for row in table.itertuples(index=False):
        d, h = days.index(int(row.weekday)), hours.index(int(row.hour))
        if bool(getattr(row, "suppressed", False)):
            grey[d, h] = 0.0
            text[d, h] = few
        else:
            valence[d, h] = float(row.valence)
            people[d, h] = float(row.people)
            text[d, h] = f"{int(row.people)}"
    return valence, grey, text, people


def hour_weekday_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Valence index per hour of day (x, the hours with footage) and ISO weekday (y, Mon-Sun).

    table: ``pipeline.audience.read.hour_weekday`` after ``suppress_small_buckets``; cells
    without faces are blank, suppressed cells grey with "too few people". Numbers and hover
    count people (the unit of every audience figure; a snapshot camera's most faces in one
    snapshot), never faces.
    """
    span = hour_span(table)
    valence, grey, text, people = heat_cells(table, list(range(1, 8)), list(span), "too few")
    hours = [f"{h:02d}:00" for h in span]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=grey,
            x=hours,
            y=list(WEEKDAYS),
            colorscale=[[0, SUPPRESSED_COLOUR], [1, SUPPRESSED_COLOUR]],
            showscale=False,
            hoverinfo="skip",
            name=SUPPRESSED_LABEL,
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=valence,
            x=hours,
            y=list(WEEKDAYS),
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            colorbar={"title": {"text": "valence"}},
            text=text,
            customdata=people,
            texttemplate="%{text}",
            hovertemplate=(
                "%{y} %{x}: valence index %{z:+.2f}, %{customdata:.0f} people<extra></extra>"
            ),
            name="valence index",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title={"text": plain(title) or "Valence by hour and weekday (numbers: people)"},
        height=340,
        template="plotly_white",
        margin={"t": 60, "l": 50, "r": 20, "b": 40},
    )
    return fig


def compare_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Stimuli side by side: valence with 95 % interval (left) and mean scores (right).

    table: ``tables.stimulus_table`` joined with the mean scores, i.e. the suppressed summary
    (``tables.suppress_summary``) with columns name, valence, valence_low, valence_high,
    mean_<label>, suppressed. Suppressed stimuli appear greyed as "too few people".
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.4, 0.6],
        horizontal_spacing=0.1,
        subplot_titles=("Valence index (95 % interval)", "Mean expression score"),
    )
    shown = table[~table["suppressed"].astype(bool)]
    hidden = table[table["suppressed"].astype(bool)]
    fig.add_trace(
        go.Bar(
            x=shown["name"].map(plain),
            y=shown["valence"],
            error_y=interval_bars(
                shown["valence"], shown["valence_low"], shown["valence_high"], "#333333"
            ),
            marker={"color": VALENCE_COLOUR},
            name="valence index",
            hovertemplate="%{x}: %{y:+.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if len(hidden):
        fig.add_trace(
            go.Bar(
                x=hidden["name"].map(plain),
                y=[0.08] * len(hidden),
                base=[-0.04] * len(hidden),
                marker={"color": SUPPRESSED_COLOUR},
                text=[SUPPRESSED_LABEL] * len(hidden),
                textposition="outside",
                name=SUPPRESSED_LABEL,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    for stimulus in shown.itertuples(index=False):
        fig.add_trace(
            go.Bar(
                x=list(LABELS),
                y=[float(getattr(stimulus, f"mean_{n}")) for n in LABELS],
                name=plain(stimulus.name),
                hovertemplate="%{x}: %{y:.2f}",
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(range=[-1.05, 1.05], row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(
        title={"text": plain(title)},
        barmode="group",
        height=420,
        template="plotly_white",
        legend=LEGEND_BESIDE,
        margin={"t": 70, "l": 50, "r": 20, "b": 60},
    )
    fig.update_xaxes(automargin=True)
    return fig


def small_multiples_figure(
    panels: list[tuple[str, bool, pd.DataFrame]],
    columns: int = 3,
    title: str = "",
    x_titles: list[str] | None = None,
) -> go.Figure:
    """One small valence-over-time panel per stimulus, same y scale, for side-by-side reading.

    panels: (stimulus name, by_clock, privacy-applied series). An empty series (no faces, or
    the whole stimulus under the minimum crowd) gives a grey "too few people" panel.
    x_titles: one per panel, shown as text under its x axis (a clock axis names its cameras'
    zone, ``audience.clock.axis_title``).
    """
    count = max(1, len(panels))
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[plain(name) for name, _, _ in panels] or [""],
        vertical_spacing=0.18 if rows > 1 else 0.1,
        horizontal_spacing=0.06,
    )
    for i, (raw_name, by_clock, series) in enumerate(panels):
        name = plain(raw_name)
        row, col = i // columns + 1, i % columns + 1
        shown = series[~series["suppressed"].astype(bool)] if len(series) else series
        if shown.empty or shown["valence"].notna().sum() == 0:
            fig.add_trace(
                go.Scatter(
                    x=[0.5],
                    y=[0],
                    mode="text",
                    text=[SUPPRESSED_LABEL],
                    textfont={"color": "#777777", "size": 14},
                    showlegend=False,
                    hoverinfo="skip",
                    name=f"{name}: {SUPPRESSED_LABEL}",
                ),
                row=row,
                col=col,
            )
            fig.update_xaxes(showticklabels=False, row=row, col=col)
        else:
            x, _ = _centres(series, by_clock)
            band = _band_trace(x, series, f"{name} 95 % interval")
            band.showlegend = False
            fig.add_trace(band, row=row, col=col)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=series["valence"],
                    mode="lines+markers",
                    line={"color": VALENCE_COLOUR},
                    marker={"size": 4},
                    showlegend=False,
                    name=name,
                    hovertemplate="%{y:+.2f}<extra></extra>",
                ),
                row=row,
                col=col,
            )
            for start, end in _suppressed_runs(series, by_clock):
                fig.add_vrect(
                    x0=start,
                    x1=end,
                    fillcolor=SUPPRESSED_COLOUR,
                    opacity=0.55,
                    line_width=0,
                    layer="below",
                    row=row,
                    col=col,
                )
        fig.update_yaxes(range=[-1.05, 1.05], row=row, col=col)
        if x_titles is not None:
            fig.update_xaxes(title_text=plain(x_titles[i]), row=row, col=col)
    fig.update_layout(
        title={"text": plain(title) or "Valence index over time, per stimulus"},
        height=300 * rows + 60,
        template="plotly_white",
        margin={"t": 80, "l": 40, "r": 20, "b": 40 if x_titles is None else 60},
    )
    return fig
