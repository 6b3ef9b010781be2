"""Video files: check them before any work starts, then stream sampled frames.

OpenCV reports every kind of bad file the same way (``isOpened()`` is False, or the first
``read()`` fails), which tells a user nothing. ``probe_video`` reads the container's first bytes
itself so it can say *which* problem it is: not a video at all, a file cut short by a failed
copy, or a codec this OpenCV build cannot decode.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2

from pipeline.errors import InputError
from pipeline.sources.frames import SampledFrame, check_readable_file

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")

_HEAD_BYTES = 64 * 1024  # AVI and Matroska keep their stream headers in the first few KiB
_MAX_MOOV_BYTES = 64 * 1024 * 1024  # an MP4 index bigger than this is not worth parsing for a name
_EPS_S = 1e-4  # container timestamps carry float noise (3280.0000000000005 ms)
_TRUNCATION_SLACK_S = 1.0  # header durations are estimates; a missing second is not truncation
_ISO_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"}
_MKV_CODEC_ID = re.compile(rb"\x86([\x81-\xc0])")  # EBML element 0x86 CodecID, 1-byte size


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video that OpenCV can decode."""

    path: Path
    width: int
    height: int
    fps: float
    """Nominal frames per second from the header; 0.0 when the container gives none."""
    frame_count: int
    """From the header (Matroska: estimated from duration), so only a hint."""
    duration_s: float
    """frame_count / fps in seconds; 0.0 when either is unknown."""
    codec: str
    """Fourcc text as stored in the container (e.g. "mp4v", "MJPG"), else OpenCV's guess."""


@dataclass(frozen=True)
class _Container:
    """What the first bytes say: the family, whether its structure is whole, the codec tag."""

    kind: str  # "MP4/MOV", "AVI" or "Matroska/WebM"
    intact: bool
    codec: str | None


def probe_video(path: Path) -> VideoInfo:
    """Check that ``path`` is a whole video OpenCV can decode, and describe it.

    Decodes one frame, so a file that passes will stream. Raises ``InputError`` titled
    "File not found", "Not a file", "File not readable", "Unsupported file type",
    "Empty file", "Not a video", "Truncated or damaged video" or "Unsupported codec".
    """
    path = Path(path)
    stat = check_readable_file(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(
            "Unsupported file type",
            f"{path.name} does not end in one of {', '.join(VIDEO_SUFFIXES)}; "
            "convert it to one of these formats, or fix the suffix if it is wrong.",
        )
    if stat.st_size == 0:
        raise InputError(
            "Empty file",
            f"{path.name} is 0 bytes, so the copy or upload did not finish; copy it again.",
        )
    container = _inspect_container(path, stat.st_size)
    if container is None and _is_still_image(path):
        # FFmpeg opens a JPEG or PNG as a one-frame "video" of unknown length: refused here,
        # or it would be stored as footage of one frame that no person can be followed in.
        raise InputError(
            "Not a video",
            f"{path.name} is a still image with a video suffix; give it its image suffix and "
            "ingest it with ingest-images.",
        )
    if container is not None and not container.intact:
        # Checked before OpenCV: a cut MP4 streams fine until its missing half, and the whole
        # campaign run would be thrown away at the end.
        raise _damaged(path, container)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)  # FFMPEG only: CAP_IMAGES would guess
    try:
        if not cap.isOpened():
            raise _unreadable(path, container, "")
        opencv_codec = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0 or not cap.grab():
            raise _unreadable(path, container, opencv_codec)
        fps = cap.get(cv2.CAP_PROP_FPS)
        frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    fps = fps if math.isfinite(fps) and fps > 0 else 0.0
    frame_count = max(frame_count, 0)
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        duration_s=frame_count / fps if fps > 0 else 0.0,
        codec=(container.codec if container and container.codec else opencv_codec),
    )


