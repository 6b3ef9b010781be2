"""Reaction timeline of one stimulus: expressions, valence with its band, viewers.

Ads are drawn on their own time axis (seconds since the start, with segment bands); displays
and products by the local clock time of their cameras (the axis says which zone), with lines
broken where there was no footage and an hour x weekday heatmap of the hours with footage.
Buckets under the minimum crowd are greyed and carry no figures. Every filter is bound to the
URL (``bind="query-params"``), so a reload or a shared link opens the same view; a value
that no longer fits (a renamed stimulus, a date out of range) falls back to the default.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from dashboard import charts, data, live, state
from dashboard.labels import series_spec, show_table
from pipeline.audience.clock import axis_title, with_gaps, zone_label
from pipeline.errors import ReactionError
from pipeline.reports.charts import timeline_figure
from pipeline.reports.tables import FEW, bucket_label, segment_display, series_view

OFFSET_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0)
CLOCK_BUCKETS = (300.0, 900.0, 3600.0, 86400.0)
MODES = {"lines": "One line per expression", "share": "Stacked share of faces"}
# Widget keys double as URL query parameter names.
STIMULUS_KEY, SOURCE_KEY, BUCKET_KEY, DATES_KEY, MODE_KEY = (
    "stimulus",
    "source",
    "bucket",
    "dates",
    "expressions",
)
URL = "query-params"


def _forget_filters() -> None:
    """A new stimulus starts with all sources and its whole date range."""
    for key in (SOURCE_KEY, DATES_KEY, BUCKET_KEY):
        st.session_state.pop(key, None)


def _pick_stimulus(db: str, campaign_id: int) -> pd.Series | None:
    table = data.stimuli(db, campaign_id)
    if table.empty:
        st.info("This campaign has no stimulus yet.")
        st.page_link(state.PAGE_UPLOAD, label="Upload footage", icon=":material/upload:")
        return None
    ids = [int(i) for i in table["stimulus_id"]]
    names = dict(zip(ids, table["name"].astype(str) + " (" + table["kind"] + ")", strict=True))
    goto = st.session_state.pop(state.GOTO_STIMULUS, None)
    if goto in ids:
        st.session_state[STIMULUS_KEY] = goto
        _forget_filters()
    elif st.session_state.get(STIMULUS_KEY) not in ids:
        remembered = st.session_state.get(state.SELECTED_STIMULUS)
        st.session_state[STIMULUS_KEY] = remembered if remembered in ids else ids[0]
    chosen = st.selectbox(
        "Stimulus",
        ids,
        format_func=lambda i: names[i],
        key=STIMULUS_KEY,
        bind=URL,
        on_change=_forget_filters,
    )
    st.session_state[state.SELECTED_STIMULUS] = chosen
    return table[table["stimulus_id"] == chosen].iloc[0]


def _date_window(
    first: pd.Timestamp, last: pd.Timestamp, zone: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) from the date range picker: whole local days, end inclusive."""
    picked = st.date_input(
        f"Dates ({zone})",
        value=(first.date(), last.date()),
        min_value=first.date(),
        max_value=last.date(),
        key=DATES_KEY,
        bind=URL,
    )
    days = list(picked) if isinstance(picked, (tuple, list)) else [picked]
    if not days:
        return None, None
    start = dt.datetime.combine(days[0], dt.time.min)
    end = dt.datetime.combine(days[-1], dt.time.min) + dt.timedelta(days=1)
    return start, end


def _metrics(view: pd.DataFrame, people: pd.DataFrame) -> None:
    """Key numbers of the view; ``people``: ``data.selection``, its figures over people.

    The valence is over the people in view, each once (a mean of the buckets would weigh a
    person by the buckets they stood in, and move with the bucket size)."""
    valence = float(people["valence"].iloc[0]) if len(people) else float("nan")
    columns = st.columns(4)
    columns[0].metric("Faces in view", f"{int(view['faces'].sum()):,}")
    columns[1].metric("Buckets", f"{len(view):,}")
    columns[2].metric("Greyed: too few people", f"{int(view['suppressed'].sum()):,}")
    columns[3].metric("Valence (people in view)", FEW if math.isnan(valence) else f"{valence:+.2f}")


