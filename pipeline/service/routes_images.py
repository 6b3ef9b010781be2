"""Image recognition: the Emotion API's ``recognize`` and the Face API's ``detect``.

Both answer from one image in memory and store nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from pipeline.emotion.labels import LABELS
from pipeline.service.bodies import image_bytes
from pipeline.service.deps import RecognizeKey
from pipeline.service.images import decode_image
from pipeline.service.recognize import (
    Recognizer,
    ScoredFace,
    emotion_api_faces,
    face_api_faces,
    parse_attributes,
    parse_rectangles,
)

router = APIRouter()
_build_lock = threading.Lock()

IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"url": {"type": "string"}},
                    "required": ["url"],
                }
            },
        },
    }
}
SCORES = {
    "type": "object",
    "properties": {n: {"type": "number"} for n in LABELS},
}
RECTANGLE = {
    "type": "object",
    "properties": {k: {"type": "integer"} for k in ("left", "top", "width", "height")},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "BadArgument, InvalidImage, InvalidImageSize or InvalidURL"},
    401: {"description": "No, unknown or revoked Ocp-Apim-Subscription-Key"},
    403: {"description": "The key's scope does not allow this operation"},
    413: {"description": "Body larger than EMOTION_API_MAX_IMAGE_MB"},
    415: {"description": "Neither application/octet-stream nor application/json"},
    429: {"description": "Too many requests for this key; see Retry-After"},
}


def recognizer(app: FastAPI) -> Recognizer:
    """The app's one Recognizer, built on first use."""
    with _build_lock:
        if getattr(app.state, "recognizer", None) is None:
            app.state.recognizer = Recognizer()
        return app.state.recognizer  # type: ignore[no-any-return]


async def _faces(request: Request, rectangles: str | None) -> list[ScoredFace]:
    data = await image_bytes(request)
    engine = await run_in_threadpool(recognizer, request.app)

    def work() -> list[ScoredFace]:
        image = decode_image(data)
        boxes = parse_rectangles(rectangles, image.shape) if rectangles is not None else None
        return engine.faces(image, boxes)

    return await run_in_threadpool(work)


@router.post(
    "/emotion/v1.0/recognize",
    summary="Expressions of the faces in an image (Emotion API)",
    openapi_extra=IMAGE_BODY,
    responses={
        200: {
            "description": "Faces, largest first",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"faceRectangle": RECTANGLE, "scores": SCORES},
                        },
                    }
                }
            },
        },
        **ERRORS,
    },
)
async def recognize(
    request: Request,
    _: RecognizeKey,
    face_rectangles: str | None = Query(
        None,
        alias="faceRectangles",
        description="left,top,width,height;... to score these boxes instead of detecting",
    ),
) -> list[dict[str, Any]]:
    """The Emotion API's ``recognize``: every face of at least 36 px (the setting
    EMOTION_API_MIN_FACE_PX) with its rectangle and the eight expression scores (summing to
    1), largest face first; ``[]`` when there is none."""
    return emotion_api_faces(await _faces(request, face_rectangles))


@router.post(
    "/face/v1.0/detect",
    summary="Faces with emotion and head pose attributes (Face API)",
    openapi_extra=IMAGE_BODY,
    responses=ERRORS,
)
async def detect(
    request: Request,
    _: RecognizeKey,
    return_face_attributes: str | None = Query(
        None, alias="returnFaceAttributes", description="emotion,headPose"
    ),
    return_face_id: bool = Query(
        True, alias="returnFaceId", description="accepted; no faceId is ever returned"
    ),
    return_face_landmarks: bool = Query(
        False,
        alias="returnFaceLandmarks",
        description="pupilLeft, pupilRight, noseTip, mouthLeft, mouthRight (x, y in pixels)",
    ),
) -> list[dict[str, Any]]:
    """The Face API's ``detect``: ``faceRectangle`` and, when asked, ``faceAttributes`` with
    ``emotion`` and ``headPose`` (pitch, roll, yaw in degrees; null for detectors without
    landmarks), and with ``returnFaceLandmarks=true`` the five landmarks the detector gives.
    No faceId: this service keeps nothing about a face to refer to later."""
    attributes = parse_attributes(return_face_attributes)
    return face_api_faces(await _faces(request, None), attributes, return_face_landmarks)
