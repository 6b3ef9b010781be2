"""Request bodies: read with a size limit (413 before the limit is passed, not after), and
the original API's two image forms (binary, or JSON ``{"url": ...}``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Request

from pipeline.service.errors import ApiError, too_large
from pipeline.service.images import fetch_url, max_image_bytes
from pipeline.settings import get_float

BINARY_TYPES = ("application/octet-stream", "")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise ApiError(400, "BadArgument", "Invalid Content-Length header.") from None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, answering 408 when none comes for
    ``EMOTION_API_BODY_IDLE_S``: the server itself waits for a body forever, so a client
    that stalls mid-upload would hold its connection, and a spooled video file, for good."""
    idle_s = get_float("EMOTION_API_BODY_IDLE_S")
    chunks = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(idle_s):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(
                408,
                "RequestTimeout",
                f"The request body stopped arriving: nothing came for {idle_s:g} s.",
                {"Connection": "close"},
            ) from None
        yield chunk


# A refused body up to this size is read and dropped before the 413 goes out, so that the
# client, still sending, reads the answer instead of a reset connection.
_DRAIN_BYTES = 16 * 1024 * 1024


async def _refuse(request: Request, limit: int, seen: int, what: str = "Image") -> ApiError:
    async for chunk in body_chunks(request):
        seen += len(chunk)
        if seen > _DRAIN_BYTES:
            break
    return too_large(limit, what)


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) one that says or turns out to be over ``limit``."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise await _refuse(request, limit, 0)
    parts, size = [], 0
    async for chunk in body_chunks(request):
        size += len(chunk)
        if size > limit:
            raise await _refuse(request, limit, size)
        parts.append(chunk)
    return b"".join(parts)


async def spool_limited(request: Request, path: Path, limit: int) -> int:
    """Stream a video body into ``path`` (never whole in memory); removes it again on 413."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise await _refuse(request, limit, 0, "Video")
    size = 0
    try:
        with path.open("wb") as out:
            async for chunk in body_chunks(request):
                size += len(chunk)
                if size > limit:
                    raise await _refuse(request, limit, size, "Video")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size


async def image_bytes(request: Request) -> bytes:
    """An image body as the original took it: raw bytes (application/octet-stream) or JSON
    ``{"url": "..."}`` (only where the operator allowed URLs). 415 for other media types."""
    kind = media_type(request)
    if kind in BINARY_TYPES or kind.startswith("image/"):
        return await read_limited(request, max_image_bytes())
    if kind == "application/json":
        raw = await read_limited(request, 64 * 1024)
        try:
            payload: Any = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "BadArgument", "JSON parsing error.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
            raise ApiError(400, "BadArgument", 'The JSON body must be {"url": "..."}.')
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fetch_url, payload["url"])
    raise ApiError(
        415,
        "BadArgument",
        f"Invalid Media Type {kind!r}: send application/octet-stream or application/json.",
    )
