"""Snapshot push for store cameras: ``POST /v1/snapshots``.

A push key names the campaign, stimulus and camera, so a camera can only add to its own
series. The snapshot is analysed exactly as ``ingest-images`` analyses a file (same settings,
same job bookkeeping, idempotent by content) from a spool file that is deleted before the
answer goes out: only numbers are kept.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import cv2
from fastapi import APIRouter, Header, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from pipeline.service.bodies import BINARY_TYPES, media_type, read_limited
from pipeline.service.deps import PushKey
from pipeline.service.errors import ApiError
from pipeline.service.images import decode_image, max_image_bytes
from pipeline.service.keys import ApiKey
from pipeline.service.routes_images import ERRORS
from pipeline.service.writer import WRITE_LOCK
from pipeline.settings import get_setting
from pipeline.sources.clock import capture_window_text, plausible_capture, utc_now

router = APIRouter()

# Formats spooled as sent; others (GIF, and TIFF, whose float and 16-bit-per-channel variants
# Pillow reads and OpenCV does not) are spooled as the PNG of the pixels decode_image read.
_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp"}


def capture_time(header: str | None) -> dt.datetime:
    """The ``X-Capture-Time`` header (ISO 8601; a zone-less time is UTC) as naive UTC, or
    now. The store keeps naive UTC, as for snapshots read from a folder."""
    if header is None or not header.strip():
        return utc_now().replace(microsecond=0)
    try:
        value = dt.datetime.fromisoformat(header.strip().replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ApiError(
            400,
            "BadArgument",
            f"Invalid X-Capture-Time {header!r}: use ISO 8601, e.g. 2026-03-14T09:20:00Z.",
        ) from None
    if not plausible_capture(value):
        raise ApiError(
            400,
            "BadArgument",
            f"Invalid X-Capture-Time {header!r}: it must lie {capture_window_text()}; "
            "check the camera's clock.",
        )
    return value


def _spool(data: bytes, folder: Path) -> Path:
    """The snapshot as a file ``ingest`` can read (GIF and others re-encoded as PNG)."""
    import io

    with Image.open(io.BytesIO(data)) as image:
        suffix = _SUFFIX.get(image.format or "")
    path = folder / f"snapshot{suffix or '.png'}"
    if suffix:
        path.write_bytes(data)
    else:
        cv2.imwrite(str(path), decode_image(data))
    return path


def push_snapshot(
    data: bytes, key: ApiKey, taken: dt.datetime, db_path: Path | None
) -> dict[str, Any]:
    """Analyse and store one snapshot for the key's camera; what was counted."""
    from pipeline.analysis import params_from_settings
    from pipeline.ingest import Target, ingest

    decode_image(data)  # 400 for anything that is not a usable image, before any job exists
    root = Path(get_setting("EMOTION_UPLOAD_DIR")) / "api-snapshots"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{uuid.uuid4().hex[:8]}-", dir=root))
    try:
        path = _spool(data, folder)
        assert key.campaign and key.stimulus and key.camera
        target = Target(key.campaign, key.stimulus, "display", key.camera, "camera")
        params = params_from_settings()
        with WRITE_LOCK:  # snapshots are analysed one at a time (pipeline/service/writer.py)
            summary = ingest("images", path, target, params, db_path, start_time=taken)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "status": "counted" if summary.status == "done" else summary.status,
        "jobId": summary.job_id,
        "faces": summary.faces,
        "capturedAt": taken.isoformat() + "Z",
        "campaign": key.campaign,
        "stimulus": key.stimulus,
        "camera": key.camera,
        **({"message": summary.message} if summary.message else {}),
    }


@router.post(
    "/v1/snapshots",
    summary="Push a camera snapshot: analysed, counted, not kept",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses=ERRORS,
)
async def snapshots(
    request: Request,
    key: PushKey,
    x_capture_time: str | None = Header(
        None, description="ISO 8601 capture time (UTC when no zone); default: now"
    ),
) -> dict[str, Any]:
    """Store the numbers of one snapshot for the campaign, stimulus and camera of the key
    (a push key), exactly as ``ingest-images`` would. The answer says what was counted:
    ``status`` counted (or skipped: the same bytes were already counted), ``faces``, the
    job id and the capture time used."""
    if media_type(request) not in BINARY_TYPES and not media_type(request).startswith("image/"):
        raise ApiError(
            415, "BadArgument", "Invalid Media Type: send the snapshot as application/octet-stream."
        )
    taken = capture_time(x_capture_time)
    data = await read_limited(request, max_image_bytes())
    return await run_in_threadpool(push_snapshot, data, key, taken, request.app.state.db_path)
