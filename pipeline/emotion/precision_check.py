"""What int8 costs and buys: the shipped int8 graph against the same graph in float32
(export only; needs torch).

Why: quantizing moves each face's scores a little, so a few faces change their top
expression. Export measures both files the same way (validation through onnxruntime, ms/face
at the card's batch and threads), with the same temperature and bias, and writes the
comparison into the manifest and card, so the speed is never claimed without its price.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.emotion.card import SPEED_BATCH, SPEED_THREADS
from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.flip_check import measure_graphs
from pipeline.emotion.manifest import manifest_path_for, sha256_of


def compare_precision(
    model_path: Path,
    write_float_graph: Callable[[Path], None],
    manifest: dict[str, Any],
    valid: FerplusSplit,
) -> dict[str, Any]:
    """The shipped int8 file against the float32 graph ``write_float_graph(path)`` writes (as
    a float32 export ships it: weights stored in float16, computed in float32), measured one
    in turn, with the share of validation faces whose top expression both give."""
    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / model_path.name
        write_float_graph(float_path)
        architecture = {**manifest["architecture"], "precision": "float32"}
        architecture["stored"] = "weights in float16, computed in float32"
        manifest_path_for(float_path).write_text(
            json.dumps({**manifest, "sha256": sha256_of(float_path), "architecture": architecture})
        )
        (int8, int8_top), (float32, float32_top) = measure_graphs([model_path, float_path], valid)
    return {
        "int8": int8,
        "float32": float32,
        "accuracy_change_points": 100 * (int8["accuracy"] - float32["accuracy"]),
        "speed_ratio": int8["ms_per_face"] / float32["ms_per_face"],
        "same_top_expression": float((int8_top == float32_top).mean()),
        "batch": SPEED_BATCH,
        "threads": SPEED_THREADS,
    }
