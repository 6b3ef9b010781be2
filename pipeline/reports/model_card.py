"""The model's published numbers, read from its manifest, for reports and the About page.

Reports quote the manifest of the model that is installed, not numbers copied into code, so a
retrained model's card and every later report agree without anyone editing text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import get_setting


@dataclass(frozen=True)
class ModelFacts:
    """What a reader of a report must know about the model behind the figures."""

    name: str
    version: str
    labels: tuple[str, ...]
    validation_split: str
    validation_faces: int
    accuracy: float
    ece: float
    per_class_recall: dict[str, float]
    architecture: str
    training_data: str
    licence: str


def model_path() -> Path:
    return Path(get_setting("EMOTION_MODEL_PATH"))


def load_model_facts(path: Path | None = None) -> ModelFacts:
    """Facts from the manifest beside the ONNX model (``<model>.json``)."""
    manifest = (path or model_path()).with_suffix(".json")
    raw = json.loads(manifest.read_text())
    validation = raw.get("validation", {})
    arch = raw.get("architecture", {})
    licence = raw.get("licence", {})
    return ModelFacts(
        name=str(raw.get("name", "")),
        version=str(raw.get("version", "")),
        labels=tuple(raw.get("labels", ())),
        validation_split=str(validation.get("split", "")),
        validation_faces=int(validation.get("faces", 0)),
        accuracy=float(validation.get("accuracy", float("nan"))),
        ece=float(validation.get("ece", float("nan"))),
        per_class_recall={k: float(v) for k, v in validation.get("per_class_recall", {}).items()},
        architecture=(
            f"{arch.get('kind', '?')}, {arch.get('parameters', 0):,} parameters"
            if arch
            else "unknown"
        ),
        training_data=str(raw.get("training", {}).get("data", "")),
        licence="; ".join(f"{k}: {v}" for k, v in licence.items()),
    )


def model_card_markdown(path: Path | None = None) -> str:
    """The shipped MODEL_CARD.md beside the model, or "" when the operator removed it."""
    card = (path or model_path()).parent / "MODEL_CARD.md"
    return card.read_text() if card.is_file() else ""
