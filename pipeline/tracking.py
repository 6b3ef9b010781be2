"""Short-lived anonymous tracks across sampled frames (SORT-style, boxes only).

No face embeddings and no appearance model: a track is a box that keeps overlapping (or staying
close to) itself from one sampled frame to the next, and it ends when the face is gone for
``max_gap_s``. Ids restart at 1 in every job, so nobody can be followed across visits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]


@dataclass
class _Track:
    track_id: int
    box: Box
    last_offset_s: float
    first_offset_s: float
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def pair_boxes(
    earlier: list[Box], later: list[Box], gap_s: float, max_centre_shift: float = 0.8
) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (i, j) of boxes in two frames ``gap_s`` seconds apart that are
    the same face: overlapping, or close (centre shift in box sides per second), of similar
    size. Depends only on the two frames (no history), so any split of a video into chunks
    pairs the same faces."""
    candidates = []
    for i, a in enumerate(earlier):
        for j, b in enumerate(later):
            if not 0.6 < b[2] / max(1, a[2]) < 1.67:
                continue
            (ax, ay), (bx, by) = _centre(a), _centre(b)
            side = max(1.0, (a[2] + b[2]) / 2)
            shift = ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / side
            overlap = box_iou(a, b)
            if overlap >= 0.2 or shift <= max_centre_shift * max(gap_s, 0.2):
                candidates.append((overlap - 0.1 * shift, i, j))
    pairs: list[tuple[int, int]] = []
    used_i: set[int] = set()
    used_j: set[int] = set()
    for _, i, j in sorted(candidates, reverse=True):
        if i not in used_i and j not in used_j:
            pairs.append((i, j))
            used_i.add(i)
            used_j.add(j)
    return sorted(pairs)


@dataclass
class IouTracker:
    """Greedy IoU / centre-distance matching with a constant-velocity guess for the next box."""

    max_gap_s: float = 1.5
    min_iou: float = 0.2
    max_centre_shift: float = 0.8  # in box sides, per second of gap
    _active: list[_Track] = field(default_factory=list)
    _finished: list[_Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, offset_s: float, boxes: list[Box]) -> list[int]:
        """Assign a track id to each box seen at ``offset_s`` (seconds); returns ids in order."""
        self._retire(offset_s)
        candidates = []
        for ti, track in enumerate(self._active):
            gap = max(offset_s - track.last_offset_s, 1e-6)
            guess = (
                round(track.box[0] + track.velocity[0] * gap),
                round(track.box[1] + track.velocity[1] * gap),
                track.box[2],
                track.box[3],
            )
            for bi, box in enumerate(boxes):
                overlap = max(box_iou(guess, box), box_iou(track.box, box))
                (gx, gy), (bx, by) = _centre(guess), _centre(box)
                side = max(1.0, (box[2] + track.box[2]) / 2)
                shift = ((gx - bx) ** 2 + (gy - by) ** 2) ** 0.5 / side
                size_ratio = box[2] / max(1, track.box[2])
                if not 0.6 < size_ratio < 1.67:
                    continue
                if overlap >= self.min_iou or shift <= self.max_centre_shift * max(gap, 0.2):
                    candidates.append((overlap - 0.1 * shift, ti, bi))
        ids = [0] * len(boxes)
        used_tracks: set[int] = set()
        for _, ti, bi in sorted(candidates, reverse=True):
            if ti in used_tracks or ids[bi]:
                continue
            track = self._active[ti]
            gap = max(offset_s - track.last_offset_s, 1e-6)
            (ox, oy), (nx, ny) = _centre(track.box), _centre(boxes[bi])
            track.velocity = ((nx - ox) / gap, (ny - oy) / gap)
            track.box, track.last_offset_s = boxes[bi], offset_s
            track.hits += 1
            used_tracks.add(ti)
            ids[bi] = track.track_id
        for bi, box in enumerate(boxes):
            if not ids[bi]:
                track = _Track(self._next_id, box, offset_s, offset_s)
                self._next_id += 1
                self._active.append(track)
                ids[bi] = track.track_id
        return ids

    def _retire(self, offset_s: float) -> None:
        alive: list[_Track] = []
        for track in self._active:
            (alive if offset_s - track.last_offset_s <= self.max_gap_s else self._finished).append(
                track
            )
        self._active = alive

    def finish(self) -> list[tuple[int, float, float, int]]:
        """All tracks as (track_id, first_offset_s, last_offset_s, hits), by id."""
        tracks = self._finished + self._active
        self._active, self._finished = [], []
        return sorted((t.track_id, t.first_offset_s, t.last_offset_s, t.hits) for t in tracks)
