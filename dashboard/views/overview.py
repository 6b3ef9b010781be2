"""Overview: a campaign's headline figures, its stimuli, and the latest ingest jobs."""

from __future__ import annotations

import streamlit as st

from dashboard import data, state
from dashboard.labels import as_percent, stimulus_columns
from dashboard.text import md_text
from pipeline.errors import ReactionError
from pipeline.reports.tables import campaign_overview, kpi_cells, stimulus_table

_JOB_COLUMNS = {
    "job_id": "Job",
    "stimulus": "Stimulus",
    "source": "Source",
    "input_name": "Input",
    "status": "Status",
    "progress": "Progress",
    "faces": "Faces",
    "tracks": "Viewers",
    "problem": "Problem",
    "created_at": "Started",
}


def _kpis(campaign_id: int, min_crowd: int, db: str) -> None:
    overview = campaign_overview(
        data.campaign_kpis(db, campaign_id, min_crowd),
        data.stimulus_summary(db, campaign_id, min_crowd),
        min_crowd,
    )
    cells = dict(kpi_cells(overview, stimuli=1))
    columns = st.columns(4)
    columns[0].metric("Faces analysed", cells["faces analysed"])
    columns[1].metric("People", cells["people"])
    columns[2].metric("Watchers", cells["watchers"])
    columns[3].metric("Positive share", cells["positive share"])
    columns = st.columns(3)
    columns[0].metric("Mean attention", cells["mean attention"])
    columns[1].metric("Mean dwell", cells["mean dwell"])
    columns[2].metric("Attraction", cells["attraction"])
    columns = st.columns(2)
    for column, label, name, valence in (
        (columns[0], "Top stimulus", overview.top_stimulus, overview.top_valence),
        (columns[1], "Bottom stimulus", overview.bottom_stimulus, overview.bottom_valence),
    ):
        column.metric(
            label,
            md_text(name) if name else "-",
            f"valence {valence:+.2f}" if name else None,
            delta_color="off",
            delta_arrow="off",
        )
    st.caption(
        f"Top and bottom rank stimuli by valence index among the {overview.eligible_stimuli} "
        f"shown at a minimum crowd of {min_crowd} people"
        + (
            f"; {overview.suppressed_stimuli} with too few people are left out."
            if overview.suppressed_stimuli
            else "."
        )
        + " Positive share: share of a person's faces whose dominant expression is happiness,"
        " averaged over people. Watchers: people facing the display for at least 1 s;"
        " attraction: attention / dwell (not available until head pose is measured)."
    )


def _stimuli(campaign_id: int, min_crowd: int, db: str) -> None:
    st.subheader("Stimuli")
    table = stimulus_table(data.stimulus_summary(db, campaign_id, min_crowd), min_crowd)
    if table.empty:
        st.info("This campaign has no stimulus yet.")
        return
    st.dataframe(
        as_percent(table),
        key="overview_stimuli",
        hide_index=True,
        column_config=stimulus_columns(),
    )


def _jobs(campaign_id: int, db: str) -> None:
    st.subheader("Recent ingest jobs")
    jobs = data.jobs(db, limit=15, campaign_id=campaign_id)
    if jobs.empty:
        st.caption("No ingest job yet.")
        return
    shown = jobs.copy()
    shown["problem"] = [
        f"{t}: {m}" if isinstance(t, str) and t else ""
        for t, m in zip(shown["error_title"], shown["error_message"], strict=True)
    ]
    st.dataframe(
        shown[list(_JOB_COLUMNS)].rename(columns=_JOB_COLUMNS),
        key="overview_jobs",
        hide_index=True,
        column_config={
            "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0)
        },
    )
    failed = jobs[jobs["status"] == "failed"].head(3)
    for job in failed.itertuples(index=False):
        st.error(
            f"**Job {job.job_id} ({md_text(job.input_name)}) failed: "
            f"{md_text(job.error_title)}**\n\n{md_text(job.error_message)}",
            icon=":material/error:",
        )
    active = jobs[jobs["status"].isin(["queued", "running"])]
    if len(active):
        st.page_link(
            state.PAGE_UPLOAD,
            label=f"{len(active)} job(s) running: follow their progress",
            icon=":material/hourglass_top:",
        )


def main() -> None:
    st.title("Audience reactions")
    db = data.db_path()
    try:
        campaign_id, name = state.require_campaign()
        st.caption(f"Campaign **{md_text(name)}**: facial expressions of the audience, in numbers.")
        min_crowd = state.min_crowd()
        _kpis(campaign_id, min_crowd, db)
        _stimuli(campaign_id, min_crowd, db)
        _jobs(campaign_id, db)
    except ReactionError as error:
        state.show_error(error)
    left, right = st.columns(2)
    left.page_link(
        state.PAGE_TIMELINE, label="Open the reaction timeline", icon=":material/timeline:"
    )
    right.page_link(state.PAGE_UPLOAD, label="Upload your own footage", icon=":material/upload:")


main()
