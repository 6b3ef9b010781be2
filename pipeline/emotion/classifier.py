"""Scoring face crops with the shipped ONNX model on onnxruntime (no torch, no network)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline.emotion.labels import LABELS
from pipeline.emotion.manifest import ModelManifest, manifest_path_for, sha256_of
from pipeline.emotion.mirror import combine_views, unsure
from pipeline.emotion.preprocess import INPUT_SIZE, to_model_input
from pipeline.errors import ModelError


class ExpressionClassifier:
    """One onnxruntime session over the shipped model, checked against its manifest on load."""

    def __init__(
        self,
        model_path: Path,
        threads: int = 2,
        batch_size: int = 64,
        mirror_below: float | None = None,
    ) -> None:
        """mirror_below: the manifest's threshold for the mirrored pass unless given (0 mirrors
        no face, infinity every face: export and the benchmarks measure both)."""
        if not model_path.is_file():
            raise ModelError("Model missing", f"No expression model at {model_path}.")
        try:
            self.manifest = ModelManifest.load(model_path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            # A manifest missing, cut short or from another tool: the model cannot be trusted.
            raise ModelError(
                "Model manifest unreadable",
                f"{manifest_path_for(model_path)} could not be read ({type(error).__name__}: "
                f"{error}); restore it with its model, or export the model again.",
            ) from error
        if self.manifest.labels != LABELS:
            raise ModelError("Model mismatch", f"{model_path} labels {self.manifest.labels}")
        if self.manifest.input_size != INPUT_SIZE:
            raise ModelError("Model mismatch", f"{model_path} expects {self.manifest.input_size}px")
        if sha256_of(model_path) != self.manifest.sha256:
            raise ModelError("Model corrupt", f"{model_path} does not match its manifest sha256.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        self.mirror_below = self.manifest.mirror_below if mirror_below is None else mirror_below
        self.version = self.manifest.version

    def predict_proba(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Calibrated probabilities float32 (N, 8) in ``LABELS`` order.

        faces: uint8 crops, grayscale (H, W) or BGR (H, W, 3), any size; or float RGB in [0, 1]
        as DeepFace's ``extract_faces`` returns them.
        """
        inputs = to_model_input(faces)
        out = self._run(inputs)
        # The faces one view leaves unsure are scored again from their mirror image, in
        # batches of their own (pipeline/emotion/mirror.py).
        again = np.flatnonzero(unsure(out, self.mirror_below))
        if len(again):
            mirrored = inputs[again, :, :, ::-1]  # a new array, in C order
            out[again] = combine_views(out[again], self._run(mirrored))
        return out

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        """The graph's probabilities float32 (N, 8) of model inputs (N, 1, 48, 48), batched."""
        out = np.empty((len(inputs), len(LABELS)), dtype=np.float32)
        for start in range(0, len(inputs), self._batch_size):
            chunk = inputs[start : start + self._batch_size]
            out[start : start + len(chunk)] = self._session.run(
                None, {self.manifest.input_name: chunk}
            )[0]
        return out


_shared: ExpressionClassifier | None = None
_shared_lock = threading.Lock()


def shared_classifier() -> ExpressionClassifier:
    """The process-wide classifier, built once from the settings (sessions are costly)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from pipeline.settings import get_int, get_setting

            _shared = ExpressionClassifier(
                Path(get_setting("EMOTION_MODEL_PATH")),
                threads=get_int("EMOTION_THREADS"),
                batch_size=get_int("EMOTION_BATCH_SIZE"),
            )
        return _shared
