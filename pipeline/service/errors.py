"""Errors of the HTTP service in the original Emotion / Face API shape.

Every failure answers ``{"error": {"code": ..., "message": ...}}`` with the original status
code and code name, so client code written against the retired cloud API handles ours too.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from pipeline.errors import InputError, ReactionError, StoreError, UnknownEntityError

# The server's own log (uvicorn configures it, at serve --log-level): a line here is seen.
_log = logging.getLogger("uvicorn.error")


class ApiError(Exception):
    """An answer other than 2xx: status, the original error code name and a message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def no_key() -> ApiError:
    return ApiError(
        401,
        "Unspecified",
        "Access denied due to invalid subscription key. Make sure you are subscribed to an API "
        "you are trying to call and provide the right key (Ocp-Apim-Subscription-Key header).",
    )


def revoked_key() -> ApiError:
    return ApiError(401, "Unspecified", "Access denied: this subscription key was revoked.")


def wrong_scope(needed: str, scope: str) -> ApiError:
    return ApiError(
        403,
        "PermissionDenied",
        f"This subscription key may only {_ALLOWS[scope]}; this operation needs a {needed} key.",
    )


_ALLOWS = {
    "recognize": "recognize images",
    "push": "push snapshots (and recognize images)",
    "video": "start video operations (and recognize images)",
}


def too_many(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        "RateLimitExceeded",
        f"Rate limit is exceeded. Try again in {retry_after_s} seconds.",
        {"Retry-After": str(retry_after_s)},
    )


def too_large(limit_bytes: int, what: str = "Image") -> ApiError:
    """413 with the original's size code: InvalidImageSize, or InvalidVideoSize for videos."""
    return ApiError(
        413,
        f"Invalid{what}Size",
        f"{what} size is too big: the body is larger than {limit_bytes / 2**20:g} MB.",
    )


def from_reaction_error(error: ReactionError) -> ApiError:
    """The product's own errors, mapped once: bad input 400, unknown names 404, store 503."""
    if isinstance(error, UnknownEntityError):
        return ApiError(404, "NotFound", f"{error.title}: {error.message}")
    if isinstance(error, StoreError):
        return ApiError(503, "ServiceUnavailable", f"{error.title}: {error.message}")
    if isinstance(error, InputError):
        return ApiError(400, "BadArgument", f"{error.title}: {error.message}")
    return ApiError(500, "InternalServerError", f"{error.title}: {error.message}")


_STATUS_CODES = {
    400: "BadArgument",
    404: "NotFound",
    405: "MethodNotAllowed",
    415: "BadArgument",
}


def install_handlers(app: FastAPI) -> None:
    """Every error (ours, FastAPI's validation, Starlette's 404/405) in the original shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(error.code, error.message), error.status, headers=error.headers
        )

    @app.exception_handler(ReactionError)
    async def _reaction_error(_: Request, error: ReactionError) -> JSONResponse:
        api = from_reaction_error(error)
        return JSONResponse(error_body(api.code, api.message), api.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"Invalid argument {where}: {first.get('msg', 'invalid')}."
        return JSONResponse(error_body("BadArgument", message), 400)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # The client hung up mid-body: nobody reads an answer, and the traceback Starlette
        # would log for it is noise. Spooled uploads are removed by their own handlers.
        _log.info("Client hung up during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "Unspecified")
        return JSONResponse(
            error_body(code, str(error.detail)), error.status_code, headers=error.headers
        )
