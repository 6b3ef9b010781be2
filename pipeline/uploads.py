"""Footage uploaded through the dashboard: safe storage, a queued job, a detached worker.

The analysis runs in its own process (``python -m pipeline run-job ID``) started in a new
session, so it survives page reruns, closed tabs and Streamlit restarts; its status and
progress live in DuckDB, where any page can read them.

Privacy by default: the uploaded file is deleted as soon as its job ends, done or failed.
Only when the user ticks "keep" does it stay; kept files are listed on the upload page and
deleted by ``purge`` with their job. ``sweep_uploads`` removes anything else left in the
upload folder (a job whose process was killed, a save whose job was never queued).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import duckdb

from pipeline.analysis import AnalysisParams
from pipeline.errors import InputError
from pipeline.settings import PROJECT_ROOT, get_int, get_setting
from pipeline.sources.video import VIDEO_SUFFIXES
from pipeline.store import catalog, jobs
from pipeline.store.database import connect, transaction

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(original: str) -> str:
    """A name that cannot escape the upload folder: no separators, no leading dots,
    at most 80 characters, suffix kept (lower-cased)."""
    base = Path(original.replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    stem = _UNSAFE.sub("_", stem).strip("._") or "footage"
    return f"{stem[:80]}{suffix.lower()}"


def store_upload(
    data: bytes, original_name: str, upload_dir: Path | None = None, max_mb: int | None = None
) -> Path:
    """Validate and save uploaded bytes; returns the saved path inside the upload folder."""
    limit = (max_mb if max_mb is not None else get_int("EMOTION_UPLOAD_MAX_MB")) * 1024 * 1024
    name = safe_file_name(original_name)
    suffix = Path(name).suffix
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(
            "Unsupported file type",
            f"{original_name!r} is not a video ({', '.join(VIDEO_SUFFIXES)}).",
        )
    if len(data) == 0:
        raise InputError("Empty file", f"{original_name!r} has no content.")
    if len(data) > limit:
        raise InputError(
            "File too large",
            f"{original_name!r} is {len(data) / 2**20:.0f} MB; the limit is {limit // 2**20} MB.",
        )
    folder = (upload_dir or Path(get_setting("EMOTION_UPLOAD_DIR"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = (folder / f"{digest}_{name}").resolve()
    if path.parent != folder:
        raise InputError("Unsafe file name", f"{original_name!r} cannot be stored safely.")
    path.write_bytes(data)
    return path


def check_upload(saved: Path) -> None:
    """Refuse a saved upload that is not a whole, decodable video, and delete it.

    Runs before ``queue_upload`` creates anything, so a file that cannot be analysed leaves
    no campaign, stimulus, source, job or file behind: only the one-line error.
    """
    from pipeline.sources.video import probe_video

    try:
        probe_video(saved)
    except InputError:
        saved.unlink(missing_ok=True)
        raise


def queue_upload(
    saved: Path,
    campaign: str,
    stimulus: str,
    stimulus_kind: str,
    params: AnalysisParams,
    duration_s: float | None = None,
    db_path: Path | None = None,
    model_version: str | None = None,
    keep: bool = False,
) -> int:
    """Create campaign/stimulus/source as needed and a queued job; returns its id.

    ``keep``: the user chose to keep the file after analysis (it is deleted otherwise).
    """
    from pipeline.emotion.classifier import shared_classifier
    from pipeline.sources.frames import content_hash

    version = model_version or shared_classifier().version
    digest = content_hash(saved)
    # One transaction: a refusal half-way (a bad name, a busy store) creates nothing.
    with connect(db_path) as con, transaction(con):
        camp = catalog.ensure_campaign(con, campaign)
        stim = catalog.ensure_stimulus(con, camp, stimulus, stimulus_kind, duration_s)
        source = catalog.ensure_source(con, stim, "footage", saved.name.split("_", 1)[-1])
        key = jobs.JobKey(source.source_id, digest, params.digest(version))
        job_id = jobs.start_job(
            con,
            key,
            saved.name.split("_", 1)[-1],
            json.dumps(asdict(params)),
            version,
            params.detector,
            status="queued",
            input_path=str(saved),
        )
        con.execute("UPDATE ingest_jobs SET keep_input = ? WHERE job_id = ?", [keep, job_id])
        return job_id


def launch_job(job_id: int, db_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m pipeline run-job`` detached from this process's session."""
    command = [sys.executable, "-m", "pipeline", "run-job", str(job_id)]
    if db_path is not None:
        command += ["--db", str(db_path)]
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_queued_job(job_id: int, db_path: Path | None = None) -> None:
    """Body of ``run-job``: analyse a queued upload, recording any failure on the job."""
    from pipeline.ingest import Target, ingest, record_failure

    with connect(db_path) as con:
        input_path, params_json, source_id = jobs.queued_job_inputs(con, job_id)
        source = catalog.get_source(con, source_id)
        stimulus = catalog.get_stimulus_by_id(con, source.stimulus_id)
        campaign_name = con.execute(
            "SELECT name FROM campaigns WHERE campaign_id = ?", [stimulus.campaign_id]
        ).fetchone()[0]  # type: ignore[index]
    raw = json.loads(params_json)
    raw["exclusion_zones"] = tuple(tuple(tuple(p) for p in z) for z in raw["exclusion_zones"])
    params = AnalysisParams(**raw)
    target = Target(
        campaign_name, stimulus.name, stimulus.kind, source.name, "footage", stimulus.duration_s
    )
    try:
        ingest(
            "video", Path(input_path), target, params, db_path, force=False, queued_job_id=job_id
        )
    except Exception as error:
        record_failure(job_id, error, db_path)
        raise
    finally:
        discard_input(job_id, db_path)


