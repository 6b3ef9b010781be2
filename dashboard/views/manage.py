"""Manage: rename or delete the selected campaign and its stimuli; edit an ad's segments.

Deleting takes every row measured for the campaign or stimulus with it (one transaction,
pipeline/store/manage.py) and needs a tick in a confirmation box first; the store refuses
while a job still writes to it. Names are shown as plain text (``st.text``, widget labels
built from ``md_text``), never as Markdown.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data, state
from dashboard.text import md_text
from pipeline.errors import ReactionError
from pipeline.store import catalog, manage, zones
from pipeline.store.database import connect

PAGE = "views/manage.py"
NOTICE_KEY = "manage_notice"
SEGMENT_COLUMNS = {"name": "Segment", "start_s": "Start (s)", "end_s": "End (s)"}


def _write(action, *args: object) -> object | None:
    """Run one store change on a writable connection; a refusal is shown as one line."""
    try:
        with connect(Path(data.db_path())) as con:
            return action(con, *args)
    except ReactionError as error:
        st.error(f"{md_text(error.title)}: {md_text(error.message)}")
        return None


def _done(message: str) -> None:
    """Remember the outcome for the next run, drop cached reads and redraw."""
    st.session_state[NOTICE_KEY] = message
    data.refresh()
    st.rerun()


def _campaign_section(campaign_id: int, name: str) -> None:
    st.subheader("Campaign")
    st.text(f"Selected campaign: {name}")
    new_name = st.text_input("New name", value=name, key=f"manage_campaign_name_{campaign_id}")
    if st.button("Rename campaign", key="manage_campaign_rename"):
        renamed = _write(manage.rename_campaign, name, new_name)
        if renamed is not None:
            _done(f"Campaign renamed to {renamed.name}")  # type: ignore[attr-defined]
    _campaign_zone(campaign_id)
    sure = st.checkbox(
        "Delete this campaign with all its stimuli, footage rows and series (cannot be undone)",
        key=f"manage_campaign_confirm_{campaign_id}",
    )
    if st.button(
        "Delete campaign", key="manage_campaign_delete", type="primary", disabled=not sure
    ):
        gone = _write(manage.delete_campaign, name)
        if gone is not None:
            _done(f"Deleted campaign {name}: {gone.summary()}")  # type: ignore[attr-defined]


def _zone_picker(label: str, current: str | None, inherit: str, key: str) -> str | None:
    """A searchable zone list whose first entry means "no own zone" (``inherit`` says what
    applies then); returns the picked IANA name, or None for that first entry."""
    options = [None, *zones.known_zones()]
    return st.selectbox(
        label,
        options,
        index=options.index(current) if current in options else 0,
        format_func=lambda z: inherit if z is None else z,
        key=key,
    )


def _campaign_zone(campaign_id: int) -> None:
    current = data.campaign_zone(data.db_path(), campaign_id)
    picked = _zone_picker(
        "Time zone of the campaign's cameras",
        current,
        f"{zones.DEFAULT_ZONE} (default)",
        f"manage_campaign_zone_{campaign_id}",
    )
    saved = st.button("Save time zone", key="manage_campaign_zone_save")
    if saved and _write(_set_zone, zones.set_campaign_zone, campaign_id, picked):
        _done(f"Campaign cameras use {picked or zones.DEFAULT_ZONE} unless set per camera")


def _source_zones(campaign_id: int, stimulus: catalog.Stimulus) -> None:
    """Per camera / footage source: its own zone, or the campaign's."""
    settings = data.source_settings(data.db_path(), stimulus.stimulus_id)
    if not settings:
        return
    st.markdown("**Time zone per camera**")
    by_id = {int(row[0]): row for row in settings}
    chosen = st.selectbox(
        "Camera / source",
        list(by_id),
        format_func=lambda i: f"{by_id[i][1]} ({by_id[i][4]})",
        key=f"manage_source_{stimulus.stimulus_id}",
    )
    _, name, _, own, _ = by_id[int(chosen)]
    default = data.campaign_zone(data.db_path(), campaign_id) or zones.DEFAULT_ZONE
    picked = _zone_picker(
        "Its time zone", own, f"Campaign default ({default})", f"manage_source_zone_{chosen}"
    )
    saved = st.button("Save camera time zone", key="manage_source_zone_save")
    if saved and _write(_set_zone, zones.set_source_zone, int(chosen), picked):
        _done(f"{name} uses {picked or default}")