def iter_video_frames(
    path: Path, sample_fps: float, start_s: float = 0.0, end_s: float | None = None
) -> Iterator[SampledFrame]:
    """Stream frames of ``path`` at ``sample_fps`` between ``start_s`` and ``end_s`` (seconds).

    The file is probed when this is called, so a bad file fails before the first frame.
    A frame is yielded when its container timestamp reaches the next sample time
    (``k / sample_fps``, at or after ``start_s``); ``offset_s`` is that timestamp, so
    variable-frame-rate footage keeps true times, and ``index`` is k, the slot on that grid.
    ``end_s`` is exclusive. Only the current frame is held: skipped
    frames are ``grab()``-ed (decoded, never converted) and only sampled ones ``retrieve()``-d.

    If decoding stops well before the header's duration (a streamable file whose tail is
    missing), the frames decoded so far have already been yielded and then
    ``InputError("Truncated video")`` is raised. Callers store a file's frames in one
    transaction, so that error rolls everything back and nothing from the file is kept.
    """
    if not (math.isfinite(sample_fps) and sample_fps > 0):
        raise InputError(
            "Invalid sample rate", f"Sample rate {sample_fps} must be a positive number of fps."
        )
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise InputError(
            "Invalid time range",
            f"Range {start_s:g} s to {end_s} s is empty or negative; give 0 <= start < end.",
        )
    info = probe_video(Path(path))
    if info.duration_s > 0 and start_s >= info.duration_s:
        raise InputError(
            "Invalid time range",
            f"Start {start_s:g} s is past the end of {info.path.name} "
            f"({info.duration_s:.1f} s); give an earlier start.",
        )
    return _sample(info, sample_fps, start_s, end_s)


