"""Image bodies of the HTTP service: size checks, decoding, and the optional ``{"url": ...}``.

The body is decoded in memory and dropped after scoring: no image is written anywhere.
``{"url": ...}`` is off unless a folder (EMOTION_API_URL_FOLDER) or hosts
(EMOTION_API_URL_HOSTS) are configured, and then reaches only files inside that folder or
http(s) URLs on those exact hosts (no redirects, so a listed host cannot point elsewhere).
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.service.errors import ApiError, too_large
from pipeline.settings import get_int, get_setting

# The original service took images from 36 x 36 px (its smallest face) upwards.
MIN_SIDE_PX = 36


def max_image_bytes() -> int:
    return get_int("EMOTION_API_MAX_IMAGE_MB") * 1024 * 1024


def invalid_image() -> ApiError:
    return ApiError(400, "InvalidImage", "Decoding error, image format unsupported.")


def decode_image(data: bytes) -> np.ndarray:
    """BGR uint8 (H, W, 3) from JPEG, PNG, GIF (first frame), BMP, WEBP or TIFF bytes.

    EXIF orientation is applied, as for snapshots read from a folder. Raises ApiError:
    400 InvalidImageSize for an empty body or one under 36 px or over EMOTION_MAX_IMAGE_PIXELS
    (checked from the header, before decoding), 400 InvalidImage for anything else.
    """
    if not data:
        raise ApiError(400, "InvalidImageSize", "Image size is too small: the body is empty.")
    if len(data) > max_image_bytes():
        raise too_large(max_image_bytes())
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if min(width, height) < MIN_SIDE_PX:
                raise ApiError(
                    400,
                    "InvalidImageSize",
                    f"Image size is too small: {width}x{height} px, the smallest is "
                    f"{MIN_SIDE_PX}x{MIN_SIDE_PX}.",
                )
            limit = get_int("EMOTION_MAX_IMAGE_PIXELS")
            if width * height > limit:
                raise ApiError(
                    400,
                    "InvalidImageSize",
                    f"Image size is too big: {width}x{height} px is over {limit} pixels.",
                )
            image.seek(0)
            upright = ImageOps.exif_transpose(image.convert("RGB"))
            rgb = np.asarray(upright, dtype=np.uint8)
    except ApiError:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses a header declaring a gigantic image before our own size check runs.
        raise ApiError(
            400,
            "InvalidImageSize",
            "Image size is too big: its header declares over "
            f"{get_int('EMOTION_MAX_IMAGE_PIXELS')} pixels.",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise invalid_image() from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _url_off() -> ApiError:
    return ApiError(
        400,
        "InvalidURL",
        "Image URLs are off on this server: send the image bytes as application/octet-stream "
        "(or ask the operator to set EMOTION_API_URL_FOLDER or EMOTION_API_URL_HOSTS).",
    )


def _bad_url(why: str) -> ApiError:
    return ApiError(400, "InvalidURL", f"Invalid image URL: {why}.")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch_url(url: str) -> bytes:
    """The bytes a ``{"url": ...}`` names, within the configured folder or hosts only."""
    folder_setting = get_setting("EMOTION_API_URL_FOLDER").strip()
    hosts = {h.strip().lower() for h in get_setting("EMOTION_API_URL_HOSTS").split(",")}
    hosts.discard("")
    if not folder_setting and not hosts:
        raise _url_off()
    if not isinstance(url, str) or not url.strip():
        raise _bad_url("the url is empty")
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme in ("http", "https"):
        return _fetch_http(url.strip(), parsed, hosts)
    if parsed.scheme in ("", "file") and folder_setting:
        return _read_in_folder(
            Path(urllib.parse.unquote(parsed.path)), Path(folder_setting).resolve()
        )
    raise _bad_url(f"{parsed.scheme or 'local'} URLs are not allowed here")


def _read_in_folder(path: Path, folder: Path) -> bytes:
    target = (path if path.is_absolute() else folder / path).resolve()
    if not target.is_relative_to(folder):
        raise _bad_url("only images inside the configured folder can be named")
    if not target.is_file():
        raise _bad_url("no such image in the configured folder")
    if target.stat().st_size > max_image_bytes():
        raise too_large(max_image_bytes())
    return target.read_bytes()


def _fetch_http(url: str, parsed: urllib.parse.SplitResult, hosts: set[str]) -> bytes:
    host = (parsed.hostname or "").lower()
    allowed = host in hosts if parsed.port is None else f"{host}:{parsed.port}" in hosts
    if not allowed:
        raise _bad_url(f"host {parsed.netloc!r} is not one of the configured hosts")
    opener = urllib.request.build_opener(_NoRedirects)
    limit = max_image_bytes()
    try:
        with opener.open(url, timeout=10) as response:
            data = response.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise _bad_url(f"it could not be fetched ({error})") from None
    if len(data) > limit:
        raise too_large(limit)
    return bytes(data)
