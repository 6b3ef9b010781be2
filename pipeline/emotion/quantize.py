"""int8 storage and arithmetic for an exported graph (export only; onnxruntime's quantizer).

Why: the issue's budget is 2 ms per face on two CPU cores, and each flip-averaged network of
the recipe costs about 0.8 ms in float32, so only two fit. onnxruntime runs int8 convolutions
(QDQ: per-channel int8 kernels, uint8 activations) in under half the time on the same cores
(the card's precision table measures both), which makes room for more members or simply
faster ingest.

The weights use 7 of their 8 bits (onnxruntime's ``reduce_range``). Why: onnxruntime's uint8 x
int8 kernels on x86 CPUs without VNNI (AVX2 and plain AVX-512 machines) sum pairs of products in
16 bits, which saturate when a pair of large activations meets a pair of large weights
(2 x 255 x 127 > 32,767). With 8-bit weights the file of 2026.12.02-d0b3103a scored 88.72 % of
FER+ validation on an AVX2 EPYC and 89.13 % on the VNNI machine that exported it, whose
arithmetic alone its fold-chosen bias described. With weights in [-64, 64] no pair can
saturate, so every x86 CPU computes what the graph's QDQ arithmetic says, up to an activation
rounded the other way at a step's edge (tests/test_model.py checks the fused kernels against
that arithmetic); measured on that network it costs 2 of 3,191 validation faces against exact
8-bit arithmetic and no speed (README, "int8").

What is quantized: only the convolutions and the head (``Conv``, ``Gemm``). The per-image
standardisation, the residual sums, the mixing of members, the temperature, the logit bias and
the softmax stay in float32. The graph is quantized without its calibration (temperature,
logit bias, softmax): both are fitted on the quantized graph's own scores and appended
afterwards (:func:`append_calibration`), so they describe the arithmetic that ships.

Activation ranges come from :data:`CALIBRATION_FACES` faces drawn with a fixed seed from the
faces the model trained on (never the held-out fold or validation), at the 99.999th
percentile of each tensor, which ignores the rare extreme activation that a min/max range
would stretch every other value's step for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from pipeline.emotion.ferplus import FerplusSplit
from pipeline.emotion.holdout import training_rows
from pipeline.emotion.preprocess import to_model_input

CALIBRATION_FACES = 1024
CALIBRATION_SEED = 0
QUANTIZED_OPS = ("Conv", "Gemm")
DESCRIPTION = (
    "weights int8 per output channel (7-bit range), activations uint8 (onnxruntime QDQ) in the "
    "convolutions and the head; everything else float32; activation ranges from "
    f"{CALIBRATION_FACES:,} training faces (99.999th percentile)"
)


def calibration_faces(train: FerplusSplit, count: int = CALIBRATION_FACES) -> np.ndarray:
    """uint8 (<= count, 48, 48): training faces (the fold left out) that set activation ranges,
    all of them when the split holds fewer."""
    rows = np.flatnonzero(training_rows(train))
    size = min(count, len(rows))
    chosen = np.random.default_rng(CALIBRATION_SEED).choice(rows, size=size, replace=False)
    return np.asarray(train.images[np.sort(chosen)])


class _Faces(CalibrationDataReader):
    """Feeds the calibration faces to the quantizer in batches, as the classifier would."""

    def __init__(self, input_name: str, faces: np.ndarray, batch: int = 64) -> None:
        self._input_name = input_name
        self._inputs = to_model_input(faces)
        self._batch = batch
        self._start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._start >= len(self._inputs):
            return None
        chunk = self._inputs[self._start : self._start + self._batch]
        self._start += self._batch
        return {self._input_name: chunk}


def quantize_graph(float_path: Path, out_path: Path, input_name: str, faces: np.ndarray) -> None:
    """Write the int8 version of the float32 ONNX graph at ``float_path`` to ``out_path``.

    faces: uint8 (N, 48, 48), see :func:`calibration_faces`.
    """
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        # Shape inference and graph clean-up, as onnxruntime recommends before quantizing.
        # Its graph optimizer folds each convolution's bias into an initializer, which int8
        # convolutions need (without it they run slower than float32).
        quant_pre_process(str(float_path), str(prepared))
        quantize_static(
            str(prepared),
            str(out_path),
            _Faces(input_name, faces),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=True,
            calibrate_method=CalibrationMethod.Percentile,
            op_types_to_quantize=list(QUANTIZED_OPS),
        )


def append_calibration(
    path: Path, temperature: float, bias: np.ndarray, output_name: str = "probabilities"
) -> None:
    """Turn the graph at ``path``, whose one output is uncalibrated scores (N, 8), into one
    that outputs softmax(scores / temperature + bias) as ``output_name``, in float32.

    Why after quantizing: the temperature and the bias are fitted on the quantized graph's own
    scores, which exist only once it is quantized. Appending also keeps them out of reach of
    onnxruntime's graph optimizer, which quantizing runs and which merges equal constants
    across the graph (a temperature of 2 became the standardisation's exponent).
    """
    model = onnx.load(str(path))
    graph = model.graph
    (scores,) = graph.output
    taken = {tensor.name for tensor in graph.initializer} | {
        name for node in graph.node for name in node.output
    }
    names = {key: f"calibration_{key}" for key in ("inv_temperature", "bias", "scaled", "adjusted")}
    if set(names.values()) & taken or output_name in taken:
        raise ValueError(f"{path} already has calibration tensors")
    graph.initializer.extend(
        [
            numpy_helper.from_array(
                np.array(1.0 / temperature, dtype=np.float32), names["inv_temperature"]
            ),
            numpy_helper.from_array(np.asarray(bias, dtype=np.float32), names["bias"]),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Mul", [scores.name, names["inv_temperature"]], [names["scaled"]]),
            helper.make_node("Add", [names["scaled"], names["bias"]], [names["adjusted"]]),
            helper.make_node("Softmax", [names["adjusted"]], [output_name], axis=1),
        ]
    )
    output = onnx.ValueInfoProto()
    output.CopyFrom(scores)
    output.name = output_name
    graph.ClearField("output")
    graph.output.append(output)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def is_quantized(path: Path) -> bool:
    """Whether every convolution of the graph at ``path`` reads int8 weights (through a
    DequantizeLinear of an int8 initializer, as QDQ graphs do)."""
    graph = onnx.load(str(path)).graph
    int8 = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.INT8}
    dequantized = {
        node.output[0]
        for node in graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in int8
    }
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    return bool(convolutions) and all(node.input[1] in dequantized for node in convolutions)
