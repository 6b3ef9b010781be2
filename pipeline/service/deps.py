"""The key check as a FastAPI dependency (it also puts the key field on the /docs page)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from pipeline.service.keys import ApiKey

KEY_HEADER = "Ocp-Apim-Subscription-Key"
_header = APIKeyHeader(
    name=KEY_HEADER,
    auto_error=False,
    description="A key from `python -m pipeline keys add NAME` (shown once when made).",
)


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency admitting keys that may call an operation of ``scope``."""

    def admitted(request: Request, key: str | None = Security(_header)) -> ApiKey:
        return request.app.state.gate.admit(key, scope)  # type: ignore[no-any-return]

    return admitted


RecognizeKey = Annotated[ApiKey, Depends(require("recognize"))]
PushKey = Annotated[ApiKey, Depends(require("push"))]
VideoKey = Annotated[ApiKey, Depends(require("video"))]
