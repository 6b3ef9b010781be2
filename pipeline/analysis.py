"""The worker: sampled frames in, per-face rows out (no database, no pixels kept).

A worker owns one part of a job (a video's time range, a run of a folder's snapshots, one
snapshot) and returns plain rows; one writer commits a job's tables (pipeline/store/jobs.py).
That seam is what lets threads, ``--workers N`` and the Ray executor run analyses in parallel
while DuckDB keeps a single writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from pipeline.assemble import FaceRows, JobResult, assemble
from pipeline.emotion.classifier import ExpressionClassifier
from pipeline.emotion.labels import LABELS
from pipeline.emotion.preprocess import to_gray_square
from pipeline.faces import FaceFinder
from pipeline.sources.frames import SampledFrame
from pipeline.store.job_keys import params_digest
from pipeline.vision.follow import DETECTED, Detections, Sighting, follow
from pipeline.vision.pose import HeadPose, LookingCone, estimate_pose

# Whether faces with landmarks are aligned by default (EMOTION_ALIGN_FACES; see the README).
ALIGN_FACES_DEFAULT = False
# Faces below this side (px) are scored but flagged: the model sees them upscaled.
SMALL_FACE_PX = 64
# A head turned further than this (degrees of yaw) is flagged as a profile.
PROFILE_YAW_DEG = 45.0
# Variance of the Laplacian of the 48x48 crop under which a face is flagged as blurred.
BLUR_VARIANCE = 40.0

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class AnalysisParams:
    """Everything that changes the output of a job; its hash makes re-ingestion idempotent."""

    sample_fps: float = 5.0
    detector: str = "centerface"
    min_face_px: int = 36
    margin: float = 0.0
    batch_size: int = 64
    min_track_hits: int = 2
    exclusion_zones: tuple[tuple[tuple[float, float], ...], ...] = ()
    start_s: float = 0.0
    end_s: float | None = None
    drop_flags: tuple[str, ...] = ()
    # The detector runs on every k-th sampled video frame; faces are followed in between.
    detect_every: int = 3
    # The looking cone (half-angles, degrees) and the camera's offsets (see vision/pose.py).
    look_yaw_deg: float = 25.0
    look_pitch_deg: float = 25.0
    yaw_offset_deg: float = 0.0
    pitch_offset_deg: float = 0.0
    # Faces with landmarks are scored eyes-level in FER+ framing (pipeline/emotion/align.py).
    align_faces: bool = ALIGN_FACES_DEFAULT

    def digest(self, model_version: str) -> str:
        return params_digest(asdict(self), model_version)

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


def params_from_settings(**overrides: object) -> AnalysisParams:
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
        "detect_every": get_int("EMOTION_DETECT_EVERY"),
        "look_yaw_deg": get_float("EMOTION_LOOK_YAW_DEG"),
        "look_pitch_deg": get_float("EMOTION_LOOK_PITCH_DEG"),
        "align_faces": bool(get_int("EMOTION_ALIGN_FACES")),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AnalysisParams(**values)  # type: ignore[arg-type]


def _in_zones(
    box: tuple[int, int, int, int],
    shape: tuple[int, ...],
    zones: Iterable[Iterable[tuple[float, float]]],
) -> bool:
    height, width = shape[:2]
    cx, cy = (box[0] + box[2] / 2) / width, (box[1] + box[3] / 2) / height
    for zone in zones:
        contour = np.array(zone, dtype=np.float32).reshape(-1, 1, 2)
        if cv2.pointPolygonTest(contour, (cx, cy), False) >= 0:
            return True
    return False


def _quality(sighting: Sighting, side: int, gray: np.ndarray) -> tuple[bool, bool, bool]:
    """(small, blurred, profile) for a face and its 48x48 model input ``gray``. Profile: a
    yaw past PROFILE_YAW_DEG where the pose is known, else fewer than two eyes found (Haar)."""
    blurred = float(cv2.Laplacian(gray, cv2.CV_64F).var()) < BLUR_VARIANCE
    if sighting.pose is not None:
        profile = abs(sighting.pose.yaw) > PROFILE_YAW_DEG
    else:
        profile = sighting.eyes_found < 2
    return side < SMALL_FACE_PX, blurred, profile


class FramePass:
    """Sampled frames in, scored face rows out: detect on every k-th sampled frame, follow
    faces in between, score every face on its own frame's pixels in batches across frames.

    Holds at most k-1 frames waiting for the next detection and one batch of small crops, so
    memory stays flat on long footage. Feed frames in time order with ``add``; ``close`` ends
    the pass. Frames whose index is ``emit_until`` or later are only looked at (a chunk of a
    longer video detects on the next chunk's first frame to follow faces up to its own end)
    and yield no rows.
    """

    def __init__(
        self,
        finder: FaceFinder,
        classifier: ExpressionClassifier,
        params: AnalysisParams,
        on_frame: Callable[[SampledFrame, int], None] | None = None,
        emit_until: int | None = None,
    ) -> None:
        self.finder, self.classifier, self.params = finder, classifier, params
        self.on_frame, self.emit_until = on_frame, emit_until
        self.every = max(1, params.detect_every) if params.sample_fps > 0 else 1
        self.cone = LookingCone(
            params.look_yaw_deg,
            params.look_pitch_deg,
            params.yaw_offset_deg,
            params.pitch_offset_deg,
        )
        self.rows = FaceRows()
        self._waiting: list[SampledFrame] = []
        self._last: Detections | None = None
        self._next_detection = 0
        self._pending_rows: list[dict[str, object]] = []
        self._pending_crops: list[np.ndarray] = []
        self.finished = False

    def add(self, frame: SampledFrame) -> None:
        """Take the next sampled frame; sets ``finished`` once a look-ahead frame is seen."""
        if self.every > 1 and frame.index < self._next_detection:
            self._waiting.append(frame)
            return
        self._next_detection = (frame.index // self.every + 1) * self.every
        found = self._detect(frame)
        for waiting in self._waiting:
            self._emit(waiting, follow(self._last, found, waiting.offset_s))
        self._waiting.clear()
        self._last = found
        if self.emit_until is not None and frame.index >= self.emit_until:
            self.finished = True
            return
        self._emit(frame, found.faces)

    def close(self) -> FaceRows:
        """Score what is left; the rows of every frame added, in frame order."""
        for waiting in self._waiting:
            self._emit(waiting, follow(self._last, None, waiting.offset_s))
        self._waiting.clear()
        self._flush()
        return self.rows

    def _detect(self, frame: SampledFrame) -> Detections:
        faces = self.finder.find(frame.image)
        sightings = []
        for face in faces:
            if self.params.exclusion_zones and _in_zones(
                face.box, frame.image.shape, self.params.exclusion_zones
            ):
                self.rows.excluded += 1
                continue
            pose = None
            if face.landmarks is not None:
                pose = estimate_pose(face.landmarks, frame.image.shape)
            sightings.append(
                Sighting(face.box, face.confidence, face.eyes_found, pose, DETECTED, face.landmarks)
            )
        return Detections(frame.offset_s, sightings)

    def _emit(self, frame: SampledFrame, sightings: list[Sighting]) -> None:
        scored = 0
        for sighting in sightings:
            crop = self.finder.face_crop(
                frame.image, sighting.box, sighting.landmarks, align=self.params.align_faces
            )
            if crop.size == 0:
                continue
            # The model's own input, made once: the quality flags and the scoring share it.
            gray = to_gray_square(crop)
            side = self.finder.face_side(sighting.box)
            small, blurred, profile = _quality(sighting, side, gray)
            flags = {"small": small, "blurred": blurred, "profile": profile}
            if any(flags[name] for name in self.params.drop_flags):
                self.rows.gated += 1
                continue
            scored += 1
            self._pending_rows.append(
                _row(frame, sighting, side, self.cone, (small, blurred, profile))
            )
            self._pending_crops.append(gray)
        self.rows.frames.append((frame.index, frame.offset_s, frame.timestamp, scored))
        if len(self._pending_crops) >= self.params.batch_size:
            self._flush()
        if self.on_frame is not None:
            self.on_frame(frame, scored)

    def _flush(self) -> None:
        if not self._pending_crops:
            return
        probs = self.classifier.predict_proba(np.stack(self._pending_crops))
        for row, p in zip(self._pending_rows, probs, strict=True):
            row.update({name: float(v) for name, v in zip(LABELS, p, strict=True)})
            row["dominant"] = LABELS[int(p.argmax())]
            self.rows.faces.append(row)
        self._pending_rows.clear()
        self._pending_crops.clear()


def _row(
    frame: SampledFrame,
    sighting: Sighting,
    side: int,
    cone: LookingCone,
    flags: tuple[bool, bool, bool],
) -> dict[str, object]:
    x, y, w, h = sighting.box
    pose: HeadPose | None = sighting.pose
    return {
        "frame_index": frame.index,
        "offset_s": frame.offset_s,
        "ts": frame.timestamp,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "det_confidence": sighting.confidence,
        "face_px": side,
        "is_small": flags[0],
        "is_blurred": flags[1],
        "is_profile": flags[2],
        "yaw": None if pose is None else pose.yaw,
        "pitch": None if pose is None else pose.pitch,
        "roll": None if pose is None else pose.roll,
        "looking": None if pose is None else cone.contains(pose),
        "pose_source": None if pose is None else sighting.source,
    }


def analyse_frames(
    frames: Iterable[SampledFrame],
    finder: FaceFinder,
    classifier: ExpressionClassifier,
    params: AnalysisParams,
    on_frame: Callable[[SampledFrame, int], None] | None = None,
) -> JobResult:
    """Detect, score and track faces in sampled frames (one pass, this thread).

    ``on_frame(frame, faces_found)`` is called after each frame (progress).
    """
    frame_pass = FramePass(finder, classifier, params, on_frame)
    for frame in frames:
        frame_pass.add(frame)
    return assemble([frame_pass.close()], params.sample_fps, params.min_track_hits)
