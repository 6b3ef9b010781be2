"""The expression vocabulary shared by the model, the store and the dashboard."""

from __future__ import annotations

# Output order of the shipped model. Alphabetical, the eight expressions of the original
# Emotion API; every table and chart in the product uses this order.
LABELS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

# Sign of each expression in the valence index (positive share minus negative share).
# Surprise and neutral are left out on purpose: surprise can be either.
VALENCE_SIGN: dict[str, int] = {
    "happiness": 1,
    "anger": -1,
    "contempt": -1,
    "disgust": -1,
    "fear": -1,
    "sadness": -1,
}
