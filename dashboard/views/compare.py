"""Compare stimuli side by side: valence with intervals, mean scores, small multiples.

Stimuli under the minimum crowd stay in the picture, greyed as "too few faces", so a reader
sees that they exist without seeing figures about a handful of people.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, state
from dashboard.text import md_text
from pipeline.errors import ReactionError
from pipeline.exports import DEFAULT_BUCKET_S
from pipeline.reports.charts import compare_figure, small_multiples_figure
from pipeline.reports.tables import series_view, stimulus_table, suppress_summary


def main() -> None:
    st.title("Compare stimuli")
    db = data.db_path()
    try:
        campaign_id, _ = state.require_campaign()
        min_crowd = state.min_crowd()
        summary = data.stimulus_summary(db, campaign_id)
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
            key=f"compare_stimuli_{campaign_id}",
        )
        picked = summary[summary["stimulus_id"].isin(chosen)].reset_index(drop=True)
        if picked.empty:
            st.info("Pick at least one stimulus.")
            return
        safe = suppress_summary(picked, min_crowd)
        st.plotly_chart(
            compare_figure(safe, title="Valence and mean expression scores"),
            key="compare_bars",
            config={"displaylogo": False},
        )
        panels = []
        for row in safe.itertuples(index=False):
            first, _, _ = data.time_range(db, int(row.stimulus_id))
            by_clock = row.kind != "ad" and first is not None
            raw = data.series(db, int(row.stimulus_id), DEFAULT_BUCKET_S[row.kind], by_clock)
            view = series_view(raw, min_crowd) if not raw.empty else raw.assign(suppressed=[])
            panels.append((str(row.name), by_clock, view))
        st.plotly_chart(
            small_multiples_figure(panels), key="compare_multiples", config={"displaylogo": False}
        )
        st.dataframe(stimulus_table(picked, min_crowd), key="compare_table", hide_index=True)
        hidden = safe[safe["suppressed"]]
        if len(hidden):
            st.caption(
                f"Greyed, too few faces (under {min_crowd}): {md_text(', '.join(hidden['name']))}. "
                "Their expression figures are withheld."
            )
    except ReactionError as error:
        state.show_error(error)


main()
