"""Reports and exports of a selection: CSV, Parquet, Emotion-API JSON, HTML and PDF reports.

Everything goes through ``pipeline.exports.export_table`` and ``pipeline.reports.build`` with
the minimum crowd of the sidebar, so a download carries exactly what the screen shows and
the CLI's ``export`` produces the same files.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, state
from pipeline.errors import ReactionError
from pipeline.reports.labels import MACHINE_ONLY, as_percent, column
from pipeline.reports.tables import bucket_label

REPORTS_KEY = "report_files"
_MIME = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "html": "text/html",
    "pdf": "application/pdf",
}
_BUCKETS = {"ad": (0.5, 1.0, 2.0, 5.0, 10.0), "other": (300.0, 900.0, 3600.0, 86400.0)}


def _slug(*parts: str | None) -> str:
    text = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "export"


def _size(data_bytes: bytes) -> str:
    size = len(data_bytes)
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{max(1, size // 1024)} KB"


def _preview_config(table: pd.DataFrame) -> dict[str, Any]:
    """Column config with the CSV's human labels and rounding (``pipeline.reports.labels``);
    the frame keeps machine names, shares are shown after ``as_percent``."""
    config: dict[str, Any] = {}
    for name in table.columns:
        spec = column(name)
        if spec.kind == "flag":
            config[name] = st.column_config.CheckboxColumn(spec.label)
        elif spec.kind == "clock":
            config[name] = st.column_config.DatetimeColumn(spec.label, format="YYYY-MM-DD HH:mm")
        elif spec.printf:
            config[name] = st.column_config.NumberColumn(spec.label, format=spec.printf)
        else:
            config[name] = st.column_config.TextColumn(spec.label)
    return config


def main() -> None:
    st.title("Reports and exports")
    db = data.db_path()
    try:
        campaign_id, campaign = state.require_campaign()
        min_crowd = state.min_crowd()
        stimuli = data.stimuli(db, campaign_id)
        ids = [int(i) for i in stimuli["stimulus_id"]]
        rows = {int(r.stimulus_id): r for r in stimuli.itertuples(index=False)}
        options: list[int | None] = [None, *ids]
        remembered = st.session_state.get(state.SELECTED_STIMULUS)
        left, right = st.columns(2)
        chosen = left.selectbox(
            "Stimulus",
            options,
            index=options.index(remembered) if remembered in ids else 0,
            format_func=lambda i: "All stimuli" if i is None else str(rows[i].name),
            key=f"report_stimulus_{campaign_id}",
        )
        stimulus = None if chosen is None else str(rows[chosen].name)
        kind = None if chosen is None else str(rows[chosen].kind)
        buckets: list[float | None] = [None]
        if kind is not None:
            buckets += list(_BUCKETS["ad" if kind == "ad" else "other"])
        bucket = right.selectbox(
            "Bucket size",
            buckets,
            format_func=lambda b: (
                "Default (1 s for ads, 1 h for displays and products)"
                if b is None
                else bucket_label(b)
            ),
            key=f"report_bucket_{campaign_id}_{chosen}",
        )
        st.caption(
            f"Minimum crowd {min_crowd} people: smaller buckets are blank and marked "
            '"Withheld (too few people)" in every file. CSV: human labels and rounding for '
            "spreadsheets; Parquet and JSON: machine names and full precision (README, "
            '"Column names").'
        )
        table = data.export_table(db, campaign, stimulus, bucket, min_crowd)
        suppressed = int(table["suppressed"].sum())
        st.markdown(
            f"**{len(table)} buckets** over {table['stimulus'].nunique()} stimuli, "
            f"{int(table['faces'].sum()):,} faces; {suppressed} buckets withheld "
            "(too few people)."
        )
        shown = [c for c in table.columns if c not in MACHINE_ONLY]
        st.dataframe(
            as_percent(table.head(200)),
            key="report_preview",
            hide_index=True,
            column_config=_preview_config(table),
            column_order=shown,
            placeholder="-",  # withheld or not measured; never "None"
        )
        name = _slug(campaign, stimulus)
        st.subheader("Data")
        columns = st.columns(3)
        for column, (fmt, label) in zip(
            columns,
            [("csv", "CSV"), ("parquet", "Parquet"), ("json", "Emotion-API JSON")],
            strict=True,
        ):
            payload = data.export_bytes(db, fmt, campaign, stimulus, bucket, min_crowd)
            column.download_button(
                f"{label} ({_size(payload)})",
                payload,
                file_name=f"{name}.{fmt}",
                mime=_MIME[fmt],
                key=f"download_{fmt}",
                on_click="ignore",
                icon=":material/download:",
            )
        if stimulus is None and int((data.stimuli(db, campaign_id)["stimulus_id"]).size) > 1:
            try:
                verdicts = data.verdict_csv(db, campaign, min_crowd)
            except ReactionError:
                verdicts = b""
            if verdicts:
                st.download_button(
                    f"A/B verdicts CSV ({_size(verdicts)})",
                    verdicts,
                    file_name=f"{name}-verdicts.csv",
                    mime="text/csv",
                    key="download_verdicts",
                    on_click="ignore",
                    icon=":material/download:",
                )
        st.subheader("Reports")
        st.caption(
            "HTML: interactive charts, works offline (plotly is inside the file). "
            "PDF: static charts, summary table, method, model card and privacy note."
        )
        selection = (db, campaign, stimulus, bucket, min_crowd)
        if st.button(
            "Build the HTML and PDF reports", key="report_build", icon=":material/description:"
        ):
            with st.spinner("Drawing the charts..."):
                st.session_state[REPORTS_KEY] = {
                    "selection": selection,
                    "html": data.report_bytes(db, "html", campaign, stimulus, bucket, min_crowd),
                    "pdf": data.report_bytes(db, "pdf", campaign, stimulus, bucket, min_crowd),
                }
        built = st.session_state.get(REPORTS_KEY)
        if built and built["selection"] == selection:
            columns = st.columns(2)
            for column, fmt in zip(columns, ("html", "pdf"), strict=True):
                column.download_button(
                    f"{fmt.upper()} report ({_size(built[fmt])})",
                    built[fmt],
                    file_name=f"{name}-report.{fmt}",
                    mime=_MIME[fmt],
                    key=f"download_report_{fmt}",
                    on_click="ignore",
                    icon=":material/download:",
                )
        elif built:
            st.caption("The selection changed: build the reports again.")
    except ReactionError as error:
        state.show_error(error)


main()
