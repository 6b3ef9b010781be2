"""The anonymous box tracker, on plain boxes (no detector needed)."""

from __future__ import annotations

from pipeline.tracking import IouTracker


def test_two_people_walking_keep_their_ids() -> None:
    tracker = IouTracker()
    ids = []
    for k in range(20):
        t = k * 0.2
        boxes = [(100 + 10 * k, 100, 120, 120), (700 - 12 * k, 300, 110, 110)]
        ids.append(tracker.update(t, boxes))
    assert all(frame == [1, 2] for frame in ids)
    tracks = tracker.finish()
    assert [(t[0], t[3]) for t in tracks] == [(1, 20), (2, 20)]


def test_short_miss_keeps_the_track_long_absence_starts_a_new_one() -> None:
    tracker = IouTracker(max_gap_s=1.0)
    assert tracker.update(0.0, [(50, 50, 100, 100)]) == [1]
    assert tracker.update(0.2, []) == []
    assert tracker.update(0.6, [(55, 52, 100, 100)]) == [1]  # missed for 0.4 s: same person
    assert tracker.update(3.0, [(55, 52, 100, 100)]) == [2]  # gone for 2.4 s: a new visit
    assert [t[0] for t in tracker.finish()] == [1, 2]


def test_far_apart_or_different_size_faces_are_different_people() -> None:
    tracker = IouTracker()
    tracker.update(0.0, [(0, 0, 100, 100)])
    assert tracker.update(0.2, [(600, 400, 100, 100)]) == [2]
    assert tracker.update(0.4, [(600, 400, 300, 300)]) == [3]
