"""Live view of a display whose camera is running (``camera``, ``watch`` or HTTP pushes).

The last hour is drawn in a fragment that reruns on its own every ``LIVE_REFRESH_S``
seconds (``st.fragment(run_every=...)``): only this panel re-reads the store, not the whole
page, and its reads are uncached so a new snapshot shows at the next tick. The newest data's
5-minute cell is given in the camera's local time; 5 minutes is the finest bucket, because
the minimum crowd is applied on 5-minute cells.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from pipeline.audience.clock import with_gaps
from pipeline.reports.tables import series_view

LIVE_REFRESH_S = 15
LIVE_WINDOW = pd.Timedelta(hours=1)
LIVE_BUCKET_S = 300.0


def is_live(db: str, stimulus_id: int) -> bool:
    """True while a job with a live process writes to this stimulus."""
    return bool(data.live_jobs(db, stimulus_id))


def panel(
    db: str,
    stimulus_id: int,
    min_crowd: int,
    source: int | None,
    clock: tuple[str, str],
    name: str,
) -> None:
    """clock: the time axis's title and the zone it is in (pipeline/audience/clock.py), as the
    page above the panel words them."""
    with st.container(border=True, key="live_panel"):
        st.subheader("Live: the last hour", anchor=False)
        _refreshing(db, stimulus_id, min_crowd, source, clock, name)


@st.fragment(run_every=LIVE_REFRESH_S)
def _refreshing(
    db: str, stimulus_id: int, min_crowd: int, source: int | None, clock: tuple[str, str], name: str
) -> None:
    time_title, zone = clock
    _, newest = data.local_time_range(db, stimulus_id, ttl_cached=False)
    if newest is None:
        st.caption("The camera is running; waiting for its first faces.")
        return
    # The 5-minute cell, not the second: the newest face may be one person's, in a cell
    # withheld for too few people, and its exact time would say when that person was there.
    cell = pd.Timestamp(newest).floor("5min")
    st.metric(
        f"Newest data ({zone})",
        f"{cell:%H:%M}–{cell + pd.Timedelta(minutes=5):%H:%M}",
        f"{cell:%a %d %b %Y}",
        delta_color="off",
        delta_arrow="off",
    )
    start = (newest - LIVE_WINDOW).floor("5min").to_pydatetime()
    raw = data.live_series(db, stimulus_id, LIVE_BUCKET_S, min_crowd, source, start)
    if raw.empty:
        st.caption(f"No bucket of the last hour has {min_crowd} or more people yet.")
        return
    view = with_gaps(series_view(raw, min_crowd))
    st.plotly_chart(
        charts.audience_figure([(name, view)], by_clock=True, axis_title=time_title, title=""),
        key="live_chart",
        config={"displaylogo": False},
    )
    st.caption(
        f"Refreshes every {LIVE_REFRESH_S} s in 5-minute buckets; valence is left out where "
        f"fewer than {min_crowd} people were there."
    )