def _sample(
    info: VideoInfo, sample_fps: float, start_s: float, end_s: float | None
) -> Iterator[SampledFrame]:
    step = 1.0 / sample_fps
    frame_s = 1.0 / info.fps if info.fps > 0 else step
    cap = cv2.VideoCapture(str(info.path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():  # probed a moment ago: the file was replaced or removed since
            raise _unreadable(info.path, None, info.codec)
        # Seek only when it saves real work; the first frame after a seek is verified below.
        seeking = start_s > 2.0 and cap.set(cv2.CAP_PROP_POS_MSEC, start_s * 1000.0)
        next_s, last_s, in_range = start_s, None, False
        while cap.grab():
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if last_s is not None and not t > last_s:
                t = last_s + frame_s  # a stream without usable timestamps: count frames instead
            if seeking:
                seeking = False
                if t > start_s + frame_s + _EPS_S:  # the seek overshot: decode from the start
                    cap.release()
                    cap = cv2.VideoCapture(str(info.path), cv2.CAP_FFMPEG)
                    if not cap.isOpened():
                        raise _unreadable(info.path, None, info.codec)
                    last_s = None
                    continue
            last_s = t
            if end_s is not None and t >= end_s - _EPS_S:
                in_range = True
                break
            if t + _EPS_S < next_s:
                continue
            ok, image = cap.retrieve()
            if not ok:
                break
            # The index is the frame's slot on the sampling grid k / sample_fps counted from
            # the start of the file, so a time-range chunk numbers its frames as a whole pass.
            slot = math.floor((t + _EPS_S) / step)
            yield SampledFrame(index=slot, offset_s=t, timestamp=None, image=image)
            next_s = step * (slot + 1)
        if not in_range:
            _check_complete(info, start_s, end_s, last_s, frame_s)
    finally:
        cap.release()


def _check_complete(
    info: VideoInfo, start_s: float, end_s: float | None, last_s: float | None, frame_s: float
) -> None:
    """Raise "Truncated video" when decoding ended well short of where the header says."""
    if info.duration_s <= 0:
        return  # no duration to compare with (live-style containers)
    target = info.duration_s if end_s is None else min(end_s, info.duration_s)
    reached = start_s if last_s is None else last_s + frame_s
    if target - reached > max(_TRUNCATION_SLACK_S, 0.02 * info.duration_s):
        raise InputError(
            "Truncated video",
            f"{info.path.name} decoded up to {reached:.1f} s of {info.duration_s:.1f} s; "
            "the rest of the file is missing or damaged, so copy or export it again.",
        )


def _fourcc_text(value: float) -> str:
    raw = int(value).to_bytes(4, "little", signed=False) if 0 <= value < 2**32 else b""
    text = raw.decode("ascii", errors="replace").strip("\x00 ")
    return text if text.isprintable() else ""


def _damaged(path: Path, container: _Container) -> InputError:
    return InputError(
        "Truncated or damaged video",
        f"{path.name} has a {container.kind} header but its data is cut short or damaged "
        "(an interrupted copy or recording); copy or export it again.",
    )


def _unreadable(path: Path, container: _Container | None, opencv_codec: str) -> InputError:
    """The error for a file OpenCV cannot open or decode, chosen from what its header says."""
    if container is None:
        return InputError(
            "Not a video",
            f"{path.name} is not a video file (its first bytes are no known video container); "
            "check that you picked the right file.",
        )
    codec = container.codec or opencv_codec
    named = f"the '{codec}' codec" if codec else "a codec"
    return InputError(
        "Unsupported codec",
        f"{path.name} ({container.kind}) uses {named} that this installation cannot decode; "
        "re-encode it (for example to H.264 or MPEG-4 in an .mp4) and try again.",
    )


# Magic bytes of the still formats OpenCV reads (JPEG, PNG, GIF, BMP, TIFF, WebP).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _is_still_image(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _inspect_container(path: Path, size: int) -> _Container | None:
    """Recognise MP4/MOV, AVI and Matroska by their magic bytes; None for anything else."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
            if head[4:8] in _ISO_TOP_BOXES:
                intact, codec = _scan_iso_boxes(f, size)
                return _Container("MP4/MOV", intact, codec)
    except OSError as e:
        raise InputError(
            "File not readable", f"{path.name} could not be read ({e.strerror})."
        ) from e
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        # The RIFF size is written when recording ends; a cut copy is shorter than it says.
        riff_end = int.from_bytes(head[4:8], "little") + 8
        return _Container("AVI", riff_end <= size, _avi_codec(head))
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # Matroska is built to be streamed, so a cut file still opens; iter_video_frames
        # catches a missing tail by comparing decoded time with the header's duration.
        return _Container("Matroska/WebM", True, _matroska_codec(head))
    return None


def _scan_iso_boxes(f: BinaryIO, size: int) -> tuple[bool, str | None]:
    """Walk the top-level MP4 boxes: whole if none runs past the end and an index exists."""
    pos, moov, has_index = 0, None, False
    while pos + 8 <= size:
        f.seek(pos)
        box_size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if box_size == 1:
            box_size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif box_size == 0:
            box_size = size - pos  # "runs to the end of the file"
        if box_size < header or pos + box_size > size:
            return False, None
        if kind in (b"moov", b"moof"):
            has_index = True
            if kind == b"moov" and box_size <= _MAX_MOOV_BYTES:
                moov = f.read(box_size - header)
        pos += box_size
    return has_index, (_iso_video_codec(moov) if moov is not None else None)


def _iso_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8 or pos + size > len(data):
            return
        yield kind, data[pos + 8 : pos + size]
        pos += size


def _iso_video_codec(moov: bytes) -> str | None:
    """The sample-entry fourcc of the first track whose handler is 'vide'."""
    for kind, trak in _iso_boxes(moov):
        if kind != b"trak":
            continue
        for kind, mdia in _iso_boxes(trak):
            if kind != b"mdia":
                continue
            boxes = dict(_iso_boxes(mdia))
            if boxes.get(b"hdlr", b"")[8:12] != b"vide":
                continue
            stbl = dict(_iso_boxes(dict(_iso_boxes(boxes.get(b"minf", b""))).get(b"stbl", b"")))
            stsd = stbl.get(b"stsd", b"")
            if len(stsd) >= 16:
                return stsd[12:16].decode("latin-1")
    return None


def _avi_codec(head: bytes) -> str | None:
    """biCompression of the video stream's format chunk (what decoders go by)."""
    strh = head.find(b"strh")
    while strh >= 0 and head[strh + 8 : strh + 12] != b"vids":  # skip audio stream headers
        strh = head.find(b"strh", strh + 4)
    if strh < 0:
        return None
    strf = head.find(b"strf", strh)
    if strf < 0 or len(head) < strf + 28:
        return None
    return head[strf + 24 : strf + 28].decode("latin-1")


def _matroska_codec(head: bytes) -> str | None:
    """The first video CodecID string ("V_MJPEG", "V_VP8", ...) in the track headers."""
    for match in _MKV_CODEC_ID.finditer(head):
        length = match.group(1)[0] & 0x7F
        value = head[match.end() : match.end() + length]
        if value.startswith(b"V_"):
            return value.decode("latin-1")
    return None
