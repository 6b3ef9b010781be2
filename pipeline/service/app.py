"""The FastAPI application of ``python -m pipeline serve``.

One process holds one detector, one model and the key gate; request handlers run the CPU work
in the thread pool so a slow image never blocks the others' key checks. The database is opened
per operation (as everywhere in the product), so the CLI and the dashboard keep working while
the server runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from pipeline.service import routes_images, routes_push, routes_video
from pipeline.service.access import Gate
from pipeline.service.errors import install_handlers

DESCRIPTION = """
The retired Emotion API's contract, served offline by this product's own detector and
expression model, plus snapshot push for store cameras and video operations over the product's
own series. Every operation needs an `Ocp-Apim-Subscription-Key` header (make keys with
`python -m pipeline keys add NAME`). Errors answer `{"error": {"code", "message"}}`.
No image or video is kept after it is analysed; only numbers are stored, and only by the
snapshot and video operations.
"""


def create_app(db_path: Path | None = None, warm: bool = True) -> FastAPI:
    """The application; ``warm`` builds detector and model before the first request."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            routes_images.recognizer(app)
        routes_video.sweep_spools(db_path)
        yield

    # The /docs page's Swagger UI files are served by the app itself (fastapi-offline ships
    # them): FastAPI's default page loads them from a CDN, which an offline store never reaches.
    app = FastAPIOffline(
        redoc_url=None,
        title="Audience reactions: Emotion-API-compatible service",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.db_path = db_path
    app.state.gate = Gate(db_path)
    install_handlers(app)
    app.include_router(routes_images.router)
    app.include_router(routes_push.router)
    app.include_router(routes_video.router)
    return app
