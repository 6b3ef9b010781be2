"""Face rows -> the job's tables: people (tracks) linked across all frames, transient
detections dropped, dwell and attention per person.

Tracking runs here, once, over every row of the job in frame order, after the frames were
analysed (possibly in several time-range chunks at once). Tracks therefore cross chunk
boundaries, and however a file is split, the same rows give the same people.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from pipeline.emotion.labels import LABELS
from pipeline.tracking import Box, IouTracker


@dataclass
class FaceRows:
    """What one pass over some frames produced, before tracking."""

    frames: list[tuple[int, float, object, int]] = field(default_factory=list)
    """(frame_index, offset_s, ts, faces) per sampled frame."""
    faces: list[dict[str, object]] = field(default_factory=list)
    """One dict per scored face, keys as in FACE_COLUMNS except track_id."""
    excluded: int = 0
    gated: int = 0


@dataclass
class JobResult:
    """The tables one job produces; column names match the DuckDB tables."""

    frames: pd.DataFrame
    faces: pd.DataFrame
    tracks: pd.DataFrame
    excluded_faces: int = 0
    dropped_transient: int = 0
    warnings: list[str] = field(default_factory=list)


def assemble(parts: list[FaceRows], sample_fps: float, min_track_hits: int) -> JobResult:
    """Join the parts (in time order), track people, drop transient tracks, build tables."""
    frame_rows = [row for part in parts for row in part.frames]
    face_rows = [row for part in parts for row in part.faces]
    excluded = sum(p.excluded for p in parts)
    gated = sum(p.gated for p in parts)
    # Snapshots (sample_fps 0) are too far apart to link faces; video links over 3 samples.
    gap = 1.5 if sample_fps <= 0 else max(1.5, 3.0 / sample_fps)
    tracker = IouTracker(max_gap_s=gap)
    for group in _by_frame(face_rows):
        boxes = [_box(row) for row in group]
        offset_s = float(group[0]["offset_s"])  # type: ignore[arg-type]
        for row, track_id in zip(group, tracker.update(offset_s, boxes), strict=True):
            row["track_id"] = track_id
    result = _tables(frame_rows, face_rows, tracker.finish(), sample_fps, min_track_hits)
    result.excluded_faces = excluded
    if gated:
        result.warnings.append(f"{gated} faces not scored by the quality gate")
    if excluded:
        result.warnings.append(f"{excluded} faces in exclusion zones not scored")
    return result


def _by_frame(face_rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    """Consecutive rows of the same frame, in order."""
    start = 0
    while start < len(face_rows):
        end = start + 1
        while (
            end < len(face_rows)
            and face_rows[end]["frame_index"] == face_rows[start]["frame_index"]
        ):
            end += 1
        yield face_rows[start:end]
        start = end


def _box(row: dict[str, object]) -> Box:
    return tuple(int(row[k]) for k in ("x", "y", "w", "h"))  # type: ignore[call-overload,return-value]


def _tables(
    frame_rows: list[tuple[int, float, object, int]],
    face_rows: list[dict[str, object]],
    tracks: list[tuple[int, float, float, int]],
    sample_fps: float,
    min_track_hits: int,
) -> JobResult:
    keep = {tid for tid, _, _, hits in tracks if hits >= min_track_hits}
    dropped = sum(1 for row in face_rows if row["track_id"] not in keep)
    renumber = {tid: i + 1 for i, tid in enumerate(sorted(keep))}
    interval = 1.0 / sample_fps if sample_fps > 0 else None
    faces = pd.DataFrame([r for r in face_rows if r["track_id"] in keep], columns=FACE_COLUMNS)
    faces["track_id"] = faces["track_id"].map(renumber)
    for column in ("yaw", "pitch", "roll"):
        faces[column] = faces[column].astype("float64")
    faces["looking"] = faces["looking"].astype("boolean")
    attention = _attention(faces, interval)
    track_table = pd.DataFrame(
        [
            (
                renumber[tid],
                first,
                last,
                _dwell(first, last, hits, interval),
                hits,
                attention.get(renumber[tid]),
            )
            for tid, first, last, hits in tracks
            if tid in keep
        ],
        columns=[
            "track_id",
            "first_offset_s",
            "last_offset_s",
            "dwell_s",
            "observations",
            "attention_s",
        ],
    )
    counts = faces.groupby("frame_index").size() if len(faces) else pd.Series(dtype="int64")
    frames = pd.DataFrame(frame_rows, columns=["frame_index", "offset_s", "ts", "faces"])
    frames["faces"] = frames["frame_index"].map(counts).fillna(0).astype("int64")
    return JobResult(frames=frames, faces=faces, tracks=track_table, dropped_transient=dropped)


def _attention(faces: pd.DataFrame, interval: float | None) -> dict[int, float]:
    """Seconds each person faced the camera: looking rows x sampling interval. Only for video
    tracks whose pose is known on some row; absent (unknown) otherwise."""
    if interval is None or faces.empty:
        return {}
    known = faces[faces["looking"].notna()]
    if known.empty:
        return {}
    looking = known.groupby("track_id")["looking"].sum()
    return {int(t): float(n) * interval for t, n in looking.items()}


def _dwell(first: float, last: float, hits: int, interval: float | None) -> float | None:
    """Seconds a face was seen: span plus one sampling interval for video; for snapshots the
    span between sightings, and unknown (None) for a face seen once."""
    if interval is None:
        return (last - first) if hits > 1 else None
    return (last - first) + interval


FACE_COLUMNS = [
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
    "yaw",
    "pitch",
    "roll",
    "looking",
    "pose_source",
]
