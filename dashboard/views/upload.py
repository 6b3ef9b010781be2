"""Upload footage: store it, queue a job, run it in its own process, follow its progress.

The job's status lives in DuckDB, so progress survives reruns, reloads and closed tabs: the
page follows the jobs this session started (ids in session state) plus every job still
queued or running in the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from dashboard import data, state
from dashboard.labels import KEPT_UPLOADS, show_table
from dashboard.text import md_text
from pipeline.errors import InputError, ReactionError
from pipeline.settings import get_int

if TYPE_CHECKING:
    from pipeline.analysis import AnalysisParams

NEW = -1
JOBS_KEY = "upload_jobs"
STARTED_KEY = "upload_started"  # jobs this session uploaded
FAILED_KEY = "upload_failed"  # their failures, kept here once removed from the store
ENDED_KEY = "upload_ended"  # their jobs that ended and already reset the form
FORM_KEY = "upload_form"  # bumped to give the file picker a new, empty widget
# Typed inputs of the form: cleared with the file picker when an upload's job ends.
_FORM_INPUTS = ("upload_campaign_name", "upload_stimulus_name", "upload_duration", "upload_keep")
POLL_S = 1.0
ACTIVE = ("queued", "running")
KINDS = {"ad": "Ad (aligned to its own timeline)", "display": "Display", "product": "Product"}


def _video_types() -> list[str]:
    from pipeline.sources.video import VIDEO_SUFFIXES

    return [suffix.lstrip(".") for suffix in VIDEO_SUFFIXES]


def _analysis_params() -> AnalysisParams:
    """The CLI's defaults, from the same settings, so an upload and `ingest` agree.

    Imported here, not at the top: pipeline.analysis pulls in OpenCV, which only this page
    needs.
    """
    from pipeline.analysis import params_from_settings

    return params_from_settings()


def _model_version() -> str:
    """The installed model's version from its manifest (no model load in this process)."""
    from pipeline.reports.model_card import load_model_facts

    return load_model_facts().version


def _target(db: str) -> tuple[str, str, str, float | None] | None:
    """Campaign, stimulus, kind and ad duration chosen (or typed) by the user."""
    camps = data.campaigns(db)
    ids = [int(i) for i in camps["campaign_id"]]
    names = dict(zip(ids, camps["name"].astype(str), strict=True))
    current = state.campaign()
    options = [NEW, *ids]
    left, right = st.columns(2)
    with left:
        campaign_id = st.selectbox(
            "Campaign",
            options,
            index=options.index(current[0]) if current else 0,
            format_func=lambda i: "New campaign..." if i == NEW else names[i],
            key="upload_campaign",
        )
        if campaign_id == NEW:
            campaign = st.text_input("New campaign name", key="upload_campaign_name").strip()
            stimuli = pd.DataFrame(columns=["stimulus_id", "name", "kind", "duration_s"])
        else:
            campaign = names[campaign_id]
            stimuli = data.stimuli(db, campaign_id)
    stim_ids = [int(i) for i in stimuli["stimulus_id"]]
    stim_rows = {int(r.stimulus_id): r for r in stimuli.itertuples(index=False)}
    with right:
        stimulus_id = st.selectbox(
            "Stimulus",
            [NEW, *stim_ids],
            format_func=lambda i: (
                "New stimulus..." if i == NEW else f"{stim_rows[i].name} ({stim_rows[i].kind})"
            ),
            key=f"upload_stimulus_{campaign_id}",
        )
        if stimulus_id == NEW:
            stimulus = st.text_input("New stimulus name", key="upload_stimulus_name").strip()
            kind = st.selectbox(
                "Kind", list(KINDS), format_func=KINDS.__getitem__, key="upload_kind"
            )
            duration = None
            if kind == "ad":
                duration = st.number_input(
                    "Ad duration in seconds (optional)",
                    min_value=0.0,
                    value=None,
                    step=1.0,
                    key="upload_duration",
                )
        else:
            row = stim_rows[stimulus_id]
            stimulus, kind = str(row.name), str(row.kind)
            duration = None if pd.isna(row.duration_s) else float(row.duration_s)
            st.caption(f"Adds footage to the existing {kind} {md_text(stimulus)}.")
    if not campaign or not stimulus:
        return None
    return campaign, stimulus, kind, (float(duration) if duration else None)


