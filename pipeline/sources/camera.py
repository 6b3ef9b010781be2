"""Live cameras: anything OpenCV's FFmpeg backend opens (RTSP, HTTP MJPEG, a file path).

The capture stays open and every frame is grabbed, one sampled every ``every_s``. That costs
decoding the whole stream, but a stream that is not read fills its buffer and later hands
out seconds-old frames (or the server drops the session), and reopening per sample costs a
handshake plus a wait for the next key frame, which is longer than typical intervals. Cheap IP
cameras often stop sending after a while (some after one frame), so any failed grab means
reconnect, and only ``retries`` failed connects in a row are an error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from pipeline.errors import InputError
from pipeline.sources.frames import SampledFrame

_CATCH_UP_S = 0.5  # after a slow consumer, drain this long so the next sample is not stale
_SLEEP_SLICE_S = 0.2  # backoff sleeps wake this often to honour stop()


class _Camera:
    """One capture with reconnects; holds the last grabbed frame's grab time."""

    def __init__(
        self,
        url: str,
        open_timeout_s: float,
        retries: int,
        backoff_s: float,
        stop: Callable[[], bool],
    ) -> None:
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.stop = stop
        self.cap: cv2.VideoCapture | None = None
        self.grabbed_clock = 0.0
        self.grabbed_wall = datetime.min

    def connect(self, clock: Callable[[], float]) -> bool:
        """Open and grab a first frame, retrying with doubling backoff; False if stopped."""
        self.close()
        for attempt in range(self.retries):
            if self.stop():
                return False
            ms = max(1, int(self.open_timeout_s * 1000))
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
            if cap.isOpened() and cap.grab():
                self.cap = cap
                self._stamp(clock)
                return True
            cap.release()
            if attempt + 1 < self.retries and not _sleep(self.backoff_s * 2**attempt, self.stop):
                return False
        raise InputError(
            "Camera not reachable",
            f"The camera at {_redact(self.url)} did not answer within {self.open_timeout_s:g} s "
            f"after {self.retries} attempts; check the address, the network and the login.",
        )

    def grab(self, clock: Callable[[], float]) -> bool:
        if self.cap is None or not self.cap.grab():
            return False
        self._stamp(clock)
        return True

    def retrieve(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        ok, image = self.cap.retrieve()
        return image if ok and image is not None and image.size else None

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def _stamp(self, clock: Callable[[], float]) -> None:
        self.grabbed_clock = clock()
        self.grabbed_wall = datetime.now(UTC).replace(tzinfo=None)


def iter_camera_frames(
    url: str,
    every_s: float,
    open_timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 1.0,
    max_frames: int | None = None,
    stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[SampledFrame]:
    """Sample one frame every ``every_s`` seconds from a camera URL until stopped.

    ``timestamp`` is the grab time as timezone-naive UTC; ``offset_s`` is seconds since the
    first yielded frame, measured with ``clock`` (monotonic, so clock corrections do not bend
    the series). Frames between samples are grabbed and dropped (see the module docstring);
    if the consumer took longer than ``every_s``, missed samples are not made up and the
    next one waits until ``_CATCH_UP_S`` of buffered frames have been drained. A failed grab
    reconnects; ``retries`` failed connects in a row, each waiting up to ``open_timeout_s``
    with ``backoff_s``, 2x, 4x... between them, raise ``InputError("Camera not reachable")``
    (the URL's password is masked). A file path works too and replays from the start at its
    end, since end-of-file looks like a dropped stream. Ends after ``max_frames`` frames or
    when ``stop()`` returns True (checked after every grab).
    """
    if not (math.isfinite(every_s) and every_s > 0):
        raise InputError("Invalid sampling interval", f"every_s={every_s}; it must be > 0 s.")
    if not open_timeout_s > 0 or retries < 1 or backoff_s < 0:
        raise InputError(
            "Invalid camera settings",
            f"open_timeout_s={open_timeout_s:g}, retries={retries}, backoff_s={backoff_s:g}; "
            "the timeout must be positive, retries at least 1 and the backoff not negative.",
        )
    return _sample(url, every_s, open_timeout_s, retries, backoff_s, max_frames, stop, clock)


def _sample(
    url: str,
    every_s: float,
    open_timeout_s: float,
    retries: int,
    backoff_s: float,
    max_frames: int | None,
    stop: Callable[[], bool] | None,
    clock: Callable[[], float],
) -> Iterator[SampledFrame]:
    should_stop = stop if stop is not None else _never
    if max_frames is not None and max_frames <= 0:
        return
    camera = _Camera(url, open_timeout_s, retries, backoff_s, should_stop)
    try:
        if not camera.connect(clock):
            return
        index, first_clock, due = 0, None, camera.grabbed_clock
        while not should_stop():
            image = camera.retrieve() if camera.grabbed_clock >= due else None
            if image is not None:
                first_clock = camera.grabbed_clock if first_clock is None else first_clock
                yield SampledFrame(
                    index=index,
                    offset_s=camera.grabbed_clock - first_clock,
                    timestamp=camera.grabbed_wall,
                    image=image,
                )
                index += 1
                if max_frames is not None and index >= max_frames:
                    return
                due += every_s
                resumed = clock()
                if resumed > due:  # the consumer was slower than every_s
                    due = resumed + min(every_s, _CATCH_UP_S)
            elif camera.grabbed_clock >= due:  # grabbed but could not be decoded
                if not camera.connect(clock):
                    return
                continue
            if not camera.grab(clock) and not camera.connect(clock):
                return
    finally:
        camera.close()


def _never() -> bool:
    return False


def _sleep(seconds: float, stop: Callable[[], bool]) -> bool:
    """Sleep in short slices; False as soon as ``stop()`` says so."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if stop():
            return False
        time.sleep(min(left, _SLEEP_SLICE_S))
    return not stop()


def _redact(url: str) -> str:
    """The URL with its password replaced by ***, safe for messages and logs."""
    try:
        parts = urlsplit(url)
        if not parts.password:
            return url
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url
