"""The model's manifest: what a caller must know to feed it, and how well it scored."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


@dataclass(frozen=True)
class ModelManifest:
    """The parts of ``emotion.json`` inference relies on; the rest is documentation."""

    labels: tuple[str, ...]
    input_name: str
    input_size: int
    sha256: str
    version: str
    raw: dict[str, Any]

    @classmethod
    def load(cls, model_path: Path) -> ModelManifest:
        raw = json.loads(manifest_path_for(model_path).read_text())
        return cls(
            labels=tuple(raw["labels"]),
            input_name=raw["input"]["name"],
            input_size=int(raw["input"]["size"]),
            sha256=raw["sha256"],
            version=raw["version"],
            raw=raw,
        )

    @property
    def mirror_below(self) -> float:
        """Faces whose top probability is below this get the mirrored pass as well
        (pipeline/emotion/mirror.py): 0 for a graph that averages both views itself (models up
        to 2026.12.07-f08577e7, whose manifests say ``flip_averaged``), infinity for every
        face, also when a one-view graph's manifest lacks its rule (an export cut short): the
        slower answer rather than a silently less accurate one."""
        mirror = self.raw.get("mirror")
        if not mirror:
            return 0.0 if self.raw.get("flip_averaged") else float("inf")
        below = mirror.get("below")
        return float("inf") if below is None else float(below)
