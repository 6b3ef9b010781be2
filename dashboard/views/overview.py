"""Overview: a campaign's headline figures, audience and valence over time per stimulus, the
verdicts of its A/B comparisons, its stimuli, and the latest ingest jobs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, state
from dashboard.labels import JOBS, STIMULUS, VERDICT_ROW_PX, VERDICT_SENTENCE, show_table
from dashboard.text import md_text
from pipeline.audience.clock import axis_title, with_gaps
from pipeline.errors import ReactionError
from pipeline.reports import labels
from pipeline.reports.tables import campaign_overview, kpi_cells, series_view, stimulus_table

# Displays are drawn by day here: an overview of a week or a month, where hours would be
# mostly withheld buckets; the Timeline goes down to 5 minutes.
OVERVIEW_CLOCK_BUCKET_S = 86400.0


def _kpis(campaign_id: int, min_crowd: int, db: str) -> None:
    overview = campaign_overview(
        data.campaign_kpis(db, campaign_id, min_crowd),
        data.stimulus_summary(db, campaign_id, min_crowd),
        min_crowd,
    )
    cells = dict(kpi_cells(overview, stimuli=1))
    counts = st.columns(4)
    counts[0].metric("Faces analysed", cells["faces analysed"])
    counts[1].metric("People", cells["people"])
    counts[2].metric("Watchers", cells["watchers"])
    counts[3].metric("Positive share", cells["positive share"])
    looking = st.columns(3)
    looking[0].metric("Mean attention", cells["mean attention"])
    looking[1].metric("Mean dwell", cells["mean dwell"])
    looking[2].metric("Attraction", cells["attraction"])
    ranked = st.columns(2)
    for column, label, name, valence in (
        (ranked[0], "Top stimulus", overview.top_stimulus, overview.top_valence),
        (ranked[1], "Bottom stimulus", overview.bottom_stimulus, overview.bottom_valence),
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


def _over_time(campaign_id: int, min_crowd: int, db: str) -> None:
    """People and valence over time, one line per stimulus: ads by seconds since their
    start, displays and products by their cameras' local clock time."""
    summary = data.stimulus_summary(db, campaign_id, min_crowd)
    groups: dict[bool, list[tuple[str, pd.DataFrame]]] = {False: [], True: []}
    zones: list[str] = []
    for row in summary[summary["faces"] > 0].itertuples(index=False):
        first, _ = data.local_time_range(db, int(row.stimulus_id))
        by_clock = row.kind != "ad" and first is not None
        bucket = OVERVIEW_CLOCK_BUCKET_S if by_clock else 1.0
        raw = data.series(db, int(row.stimulus_id), bucket, by_clock, min_crowd)
        if raw.empty:
            continue
        view = series_view(raw, min_crowd)
        if by_clock:
            view = with_gaps(view)
            zones += data.source_zones(db, int(row.stimulus_id)).values()
        groups[by_clock].append((str(row.name), view))
    if not groups[False] and not groups[True]:
        return
    st.subheader("Audience and valence over time")
    if groups[False]:
        st.plotly_chart(
            charts.audience_figure(
                groups[False],
                by_clock=False,
                axis_title="Seconds since the start of the ad",
                title="Ads: people and valence second by second",
            ),
            key="overview_ads_chart",
            config={"displaylogo": False},
        )
    if groups[True]:
        st.plotly_chart(
            charts.audience_figure(
                groups[True],
                by_clock=True,
                axis_title=axis_title(zones),
                title="Displays and products: people and valence by day",
            ),
            key="overview_clock_chart",
            config={"displaylogo": False},
        )
    st.caption(
        f"Valence is left out for buckets with fewer than {min_crowd} people (their head "
        "count stays); lines break where there was no footage."
    )


def _verdicts(campaign_id: int, min_crowd: int, db: str) -> None:
    """The A/B verdicts on valence between the campaign's stimuli with faces."""
    compared = data.verdicts_with_faces(
        db, data.stimulus_summary(db, campaign_id, min_crowd), min_crowd
    )
    if compared is None:
        return
    table, _ = compared
    st.subheader("A/B verdicts on valence")
    st.plotly_chart(
        charts.verdict_figure(table), key="overview_verdict_chart", config={"displaylogo": False}
    )
    valence = table[table["metric"] == "valence index"]
    show_table(valence, VERDICT_SENTENCE, key="overview_verdicts", row_height=VERDICT_ROW_PX)
    st.page_link(
        state.PAGE_COMPARE,
        label="Every metric and pair on the Compare page",
        icon=":material/compare:",
    )


def _stimuli(campaign_id: int, min_crowd: int, db: str) -> None:
    st.subheader("Stimuli")
    table = stimulus_table(data.stimulus_summary(db, campaign_id, min_crowd), min_crowd)
    if table.empty:
        st.info("This campaign has no stimulus yet.")
        return
    show_table(table, STIMULUS, key="overview_stimuli")
    st.caption("–: too few people, or not measured (head pose for attention and looking).")


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
    show_table(
        shown,
        JOBS,
        key="overview_jobs",
        progress=st.column_config.ProgressColumn(
            labels.label("progress"), min_value=0.0, max_value=100.0, format="%.0f%%"
        ),
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
        _over_time(campaign_id, min_crowd, db)
        _verdicts(campaign_id, min_crowd, db)
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
