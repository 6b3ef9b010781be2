"""Colours shared by the interactive (plotly) and static (matplotlib) charts.

One colour per expression everywhere, so a reader who learnt the dashboard reads the PDF.
"""

from __future__ import annotations

from pipeline.emotion.labels import LABELS

LABEL_COLOURS: dict[str, str] = dict(
    zip(
        LABELS,
        (
            "#d62728",  # anger
            "#8c564b",  # contempt
            "#7f7f00",  # disgust
            "#9467bd",  # fear
            "#2ca02c",  # happiness
            "#7f7f7f",  # neutral
            "#1f77b4",  # sadness
            "#ff7f0e",  # surprise
        ),
        strict=True,
    )
)
VALENCE_COLOUR = "#1a4f8b"
BAND_RGBA = "rgba(26, 79, 139, 0.18)"
VIEWERS_COLOUR = "#6a8caf"
SUPPRESSED_COLOUR = "#c8c8c8"
SEGMENT_COLOURS = ("#fde9c8", "#dbeafb")
SUPPRESSED_LABEL = "too few people"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