def _start(db: str, upload: object, target: tuple[str, str, str, float | None], keep: bool) -> None:
    """Save the file, queue its job and launch the worker process; errors as title + text."""
    from pipeline.uploads import check_upload, launch_job, queue_upload, store_upload

    campaign, stimulus, kind, duration = target
    try:
        saved = store_upload(upload.getvalue(), upload.name)  # type: ignore[attr-defined]
        check_upload(saved)  # before anything is created: a bad file leaves nothing behind
        job_id = queue_upload(
            saved,
            campaign,
            stimulus,
            kind,
            _analysis_params(),
            duration_s=duration,
            db_path=Path(db),
            model_version=_model_version(),
            keep=keep,
        )
        launch_job(job_id, Path(db))
    except ReactionError as error:
        state.show_error(error)
        return
    st.session_state.setdefault(JOBS_KEY, []).append(job_id)
    st.session_state.setdefault(STARTED_KEY, []).append(job_id)
    data.refresh()
    st.toast(f"Job {job_id} started: {md_text(upload.name)}")  # type: ignore[attr-defined]


def _followed(db: str) -> pd.DataFrame:
    """Jobs this session follows: its own uploads and whatever is still queued or running."""
    jobs = data.jobs(db, limit=50)
    mine = st.session_state.setdefault(JOBS_KEY, [])
    active = jobs["status"].isin(ACTIVE)
    for job_id in jobs.loc[active, "job_id"]:
        if int(job_id) not in mine:
            mine.append(int(job_id))  # after a reload: keep following it until it ends
    return jobs[jobs["job_id"].isin(mine)]


def _ids_of(db: str, campaign: str, stimulus: str) -> tuple[int, int] | None:
    camps = data.campaigns(db)
    match = camps[camps["name"] == campaign]
    if match.empty:
        return None
    campaign_id = int(match["campaign_id"].iloc[0])
    stimuli = data.stimuli(db, campaign_id)
    found = stimuli[stimuli["name"] == stimulus]
    return (campaign_id, int(found["stimulus_id"].iloc[0])) if len(found) else None


def _show_job(db: str, job: pd.Series) -> None:
    label = (
        f"**{md_text(job['input_name'])}** → {md_text(job['campaign'])} / "
        f"{md_text(job['stimulus'])} (job {job['job_id']})"
    )
    status = str(job["status"])
    if status in ACTIVE:
        st.markdown(label)
        st.progress(
            float(job["progress"]),
            text=f"{status}: {float(job['progress']):.0%} - {int(job['frames'])} frames, "
            f"{int(job['faces'])} faces",
        )
    elif status == "done":
        st.markdown(label)
        st.progress(
            1.0, text=f"done: {int(job['faces'])} faces, {int(job['tracks'])} tracked faces"
        )
        if job["warnings"]:
            st.warning(md_text(job["warnings"]))
        ids = _ids_of(db, str(job["campaign"]), str(job["stimulus"]))
        if ids and st.button(
            f"Open the timeline of {md_text(job['stimulus'])}",
            key=f"open_timeline_{job['job_id']}",
            icon=":material/timeline:",
        ):
            state.open_timeline(*ids)
        if ids:
            _timeline_link(db, job, *ids)
    else:
        st.markdown(label)
        state.show_error(
            InputError(
                str(job["error_title"] or "Processing failed"),
                str(job["error_message"] or "The job stopped without a message."),
            )
        )


def _picker_key() -> str:
    form = int(st.session_state.get(FORM_KEY, 0))
    return "upload_file" if form == 0 else f"upload_file_{form}"


def _reset_when_done(db: str) -> None:
    """Once a job this session uploaded has ended, clear the form for the next file: the
    picker (a new widget key: Streamlit cannot empty one) and the typed names."""
    started = set(st.session_state.get(STARTED_KEY, []))
    if not started:
        return
    ended: set[int] = st.session_state.setdefault(ENDED_KEY, set())
    jobs = data.jobs(db, limit=50)
    gone = started - set(int(i) for i in jobs["job_id"])  # failed uploads are removed
    done = set(int(i) for i in jobs.loc[~jobs["status"].isin(ACTIVE), "job_id"]) & started
    fresh = (done | gone) - ended
    if fresh:
        ended |= fresh
        st.session_state[FORM_KEY] = st.session_state.get(FORM_KEY, 0) + 1
        for key in _FORM_INPUTS:
            st.session_state.pop(key, None)


