"""The worker: sampled frames in, per-face rows out (no database, no pixels kept).

A worker owns one job (a file, a folder of snapshots or a time range) and returns plain
columnar tables; one writer commits them (pipeline/store/jobs.py). That seam is what lets
``--workers N`` (and a Ray executor later) run analyses in parallel while DuckDB keeps a
single writer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pandas as pd

from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.labels import LABELS
from pipeline.emotion.preprocess import to_gray_square
from pipeline.faces import DetectedFace, FaceFinder
from pipeline.sources.frames import SampledFrame
from pipeline.tracking import IouTracker

# Faces below this side (px) are scored but flagged: the model sees them upscaled.
SMALL_FACE_PX = 64
# Variance of the Laplacian of the 48x48 crop under which a face is flagged as blurred.
BLUR_VARIANCE = 40.0

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class AnalysisParams:
    """Everything that changes the output of a job; its hash makes re-ingestion idempotent."""

    sample_fps: float = 5.0
    detector: str = "opencv"
    min_face_px: int = 48
    margin: float = 0.0
    batch_size: int = 64
    bucket_s: float = 1.0
    min_track_hits: int = 2
    exclusion_zones: tuple[tuple[tuple[float, float], ...], ...] = ()
    start_s: float = 0.0
    end_s: float | None = None
    drop_flags: tuple[str, ...] = ()

    def digest(self, model_version: str) -> str:
        payload = json.dumps({**asdict(self), "model": model_version}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def parse_drop_flags(text: str) -> tuple[str, ...]:
    """'blurred, profile' -> ('blurred', 'profile'); unknown flags are an error, not ignored."""
    from pipeline.errors import InputError

    flags = tuple(sorted({f.strip() for f in text.split(",") if f.strip()}))
    unknown = set(flags) - {"small", "blurred", "profile"}
    if unknown:
        raise InputError(
            "Unknown quality flag",
            f"EMOTION_DROP_FLAGS has {sorted(unknown)}; use small, blurred or profile.",
        )
    return flags


def params_from_settings(bucket_s: float, **overrides: object) -> AnalysisParams:
    """Parameters from the settings table, with the caller's choices (CLI flags, dashboard
    widgets) on top, so the CLI and an upload analyse the same way by default."""
    from pipeline.settings import get_float, get_int, get_setting

    values: dict[str, object] = {
        "sample_fps": get_float("EMOTION_SAMPLE_FPS"),
        "detector": get_setting("EMOTION_DETECTOR"),
        "min_face_px": get_int("EMOTION_MIN_FACE_PX"),
        "margin": get_float("EMOTION_FACE_MARGIN"),
        "batch_size": get_int("EMOTION_BATCH_SIZE"),
        "drop_flags": parse_drop_flags(get_setting("EMOTION_DROP_FLAGS")),
        "bucket_s": bucket_s,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AnalysisParams(**values)  # type: ignore[arg-type]


@dataclass
class JobResult:
    """The tables one job produces; column names match the DuckDB tables."""

    frames: pd.DataFrame
    faces: pd.DataFrame
    tracks: pd.DataFrame
    excluded_faces: int = 0
    dropped_transient: int = 0
    warnings: list[str] = field(default_factory=list)


def _in_zones(
    face: DetectedFace, shape: tuple[int, ...], zones: Iterable[Iterable[tuple[float, float]]]
) -> bool:
    height, width = shape[:2]
    cx, cy = (face.x + face.w / 2) / width, (face.y + face.h / 2) / height
    for zone in zones:
        contour = np.array(zone, dtype=np.float32).reshape(-1, 1, 2)
        if cv2.pointPolygonTest(contour, (cx, cy), False) >= 0:
            return True
    return False


def _quality(face: DetectedFace, gray: np.ndarray) -> tuple[bool, bool, bool]:
    """(small, blurred, profile) for a face and its 48x48 model input ``gray``."""
    blurred = float(cv2.Laplacian(gray, cv2.CV_64F).var()) < BLUR_VARIANCE
    return face.size < SMALL_FACE_PX, blurred, face.eyes_found < 2


class _PendingBatch:
    """Faces waiting to be scored together: scoring across frames keeps batches full."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.crops: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.crops)


