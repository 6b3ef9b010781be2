"""What every page shares: the campaign picker, the minimum crowd, navigation hand-offs, errors.

The sidebar widgets live in app.py's run, before the page, so their values survive page
switches. Widgets that make up a view are bound to the URL (``bind="query-params"``, their key
is the parameter name: ``?campaign=...&stimulus=...&dates=...``), so a reload or a shared link
opens the same view; Streamlit drops a value that fits no option and keeps the default.
A page that sends the user elsewhere with a selection (the upload page's "open the
timeline") leaves it under ``GOTO_*`` keys; they are applied before the target widgets
exist, which is the one moment Streamlit lets code set a widget's value.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.text import md_text
from pipeline.errors import ReactionError
from pipeline.settings import get_int

CAMPAIGN_KEY = "campaign"
MIN_CROWD_KEY = "min_crowd"
GOTO_CAMPAIGN = "goto_campaign"
GOTO_STIMULUS = "goto_stimulus"
SELECTED_STIMULUS = "selected_stimulus"
# Page widgets that belong to one campaign: forgotten when another campaign is picked.
CAMPAIGN_SCOPED = ("stimulus", "source", "dates", "bucket", "stimuli", SELECTED_STIMULUS)

PAGE_OVERVIEW = "views/overview.py"
PAGE_TIMELINE = "views/timeline.py"
PAGE_COMPARE = "views/compare.py"
PAGE_UPLOAD = "views/upload.py"
PAGE_REPORTS = "views/reports.py"
PAGE_ABOUT = "views/about.py"


def show_error(error: ReactionError) -> None:
    """A failure as its title and message, never a traceback."""
    st.error(f"**{md_text(error.title)}**\n\n{md_text(error.message)}", icon=":material/error:")


def configured_min_crowd() -> int:
    return max(1, get_int("EMOTION_MIN_CROWD"))


def crowd_floor() -> int:
    """The lowest minimum crowd for the selected campaign: the configured one, or 1 for a
    campaign recorded as a consented study (``python -m pipeline consent``)."""
    chosen = st.session_state.get(CAMPAIGN_KEY)
    if chosen is None or not data.consented_now(data.db_path(), int(chosen)):
        return configured_min_crowd()
    return 1


def min_crowd() -> int:
    """The minimum crowd in force, in people: the sidebar's value, never below the floor."""
    floor = crowd_floor()
    chosen = st.session_state.get(MIN_CROWD_KEY, floor)
    return max(floor, int(chosen))


def consent_banner(campaign_id: int) -> None:
    """On every page of a consented study: say so, with who recorded it and when (as text)."""
    from pipeline.reports.texts import consent_line

    record = data.consent(data.db_path(), campaign_id)
    if record:
        st.warning(
            "Consented study: figures may describe a single person.", icon=":material/verified:"
        )
        st.text(consent_line(record))


def _forget_campaign_views() -> None:
    for key in CAMPAIGN_SCOPED:
        st.session_state.pop(key, None)


def sidebar(db: str) -> None:
    """Campaign picker and minimum-crowd control (which may only raise the setting)."""
    try:
        table = data.campaigns(db)
    except ReactionError as error:
        with st.sidebar:
            show_error(error)
        table = pd.DataFrame(columns=["campaign_id", "name"])
    ids = [int(i) for i in table["campaign_id"]]
    names = dict(zip(ids, table["name"].astype(str), strict=True))
    goto = st.session_state.pop(GOTO_CAMPAIGN, None)
    if goto in ids:
        st.session_state[CAMPAIGN_KEY] = goto
    elif ids and st.session_state.get(CAMPAIGN_KEY) not in ids:
        st.session_state[CAMPAIGN_KEY] = ids[0]
    with st.sidebar:
        if ids:
            st.selectbox(
                "Campaign",
                ids,
                format_func=lambda i: names.get(i, str(i)),
                key=CAMPAIGN_KEY,
                bind="query-params",
                on_change=_forget_campaign_views,
            )
        else:
            st.caption("No campaign yet: upload footage to start one.")
        try:
            floor = crowd_floor()
        except ReactionError:
            floor = configured_min_crowd()
        if int(st.session_state.get(MIN_CROWD_KEY, floor)) < floor:
            st.session_state[MIN_CROWD_KEY] = floor
        st.number_input(
            "Minimum crowd (people)",
            min_value=floor,
            value=floor,
            step=1,
            key=MIN_CROWD_KEY,
            bind="query-params",
            help=(
                "Buckets and stimuli with fewer people are greyed out and their figures "
                f"withheld. The minimum ({floor}: EMOTION_MIN_CROWD, or 1 for a consented "
                "study) can only be raised here."
            ),
        )


def campaign() -> tuple[int, str] | None:
    """(campaign_id, name) picked in the sidebar, or None when the database has none."""
    chosen = st.session_state.get(CAMPAIGN_KEY)
    if chosen is None:
        return None
    table = data.campaigns(data.db_path())
    match = table[table["campaign_id"] == chosen]
    return (int(chosen), str(match["name"].iloc[0])) if len(match) else None


def require_campaign() -> tuple[int, str]:
    """The selected campaign, or an explanation with a way forward and the end of the page."""
    chosen = campaign()
    if chosen is None:
        st.info(
            "No campaign yet. Upload footage to create one, or run `python -m pipeline demo` "
            "to load the demo campaign."
        )
        st.page_link(PAGE_UPLOAD, label="Upload footage", icon=":material/upload:")
        st.stop()
    consent_banner(chosen[0])  # type: ignore[index]
    return chosen  # type: ignore[return-value]


def open_timeline(campaign_id: int, stimulus_id: int) -> None:
    """Switch to the timeline page with this campaign and stimulus selected."""
    st.session_state[GOTO_CAMPAIGN] = int(campaign_id)
    st.session_state[GOTO_STIMULUS] = int(stimulus_id)
    st.switch_page(PAGE_TIMELINE)
