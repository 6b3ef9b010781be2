"""The Emotion API's video result (``processingResult``) from the product's own series.

One fragment per window of ``window_s`` seconds from the start of the video to its end. A
window with published figures carries ``interval`` and ``events``: one event holding
``windowFaceDistribution`` (share of face rows per dominant expression) and
``windowMeanScores`` (mean score per expression, averaged over people), both straight from
``pipeline.audience.read.series`` (or ``read.job_series`` where the video shares its source).
A window without faces, or whose people are fewer than the campaign's minimum crowd, is a
fragment with ``start`` and ``duration`` only, the way the original API marked fragments
without faces: a withheld window is never told apart from an empty one, and no figure of it
leaves the server.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from pipeline.emotion.labels import LABELS

# Ticks per second of ``start``, ``duration`` and ``interval`` (milliseconds).
TIMESCALE = 1000


def processing_result(
    table: pd.DataFrame,
    window_s: float,
    duration_s: float,
    framerate: float,
    width: int,
    height: int,
) -> dict[str, Any]:
    """The result object (the API sends it JSON-encoded as a string) for one video.

    ``table``: ``audience.read.series`` of the video's source, or ``read.job_series`` of its
    job where the source holds other files, with ``window_s`` buckets (an ad timeline:
    ``bucket_offset_s``), the minimum crowd already applied (``suppressed``).
    """
    shown: dict[int, pd.Series] = {}
    for _, row in table.iterrows():
        if bool(row.get("suppressed", False)) or pd.isna(row.get("bucket_offset_s")):
            continue
        shown[round(float(row["bucket_offset_s"]) / window_s)] = row
    count = max(
        math.ceil(duration_s / window_s - 1e-9) if duration_s > 0 else 0,
        max(shown, default=-1) + 1,
    )
    tick = round(window_s * TIMESCALE)
    fragments: list[dict[str, Any]] = []
    for index in range(count):
        fragment: dict[str, Any] = {"start": index * tick, "duration": tick}
        row = shown.get(index)
        if row is not None:
            fragment["interval"] = tick
            fragment["events"] = [
                [
                    {
                        "windowFaceDistribution": {n: _number(row[f"share_{n}"]) for n in LABELS},
                        "windowMeanScores": {n: _number(row[f"mean_{n}"]) for n in LABELS},
                    }
                ]
            ]
        fragments.append(fragment)
    return {
        "version": 1,
        "timescale": TIMESCALE,
        "offset": 0,
        "framerate": round(float(framerate), 3),
        "width": int(width),
        "height": int(height),
        "fragments": fragments,
    }


def _number(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    return 0.0 if math.isnan(number) else round(number, 6)
