"""Compare stimuli, led by the A/B verdicts; then valence with intervals, mean scores and
small multiples.

Stimuli under the minimum crowd stay in the picture, greyed as "too few people", so a reader
sees that they exist without seeing figures about a handful of people. The A/B verdicts come
from ``pipeline.audience.verdicts`` over people, exactly as in the reports.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, state
from dashboard.labels import STIMULUS, VERDICT, VERDICT_ROW_PX, show_table, verdict_rows
from pipeline.audience.clock import axis_title, with_gaps
from pipeline.errors import ReactionError
from pipeline.exports import DEFAULT_BUCKET_S
from pipeline.reports.charts import compare_figure, small_multiples_figure
from pipeline.reports.tables import (
    segment_display,
    series_view,
    stimulus_table,
    suppress_summary,
)


def _verdicts(db: str, picked: pd.DataFrame, min_crowd: int) -> None:
    """Plain-language A/B verdicts between the picked stimuli (names shown as text)."""
    st.subheader("A/B verdicts")
    compared = data.verdicts_with_faces(db, picked, min_crowd)
    if compared is None:
        st.caption("Pick two or more stimuli with analysed faces to compare them.")
        return
    table, note = compared
    if note:
        st.warning(
            "Different detector or model versions made these rows.", icon=":material/warning:"
        )
        st.text(note)
    st.caption(
        "Difference of the means over people with its 95 % interval (Welch); a winner is "
        "named only when the interval excludes zero."
    )
    metric = st.segmented_control(
        "Chart the differences in",
        list(dict.fromkeys(table["metric"])),
        default="valence index",
        key="compare_metric",
    )
    st.plotly_chart(
        charts.verdict_figure(table, metric or "valence index"),
        key="compare_verdict_chart",
        config={"displaylogo": False},
    )
    show_table(verdict_rows(table), VERDICT, key="compare_verdicts", row_height=VERDICT_ROW_PX)


def _segments(db: str, picked: pd.DataFrame, min_crowd: int) -> None:
    """Per ad segment: people, valence with its band and the peak moment (names as text)."""
    ads = [row for row in picked.itertuples(index=False) if row.kind == "ad" and row.faces > 0]
    tables = [(row, data.segments(db, int(row.stimulus_id))) for row in ads]
    tables = [(row, segs) for row, segs in tables if len(segs)]
    if not tables:
        return
    st.subheader("Ad segments")
    for row, _ in tables:
        st.text(str(row.name))
        st.dataframe(
            segment_display(data.segment_summary(db, int(row.stimulus_id), min_crowd)),
            key=f"compare_segments_{int(row.stimulus_id)}",
            hide_index=True,
        )


def main() -> None:
    st.title("Compare stimuli")
    db = data.db_path()
    try:
        campaign_id, _ = state.require_campaign()
        min_crowd = state.min_crowd()
        summary = data.stimulus_summary(db, campaign_id, min_crowd)
        if summary.empty:
            st.info("This campaign has no stimulus yet.")
            return
        ids = [int(i) for i in summary["stimulus_id"]]
        names = dict(zip(ids, summary["name"].astype(str), strict=True))
        chosen = st.multiselect(
            "Stimuli",
            ids,
            default=ids,
            format_func=names.__getitem__,
            key="stimuli",
            bind="query-params",
        )
        picked = summary[summary["stimulus_id"].isin(chosen)].reset_index(drop=True)
        if picked.empty:
            st.info("Pick at least one stimulus.")
            return
        _verdicts(db, picked, min_crowd)
        safe = suppress_summary(picked, min_crowd)
        st.plotly_chart(
            compare_figure(safe, title="Valence and mean expression scores"),
            key="compare_bars",
            config={"displaylogo": False},
        )
        panels, x_titles = [], []
        for row in safe.itertuples(index=False):
            first, _, _ = data.time_range(db, int(row.stimulus_id))
            by_clock = row.kind != "ad" and first is not None
            bucket = DEFAULT_BUCKET_S[row.kind] if by_clock else 1.0
            raw = data.series(db, int(row.stimulus_id), bucket, by_clock, min_crowd)
            view = series_view(raw, min_crowd) if not raw.empty else raw.assign(suppressed=[])
            view = with_gaps(view) if by_clock else view
            panels.append((str(row.name), by_clock, view))
            zones = data.source_zones(db, int(row.stimulus_id)).values()
            x_titles.append(axis_title(zones) if by_clock else "Seconds since the start")
        multiples = small_multiples_figure(panels, x_titles=x_titles)
        st.plotly_chart(multiples, key="compare_multiples", config={"displaylogo": False})
        show_table(stimulus_table(picked, min_crowd), STIMULUS, key="compare_table")
        hidden = safe[safe["suppressed"]]
        if len(hidden):
            st.caption(f"Greyed, too few people (under {min_crowd}): their figures are withheld.")
            st.text(", ".join(hidden["name"].astype(str)))
        _segments(db, picked, min_crowd)
    except ReactionError as error:
        state.show_error(error)


main()