def _timeline_link(db: str, job: pd.Series, campaign_id: int, stimulus_id: int) -> None:
    """The finished stimulus's timeline as a link with its view in the URL (shareable)."""
    stimuli = data.stimuli(db, campaign_id)
    kind = str(stimuli.loc[stimuli["stimulus_id"] == stimulus_id, "kind"].iloc[0])
    st.page_link(
        state.PAGE_TIMELINE,
        label="Link to this timeline (to share)",
        icon=":material/link:",
        query_params={"campaign": str(job["campaign"]), "stimulus": f"{job['stimulus']} ({kind})"},
    )


def _active_ids(jobs: pd.DataFrame) -> list[int]:
    return sorted(int(i) for i in jobs.loc[jobs["status"].isin(ACTIVE), "job_id"])


@st.fragment(run_every=POLL_S)
def _live(db: str, drawn_active: list[int]) -> None:
    """Re-drawn every POLL_S seconds while jobs run; a full rerun as soon as any of them
    ended (done, failed or interrupted), so a finished job is shown at once even while
    another (someone's CLI job) is still running."""
    jobs = _followed(db)
    if _active_ids(jobs) != drawn_active:
        data.refresh()  # new faces and maybe a new stimulus: every page must see them
        st.rerun(scope="app")
    for _, job in jobs[jobs["status"].isin(ACTIVE)].iterrows():
        _show_job(db, job)


def _forget_failures(db: str, jobs: pd.DataFrame) -> dict[int, pd.Series]:
    """This session's failed uploads: their row is kept here to show the error, and the job
    with the campaign and stimulus made for it is removed, so nothing is left behind."""
    from pipeline.uploads import forget_failed_upload

    failed: dict[int, pd.Series] = st.session_state.setdefault(FAILED_KEY, {})
    started = set(st.session_state.get(STARTED_KEY, []))
    for _, job in jobs[jobs["status"] == "failed"].iterrows():
        job_id = int(job["job_id"])
        mine = job_id in started and job_id not in failed
        if mine and forget_failed_upload(job_id, Path(db)):
            failed[job_id] = job.copy()
            data.refresh()
    return failed


def _jobs(db: str) -> None:
    jobs = _followed(db)
    failed = _forget_failures(db, jobs)
    if jobs.empty and not failed:
        return
    st.subheader("Processing")
    for job in failed.values():
        _show_job(db, job)
    for _, job in jobs[~jobs["status"].isin(ACTIVE)].iterrows():
        if int(job["job_id"]) not in failed:
            _show_job(db, job)
    active = _active_ids(jobs)
    if active:
        _live(db, active)


def _kept(db: str) -> None:
    """Uploads the user chose to keep: listed, with what that means, until purge removes them."""
    kept = data.kept_uploads(db)
    if kept.empty:
        return
    st.subheader("Kept uploads")
    st.warning(
        f"{len(kept)} uploaded file(s) are kept on this server at your request. They show "
        "people's faces: they are deleted with their job by `python -m pipeline purge` after "
        f"the retention period (EMOTION_RETENTION_DAYS = {get_int('EMOTION_RETENTION_DAYS')} "
        "days)."
    )
    show_table(kept, KEPT_UPLOADS, key="upload_kept")


def main() -> None:
    st.title("Upload footage")
    st.caption(
        "Video of an audience (a study room, respondents watching an ad, a shop floor). "
        "Faces are analysed on this server; only numbers are stored. The uploaded file is "
        "deleted when its analysis ends, unless you choose to keep it."
    )
    db = data.db_path()
    max_mb = get_int("EMOTION_UPLOAD_MAX_MB")
    try:
        _reset_when_done(db)
        upload = st.file_uploader(
            f"Footage file (up to {max_mb} MB)",
            type=_video_types(),
            max_upload_size=max_mb,
            key=_picker_key(),
        )
        target = _target(db)
        keep = st.checkbox(
            "Keep the uploaded file after analysis",
            value=False,
            key="upload_keep",
            help="Off by default: the footage is deleted as soon as its job ends. Kept files "
            "are listed below and deleted by `purge` after the retention period.",
        )
        clicked = st.button(
            "Analyse footage",
            type="primary",
            key="upload_start",
            disabled=upload is None or target is None,
            help="Name the campaign and stimulus and choose a file first.",
        )
        if clicked and upload is not None and target is not None:
            _start(db, upload, target, keep)
        _jobs(db)
        _kept(db)
    except ReactionError as error:
        state.show_error(error)


main()