def analyse_frames(
    frames: Iterable[SampledFrame],
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    params: AnalysisParams,
    on_frame: Callable[[SampledFrame, int], None] | None = None,
) -> JobResult:
    """Detect, score and track faces in sampled frames.

    Holds one frame and at most one batch of small crops at a time, so memory stays flat on
    long footage. ``on_frame(frame, faces_found)`` is called after each frame (progress).
    """
    # Snapshots (sample_fps 0) are too far apart to link faces; video links over 3 samples.
    gap = 1.5 if params.sample_fps <= 0 else max(1.5, 3.0 / params.sample_fps)
    tracker = IouTracker(max_gap_s=gap)
    frame_rows: list[tuple[int, float, object, int]] = []
    face_rows: list[dict[str, object]] = []
    pending = _PendingBatch()
    excluded = 0
    gated = 0

    def flush() -> None:
        if not pending:
            return
        probs = classifier.predict_proba(np.stack(pending.crops))
        for row, p in zip(pending.rows, probs, strict=True):
            row.update({name: float(v) for name, v in zip(LABELS, p, strict=True)})
            row["dominant"] = LABELS[int(p.argmax())]
            face_rows.append(row)
        pending.rows.clear()
        pending.crops.clear()

    for frame in frames:
        faces = finder.find(frame.image)
        if params.exclusion_zones:
            kept = [f for f in faces if not _in_zones(f, frame.image.shape, params.exclusion_zones)]
            excluded += len(faces) - len(kept)
            faces = kept
        track_ids = tracker.update(frame.offset_s, [(f.x, f.y, f.w, f.h) for f in faces])
        for face, track_id in zip(faces, track_ids, strict=True):
            # The model's own input, made once: the quality flags and the scoring share it.
            gray = to_gray_square(face.crop)
            small, blurred, profile = _quality(face, gray)
            flags = {"small": small, "blurred": blurred, "profile": profile}
            if any(flags[name] for name in params.drop_flags):
                gated += 1
                continue
            pending.rows.append(
                {
                    "frame_index": frame.index,
                    "offset_s": frame.offset_s,
                    "ts": frame.timestamp,
                    "track_id": track_id,
                    "x": face.x,
                    "y": face.y,
                    "w": face.w,
                    "h": face.h,
                    "det_confidence": face.confidence,
                    "face_px": face.size,
                    "is_small": small,
                    "is_blurred": blurred,
                    "is_profile": profile,
                }
            )
            pending.crops.append(gray)
        frame_rows.append((frame.index, frame.offset_s, frame.timestamp, len(faces)))
        if len(pending) >= params.batch_size:
            flush()
        if on_frame is not None:
            on_frame(frame, len(faces))
    flush()
    result = _assemble(frame_rows, face_rows, tracker.finish(), params, excluded)
    if gated:
        result.warnings.append(f"{gated} faces not scored by the quality gate")
    if excluded:
        result.warnings.append(f"{excluded} faces in exclusion zones not scored")
    return result


def _assemble(
    frame_rows: list[tuple[int, float, object, int]],
    face_rows: list[dict[str, object]],
    tracks: list[tuple[int, float, float, int]],
    params: AnalysisParams,
    excluded: int,
) -> JobResult:
    """Drop transient tracks (likely false detections), renumber tracks, build the tables."""
    keep = {tid for tid, _, _, hits in tracks if hits >= params.min_track_hits}
    dropped = sum(1 for row in face_rows if row["track_id"] not in keep)
    renumber = {tid: i + 1 for i, tid in enumerate(sorted(keep))}
    interval = 1.0 / params.sample_fps if params.sample_fps > 0 else None
    track_table = pd.DataFrame(
        [
            (renumber[tid], first, last, _dwell(first, last, hits, interval), hits)
            for tid, first, last, hits in tracks
            if tid in keep
        ],
        columns=["track_id", "first_offset_s", "last_offset_s", "dwell_s", "observations"],
    )
    faces = pd.DataFrame([r for r in face_rows if r["track_id"] in keep], columns=_FACE_COLUMNS)
    faces["track_id"] = faces["track_id"].map(renumber)
    counts = faces.groupby("frame_index").size() if len(faces) else pd.Series(dtype="int64")
    frames = pd.DataFrame(frame_rows, columns=["frame_index", "offset_s", "ts", "faces"])
    frames["faces"] = frames["frame_index"].map(counts).fillna(0).astype("int64")
    return JobResult(
        frames=frames,
        faces=faces,
        tracks=track_table,
        excluded_faces=excluded,
        dropped_transient=dropped,
    )


def _dwell(first: float, last: float, hits: int, interval: float | None) -> float | None:
    """Seconds a face was seen: span plus one sampling interval for video; for snapshots the
    span between sightings, and unknown (None) for a face seen once."""
    if interval is None:
        return (last - first) if hits > 1 else None
    return (last - first) + interval


_FACE_COLUMNS = [
    "frame_index",
    "offset_s",
    "ts",
    "track_id",
    "x",
    "y",
    "w",
    "h",
    "det_confidence",
    "face_px",
    *LABELS,
    "dominant",
    "is_small",
    "is_blurred",
    "is_profile",
]
