"""Reaction timeline of one stimulus: expressions, valence with its band, viewers.

Ads are drawn on their own time axis (seconds since the start, with segment bands); displays
and products by clock time, with an hour x weekday heatmap. Buckets under the minimum crowd
are greyed and carry no figures.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from dashboard import data, state
from pipeline.emotion.labels import LABELS
from pipeline.errors import ReactionError
from pipeline.reports.charts import hour_weekday_figure, timeline_figure
from pipeline.reports.tables import FEW, bucket_label, segment_display, series_view

OFFSET_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0)
CLOCK_BUCKETS = (300.0, 900.0, 3600.0, 86400.0)
MODES = {"lines": "One line per expression", "share": "Stacked share of faces"}


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
        st.session_state["timeline_stimulus"] = goto
    elif st.session_state.get("timeline_stimulus") not in ids:
        remembered = st.session_state.get(state.SELECTED_STIMULUS)
        st.session_state["timeline_stimulus"] = remembered if remembered in ids else ids[0]
    chosen = st.selectbox("Stimulus", ids, format_func=lambda i: names[i], key="timeline_stimulus")
    st.session_state[state.SELECTED_STIMULUS] = chosen
    return table[table["stimulus_id"] == chosen].iloc[0]


def _date_window(
    stimulus_id: int, first: dt.datetime, last: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) from the date range picker: whole days, end inclusive for people."""
    picked = st.date_input(
        "Dates",
        value=(first.date(), last.date()),
        min_value=first.date(),
        max_value=last.date(),
        key=f"timeline_dates_{stimulus_id}",
    )
    days = list(picked) if isinstance(picked, (tuple, list)) else [picked]
    if not days:
        return None, None
    start = dt.datetime.combine(days[0], dt.time.min)
    end = dt.datetime.combine(days[-1], dt.time.min) + dt.timedelta(days=1)
    return start, end


def _metrics(view: pd.DataFrame) -> None:
    shown = view[~view["suppressed"]]
    weights = shown["people_shown"].astype(float) if "people_shown" in shown else shown["people"]
    valence = (
        float((shown["valence"] * weights).sum() / weights.sum())
        if len(shown) and weights.sum()
        else float("nan")
    )
    columns = st.columns(4)
    columns[0].metric("Faces in view", f"{int(view['faces'].sum()):,}")
    columns[1].metric("Buckets", f"{len(view):,}")
    columns[2].metric("Greyed: too few people", f"{int(view['suppressed'].sum()):,}")
    columns[3].metric("Valence (shown buckets)", FEW if math.isnan(valence) else f"{valence:+.2f}")


def _table(view: pd.DataFrame, by_clock: bool) -> None:
    x = "bucket_ts" if by_clock else "bucket_offset_s"
    columns = [
        x,
        "faces",
        "people",
        "valence",
        "valence_low",
        "valence_high",
        "people_looking",
        "share_looking",
        *(f"share_{n}" for n in LABELS),
        "suppressed",
    ]
    with st.expander("Data behind the chart"):
        st.dataframe(
            view[[c for c in columns if c in view.columns]], key="timeline_table", hide_index=True
        )


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
        first, last, _ = data.time_range(db, stimulus_id)
        by_clock = kind != "ad" and first is not None
        srcs = data.sources(db, stimulus_id)
        source_names = dict(
            zip(srcs["source_id"].astype(int), srcs["name"].astype(str), strict=True)
        )
        source = top[1].selectbox(
            "Source / camera",
            [None, *source_names],
            format_func=lambda i: "All sources" if i is None else source_names[i],
            key=f"timeline_source_{stimulus_id}",
        )
        buckets = CLOCK_BUCKETS if by_clock else OFFSET_BUCKETS
        bucket = top[2].selectbox(
            "Bucket size",
            buckets,
            index=buckets.index(3600.0 if by_clock else 1.0),
            format_func=bucket_label,
            key="timeline_bucket_clock" if by_clock else "timeline_bucket_offset",
        )
        start = end = None
        if by_clock:
            with top[3]:
                start, end = _date_window(stimulus_id, first, last)  # type: ignore[arg-type]
        mode = st.radio(
            "Expressions as",
            list(MODES),
            format_func=MODES.__getitem__,
            horizontal=True,
            key="timeline_mode",
        )
        raw = data.series(db, stimulus_id, float(bucket), by_clock, min_crowd, source, start, end)
        if raw.empty:
            st.info("No faces were found in this selection yet.")
            return
        view = series_view(raw, min_crowd)
        _metrics(view)
        segments = None if by_clock else data.segments(db, stimulus_id)
        axis = "clock time" if by_clock else "seconds since the start"
        st.plotly_chart(
            timeline_figure(
                view,
                by_clock=by_clock,
                mode=mode,
                segments=segments,
                title=f"{stimulus['name']}: reactions by {axis}",
            ),
            key="timeline_chart",
            config={"displaylogo": False},
        )
        no_band = int((~view["suppressed"] & view["valence_low"].isna()).sum())
        st.caption(
            f"Grey areas: buckets with fewer than {min_crowd} people, figures withheld. "
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
                hour_weekday_figure(heat), key="timeline_heatmap", config={"displaylogo": False}
            )
        _table(view, by_clock)
        st.page_link(
            state.PAGE_REPORTS,
            label="Download this stimulus as CSV, JSON, HTML or PDF",
            icon=":material/download:",
        )
    except ReactionError as error:
        state.show_error(error)


main()