def discard_input(job_id: int, db_path: Path | None = None) -> bool:
    """Delete a finished upload job's file unless the user chose to keep it; True if deleted."""
    with connect(db_path) as con:
        row = con.execute(
            "SELECT input_path, coalesce(keep_input, false) FROM ingest_jobs WHERE job_id = ?",
            [job_id],
        ).fetchone()
        if row is None or not row[0] or row[1]:
            return False
        con.execute("UPDATE ingest_jobs SET input_path = '' WHERE job_id = ?", [job_id])
        # The same bytes uploaded twice share one file: the last job to need it deletes it.
        needed = con.execute(
            "SELECT count(*) FROM ingest_jobs WHERE input_path = ? AND "
            "(status IN ('queued', 'running') OR coalesce(keep_input, false))",
            [row[0]],
        ).fetchone()
        if needed is not None and needed[0] > 0:
            return False
        Path(row[0]).unlink(missing_ok=True)
    return True


def forget_failed_upload(job_id: int, db_path: Path | None = None) -> bool:
    """Remove a failed upload's job, and the campaign, stimulus and source created for it
    when nothing else uses them, in one transaction; True if the job was removed.

    Called once its error has been shown (the upload page keeps that message), so a failed
    upload leaves nothing behind. "Created for it" is told by the timestamp: ``queue_upload``
    creates them and the job in one transaction, whose ``current_timestamp`` they share.
    """
    with connect(db_path) as con, transaction(con):
        row = con.execute(
            "SELECT j.source_id, so.stimulus_id, st.campaign_id, "
            "st.created_at = j.created_at, c.created_at = j.created_at, j.input_path "
            "FROM ingest_jobs j JOIN sources so USING (source_id) "
            "JOIN stimuli st ON st.stimulus_id = so.stimulus_id "
            "JOIN campaigns c ON c.campaign_id = st.campaign_id "
            "WHERE j.job_id = ? AND j.status = 'failed'",
            [job_id],
        ).fetchone()
        if row is None:
            return False
        source_id, stimulus_id, campaign_id, new_stimulus, new_campaign, kept = row
        jobs.delete_jobs(con, [job_id])
        used = "SELECT count(*) FROM ingest_jobs WHERE source_id = ?"
        if con.execute(used, [source_id]).fetchone() == (0,):
            con.execute("DELETE FROM sources WHERE source_id = ?", [source_id])
        left = con.execute(
            "SELECT (SELECT count(*) FROM sources WHERE stimulus_id = $s) + "
            "(SELECT count(*) FROM segments WHERE stimulus_id = $s)",
            {"s": stimulus_id},
        ).fetchone()
        if new_stimulus and left == (0,):
            con.execute("DELETE FROM stimuli WHERE stimulus_id = ?", [stimulus_id])
        others = con.execute(
            "SELECT count(*) FROM stimuli WHERE campaign_id = ?", [campaign_id]
        ).fetchone()
        if new_campaign and others == (0,):
            con.execute("DELETE FROM campaign_consent WHERE campaign_id = ?", [campaign_id])
            con.execute("DELETE FROM campaigns WHERE campaign_id = ?", [campaign_id])
        needed = con.execute(
            "SELECT count(*) FROM ingest_jobs WHERE input_path = ?", [kept]
        ).fetchone()
    if kept and needed == (0,):  # a file the user chose to keep, of a job that is gone
        Path(kept).unlink(missing_ok=True)
    return True


def kept_uploads(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str, int]]:
    """(job id, original name, path, bytes) of every upload the user chose to keep."""
    rows = con.execute(
        "SELECT job_id, input_name, input_path FROM ingest_jobs WHERE keep_input "
        "AND input_path <> '' ORDER BY job_id"
    ).fetchall()
    return [
        (int(job_id), str(name), str(path), Path(path).stat().st_size)
        for job_id, name, path in rows
        if Path(path).is_file()
    ]


def sweep_uploads(
    db_path: Path | None = None, upload_dir: Path | None = None, grace_s: float = 60.0
) -> list[Path]:
    """Delete files in the upload folder that no queued, running or kept job needs.

    Files younger than ``grace_s`` are left alone: they may be a save whose job is being
    queued right now.
    """
    folder = (upload_dir or Path(get_setting("EMOTION_UPLOAD_DIR"))).resolve()
    if not folder.is_dir():
        return []
    with connect(db_path) as con:
        needed = {
            str(Path(r[0]).resolve())
            for r in con.execute(
                "SELECT input_path FROM ingest_jobs WHERE input_path <> '' AND "
                "(status IN ('queued', 'running') OR coalesce(keep_input, false))"
            ).fetchall()
        }
    removed = []
    now = time.time()
    for entry in folder.iterdir():
        stale = entry.is_file() and now - entry.stat().st_mtime >= grace_s
        if stale and str(entry.resolve()) not in needed:
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