def _zone_text(zones: dict[int, str], source: int | None) -> list[str]:
    """The zones of the sources in view (one source, or all of the stimulus)."""
    if source is not None and source in zones:
        return [zones[source]]
    return list(zones.values())


def main() -> None:
    st.title("Reaction timeline")
    db = data.db_path()
    try:
        campaign_id, _ = state.require_campaign()
        min_crowd = state.min_crowd()
        top = st.columns([3, 2, 2, 3])
        with top[0]:
            stimulus = _pick_stimulus(db, campaign_id)
        if stimulus is None:
            return
        stimulus_id, kind = int(stimulus["stimulus_id"]), str(stimulus["kind"])
        first, last = data.local_time_range(db, stimulus_id)
        by_clock = kind != "ad" and first is not None
        srcs = data.sources(db, stimulus_id)
        source_names = dict(
            zip(srcs["source_id"].astype(int), srcs["name"].astype(str), strict=True)
        )
        source = top[1].selectbox(
            "Source / camera",
            [None, *source_names],
            format_func=lambda i: "All sources" if i is None else source_names[i],
            key=SOURCE_KEY,
            bind=URL,
        )
        zones = data.source_zones(db, stimulus_id)
        in_view = _zone_text(zones, source)
        time_title, zone = axis_title(in_view), zone_label(in_view)
        buckets = CLOCK_BUCKETS if by_clock else OFFSET_BUCKETS
        if st.session_state.get(BUCKET_KEY) not in buckets:
            st.session_state.pop(BUCKET_KEY, None)
        bucket = top[2].selectbox(
            "Bucket size",
            buckets,
            index=buckets.index(3600.0 if by_clock else 1.0),
            format_func=bucket_label,
            key=BUCKET_KEY,
            bind=URL,
        )
        start = end = None
        if by_clock:
            with top[3]:
                start, end = _date_window(first, last, zone)  # type: ignore[arg-type]
        mode = st.radio(
            "Expressions as",
            list(MODES),
            format_func=MODES.__getitem__,
            horizontal=True,
            key=MODE_KEY,
            bind=URL,
        )
        if by_clock and live.is_live(db, stimulus_id):
            live.panel(
                db, stimulus_id, min_crowd, source, (time_title, zone), str(stimulus["name"])
            )
        raw = data.series(db, stimulus_id, float(bucket), by_clock, min_crowd, source, start, end)
        if raw.empty:
            st.info("No faces were found in this selection yet.")
            return
        view = series_view(raw, min_crowd)
        _metrics(view, data.selection(db, stimulus_id, by_clock, min_crowd, source, start, end))
        segments = None if by_clock else data.segments(db, stimulus_id)
        axis = "local clock time" if by_clock else "seconds since the start"
        figure = timeline_figure(
            with_gaps(view) if by_clock else view,
            by_clock=by_clock,
            mode=mode,
            segments=segments,
            title=f"{stimulus['name']}: reactions by {axis}",
            clock_title=time_title,
        )
        st.plotly_chart(figure, key="timeline_chart", config={"displaylogo": False})
        no_band = int((~view["suppressed"] & view["valence_low"].isna()).sum())
        st.caption(
            f"Grey areas: buckets with fewer than {min_crowd} people, figures withheld. "
            + ("Lines break where there was no footage. " if by_clock else "")
            + (
                f"{no_band} shown bucket(s) have no valence band: too few people (under two) "
                "for an interval. "
                if no_band
                else ""
            )
            + "Scores describe facial expressions, not what anyone experiences."
        )
        if not by_clock and len(data.segments(db, stimulus_id)):
            segment_table = segment_display(data.segment_summary(db, stimulus_id, min_crowd))
            st.dataframe(segment_table, key="timeline_segments", hide_index=True)
        if by_clock:
            heat = series_view(
                data.hour_weekday(db, stimulus_id, min_crowd, source, start, end), min_crowd
            )
            st.plotly_chart(
                charts.hour_weekday_heatmap(heat, zone),
                key="timeline_heatmap",
                config={"displaylogo": False},
            )
        with st.expander("Data behind the chart"):
            show_table(view, series_spec(by_clock, time_title), key="timeline_table")
        st.page_link(
            state.PAGE_REPORTS,
            label="Download this stimulus as CSV, JSON, HTML or PDF",
            icon=":material/download:",
        )
    except ReactionError as error:
        state.show_error(error)


main()