def _set_zone(con, setter, entity_id: int, zone: str | None) -> bool:
    setter(con, entity_id, zone)
    return True


def _segments_editor(stimulus: catalog.Stimulus) -> None:
    st.markdown("**Segments**")
    st.caption("Named parts of the ad, in seconds from its start (like `--segments` on the CLI).")
    table = data.segments(data.db_path(), stimulus.stimulus_id)
    frame = pd.DataFrame(
        {
            "name": table["name"].astype(str) if len(table) else pd.Series(dtype=str),
            "start_s": table["start_s"].astype(float) if len(table) else pd.Series(dtype=float),
            "end_s": table["end_s"].astype(float) if len(table) else pd.Series(dtype=float),
        }
    )
    edited = st.data_editor(
        frame,
        num_rows="dynamic",
        hide_index=True,
        key=f"manage_segments_{stimulus.stimulus_id}",
        column_config={
            "name": st.column_config.TextColumn(SEGMENT_COLUMNS["name"], max_chars=120),
            "start_s": st.column_config.NumberColumn(SEGMENT_COLUMNS["start_s"], min_value=0.0),
            "end_s": st.column_config.NumberColumn(SEGMENT_COLUMNS["end_s"], min_value=0.0),
        },
    )
    if st.button("Save segments", key="manage_segments_save"):
        try:
            segments = segments_from_table(edited)
        except ValueError as error:
            st.error(f"Invalid segments: {md_text(error)}")
            return
        saved = _write(_set_segments, stimulus.stimulus_id, segments)
        if saved is not None:
            _done(f"Saved {len(segments)} segments of {stimulus.name}")


def segments_from_table(table: pd.DataFrame) -> list[catalog.Segment]:
    """Rows of the editor as segments; a row with a missing cell is an error, an empty row is
    ignored (the editor's blank new line)."""
    segments = []
    for row in table.itertuples(index=False):
        cells = [row.name, row.start_s, row.end_s]
        blank = [c is None or (isinstance(c, float) and pd.isna(c)) or c == "" for c in cells]
        if all(blank):
            continue
        if any(blank):
            raise ValueError("every segment needs a name, a start and an end")
        segments.append(catalog.Segment(str(row.name), float(row.start_s), float(row.end_s)))
    return segments


def _set_segments(con, stimulus_id: int, segments: list[catalog.Segment]) -> bool:
    catalog.set_segments(con, catalog.get_stimulus_by_id(con, stimulus_id), segments)
    return True


def _stimulus_section(campaign_id: int, campaign_name: str) -> None:
    st.subheader("Stimuli")
    with connect(Path(data.db_path()), read_only=True) as con:
        stimuli = catalog.list_stimuli(con, catalog.Campaign(campaign_id, campaign_name, ""))
    if not stimuli:
        st.info("This campaign has no stimulus yet.")
        return
    by_id = {s.stimulus_id: s for s in stimuli}
    chosen = st.selectbox(
        "Stimulus",
        list(by_id),
        format_func=lambda i: by_id[i].name,
        key=f"manage_stimulus_{campaign_id}",
    )
    stimulus = by_id[int(chosen)]
    st.text(f"Kind: {stimulus.kind}")
    new_name = st.text_input(
        "New stimulus name", value=stimulus.name, key=f"manage_stimulus_name_{chosen}"
    )
    if st.button("Rename stimulus", key="manage_stimulus_rename"):
        renamed = _write(manage.rename_stimulus, campaign_name, stimulus.name, new_name)
        if renamed is not None:
            _done(f"Stimulus renamed to {renamed.name}")  # type: ignore[attr-defined]
    if stimulus.kind == "ad":
        _segments_editor(stimulus)
    _source_zones(campaign_id, stimulus)
    sure = st.checkbox(
        "Delete this stimulus with its sources, footage rows and series (cannot be undone)",
        key=f"manage_stimulus_confirm_{chosen}",
    )
    if st.button("Delete stimulus", key="manage_stimulus_delete", disabled=not sure):
        gone = _write(manage.delete_stimulus, campaign_name, stimulus.name)
        if gone is not None:
            _done(f"Deleted stimulus {stimulus.name}: {gone.summary()}")  # type: ignore[attr-defined]


def main() -> None:
    st.title("Manage campaigns")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(md_text(notice))
    campaign_id, name = state.require_campaign()
    _campaign_section(campaign_id, name)
    st.divider()
    _stimulus_section(campaign_id, name)


main()
