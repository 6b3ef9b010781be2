"""Video recognition as an operation: ``recognizeinvideo`` (202 + Operation-Location) and
``GET operations/{id}``.

The body is spooled into the upload folder and analysed by a queued ingest job in its own
process (``python -m pipeline run-job``, as dashboard uploads are), so it survives a restart of
the server; the job deletes the file when it ends, and a job whose process died is recorded
as interrupted and reported Failed. Each operation gets its own source (``api-<id>``) under
the key's campaign and stimulus, so its result is exactly that file's series; a video the
stimulus already holds answers with that stored file's own people, even where its source
holds other files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pipeline.errors import ReactionError
from pipeline.service.bodies import media_type, spool_limited
from pipeline.service.deps import RecognizeKey, VideoKey
from pipeline.service.errors import ApiError
from pipeline.service.keys import ApiKey
from pipeline.service.routes_images import ERRORS
from pipeline.service.video_result import processing_result
from pipeline.service.writer import WRITE_LOCK
from pipeline.settings import get_int, get_setting
from pipeline.store.database import connect
from pipeline.store.jobs import JobRecord

router = APIRouter()

# The result's window: two base cells of the ad timeline (pipeline/audience/grid.py).
WINDOW_S = 1.0
# The title ``jobs.claim_job`` gives a queued job whose file the stimulus already has.
ALREADY_INGESTED = "Already ingested"
STATUS = {
    "queued": "Not Started",
    "running": "Running",
    "done": "Succeeded",
    "failed": "Failed",
}
_MAGIC = (
    (4, b"ftyp", ".mp4"),
    (0, b"RIFF", ".avi"),
    (0, b"\x1a\x45\xdf\xa3", ".mkv"),
)


def sweep_spools(db_path: Path | None) -> None:
    """Delete uploads no queued, running or kept job needs (a crashed worker's leftovers)."""
    from pipeline.uploads import sweep_uploads

    with contextlib.suppress(ReactionError):  # a busy database: the next start sweeps again
        sweep_uploads(db_path)


def _suffix(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    for offset, magic, suffix in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    raise ApiError(
        400, "BadArgument", "Unsupported video format: send MP4, MOV, AVI, MKV or WebM bytes."
    )


def start_operation(spooled: Path, operation_id: str, key: ApiKey, db_path: Path | None) -> None:
    """Probe, queue and launch the analysis of a spooled video; records the operation."""
    from pipeline.analysis import params_from_settings
    from pipeline.sources.video import probe_video
    from pipeline.uploads import launch_job, queue_upload

    path = spooled
    try:
        path = spooled.rename(spooled.with_suffix(_suffix(spooled)))
        try:
            info = probe_video(path)
        except ReactionError as error:
            raise ApiError(400, "BadArgument", f"{error.title}: {error.message}") from None
        assert key.campaign and key.stimulus
        with WRITE_LOCK:
            params = params_from_settings()
            job_id = queue_upload(path, key.campaign, key.stimulus, "ad", params, db_path=db_path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    with WRITE_LOCK, connect(db_path) as con:
        con.execute(
            "INSERT INTO api_operations (operation_id, key_id, job_id, window_s, width, height, "
            "framerate, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                operation_id,
                key.key_id,
                job_id,
                WINDOW_S,
                info.width,
                info.height,
                info.fps,
                info.duration_s,
            ],
        )
    process = launch_job(job_id, db_path)
    # Reap the worker when it ends (it deletes its own input); it outlives a server restart.
    threading.Thread(target=process.wait, daemon=True).start()


@router.post(
    "/emotion/v1.0/recognizeinvideo",
    summary="Start the analysis of a video (Emotion API operation)",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={
        202: {"description": "Accepted; poll the Operation-Location header's URL"},
        **ERRORS,
        413: {"description": "Body larger than EMOTION_UPLOAD_MAX_MB"},
    },
)
async def recognize_in_video(request: Request, key: VideoKey) -> Response:
    """Analyse a video (MP4, MOV, AVI, MKV, WebM; up to EMOTION_UPLOAD_MAX_MB) for the key's
    campaign and stimulus (a video key). Answers 202 with an ``Operation-Location`` header;
    GET that URL with the same key for the status and, on success, the result."""
    kind = media_type(request)
    if kind not in ("application/octet-stream", "") and not kind.startswith("video/"):
        raise ApiError(
            415, "BadArgument", "Invalid Media Type: send the video as application/octet-stream."
        )
    operation_id = str(uuid.uuid4())
    folder = Path(get_setting("EMOTION_UPLOAD_DIR"))
    folder.mkdir(parents=True, exist_ok=True)
    spooled = folder / f"{operation_id}_api-{operation_id[:8]}.part"
    size = await spool_limited(request, spooled, get_int("EMOTION_UPLOAD_MAX_MB") * 1024 * 1024)
    if size == 0:
        spooled.unlink(missing_ok=True)
        raise ApiError(400, "BadArgument", "The video body is empty.")
    await run_in_threadpool(start_operation, spooled, operation_id, key, request.app.state.db_path)
    location = str(request.url_for("operation", operation_id=operation_id))
    return Response(status_code=202, headers={"Operation-Location": location})


def operation_status(operation_id: str, key: ApiKey, db_path: Path | None) -> dict[str, Any]:
    from pipeline.audience.read import campaign_min_crowd, job_series, series
    from pipeline.store import catalog, jobs

    with WRITE_LOCK, connect(db_path) as con:
        row = con.execute(
            "SELECT key_id, job_id, window_s, width, height, framerate, duration_s, created_at "
            "FROM api_operations WHERE operation_id = ?",
            [operation_id],
        ).fetchone()
        if row is None or int(row[0]) != key.key_id:
            raise ApiError(404, "NotFound", f"No operation {operation_id!r} for this key.")
        _, job_id, window_s, width, height, framerate, duration_s, created = row
        jobs.expire_stale_jobs(con)  # a worker that died shows as Failed, not Running forever
        job = jobs.get_job(con, int(job_id))
        if job is not None and job.status == "failed" and job.error_title == ALREADY_INGESTED:
            # The same video was already analysed for this stimulus: its numbers are stored
            # once, and this operation answers with them (none once they have been purged).
            job = _stored_twin(con, int(job_id))
        if job is None:  # purged, or re-analysed into another source (ingest --force)
            raise ApiError(
                404, "NotFound", f"Operation {operation_id!r}: its results are no longer stored."
            )
        answer: dict[str, Any] = {
            "status": STATUS.get(job.status, "Failed"),
            "createdDateTime": _utc(created),
            "lastActionDateTime": _utc(job.updated_at),
            "progress": round(100.0 * float(job.progress or 0.0), 1),
        }
        if job.status == "failed":
            answer["message"] = f"{job.error_title}: {job.error_message}"
        if job.status == "done":
            source = catalog.get_source(con, job.source_id)
            stimulus = catalog.get_stimulus_by_id(con, source.stimulus_id)
            min_crowd = campaign_min_crowd(con, stimulus.campaign_id)
            if _shares_its_source(con, job):
                table = job_series(con, stimulus.stimulus_id, job.job_id, window_s, min_crowd)
            else:
                table = series(
                    con,
                    stimulus.stimulus_id,
                    bucket_s=window_s,
                    by_clock=False,
                    min_crowd=min_crowd,
                    source_id=source.source_id,
                )
            result = processing_result(table, window_s, duration_s, framerate, width, height)
            answer["processingResult"] = json.dumps(result)
    return answer


def _shares_its_source(con: duckdb.DuckDBPyConnection, job: JobRecord) -> bool:
    """Whether another file is stored in the job's source: then the source's series is not
    this file's (an operation's own source holds only its video, but a stored twin found by
    "Already ingested" may sit in a source that a CLI ingest filled with several)."""
    row = con.execute(
        "SELECT count(*) FROM ingest_jobs WHERE source_id = ? AND status = 'done' AND job_id <> ?",
        [job.source_id, job.job_id],
    ).fetchone()
    return bool(row and row[0])


def _stored_twin(con: duckdb.DuckDBPyConnection, job_id: int) -> JobRecord | None:
    """The done job that holds the same file's numbers (same bytes, parameters, stimulus)."""
    from pipeline.store import jobs

    row = con.execute(
        "SELECT source_id, content_hash, params_hash FROM ingest_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    return None if row is None else jobs.find_done_job(con, jobs.JobKey(*row))


def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


@router.get(
    "/emotion/v1.0/operations/{operation_id}",
    name="operation",
    summary="Status and result of a video operation",
    responses={404: {"description": "No such operation for this key"}, **ERRORS},
)
async def operation(operation_id: str, key: RecognizeKey, request: Request) -> dict[str, Any]:
    """``status`` (Not Started, Running, Succeeded, Failed), ``progress`` (percent), and on
    success ``processingResult``: a JSON string with version, timescale, offset, framerate,
    width, height and fragments (see the README for windows withheld by the minimum crowd)."""
    return await run_in_threadpool(operation_status, operation_id, key, request.app.state.db_path)
