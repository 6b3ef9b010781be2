"""What a narrower expression network would cost per face on this CPU, against the shipped one.

Why: the shipped wide network (widths 48-384) averaged with its mirror image for every face
took twice the model issue's 2 ms per face on a 2-core AVX2 CPU; it meets it there only by
mirroring the unsure faces alone (pipeline/emotion/mirror.py). Before anyone spends hours
training a narrower network, this measures what it would cost here. int8 speed does not depend
on the weights' values, so each candidate is a seeded untrained network put through the
export's own int8 path (the one-view QDQ graph, activation ranges from training faces); the
shipped file is timed in turn with them, round after round, and the ratios to it are the
figures that carry across machines. These are the graphs' own times, one view per face: the
classifier adds a second view for the faces it is unsure of (the card says how many).

Exported model files given as arguments (a trained candidate, with its manifest beside it)
are timed in the same rounds, so a trained network's cost is checked against the untrained
estimate of its widths.

Run: ``.venv/bin/python benchmarks/model_width_speed.py [MODEL.onnx ...] [--widths
32,64,128,320 ...]`` (needs requirements-train.txt: torch builds the candidates' graphs).
Prints a table, writes benchmarks/results/model_width_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import onnxruntime as ort
import torch

from benchmarks._report import print_table, save_json
from pipeline.emotion.export import _write_int8_onnx
from pipeline.emotion.ferplus import default_dataset_dir, load_split
from pipeline.emotion.manifest import ModelManifest
from pipeline.emotion.network import ExpressionNet
from pipeline.emotion.preprocess import to_model_input
from pipeline.emotion.quantize import calibration_faces
from pipeline.emotion.speed import cpu_description, timed_in_turn

SHIPPED = Path(__file__).resolve().parents[1] / "pipeline" / "models" / "emotion.onnx"
CANDIDATES = {"32-256 (the recipe's widths)": (32, 64, 128, 256), "48-384": (48, 96, 192, 384)}
BLOCKS = 2
BATCH = 64  # the product's batch and the issue's
BATCHES_PER_ROUND = 20
ROUNDS = 5


def _session(path: Path) -> ort.InferenceSession:
    """As ExpressionClassifier opens the model: 2 intra-op threads, one inter-op."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ms_per_face(session: ort.InferenceSession, batches: list[np.ndarray]) -> float:
    name = session.get_inputs()[0].name
    session.run(None, {name: batches[0]})
    start = time.perf_counter()
    for batch in batches:
        session.run(None, {name: batch})
    return 1000 * (time.perf_counter() - start) / (len(batches) * BATCH)


def _trained_label(path: Path) -> str:
    manifest = ModelManifest.load(path)
    widths = manifest.raw["architecture"]["widths"]
    return f"{manifest.version} ({widths[0]}-{widths[-1]}, trained)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", type=Path, help="exported model files to time too")
    parser.add_argument(
        "--widths",
        action="append",
        default=[],
        metavar="W1,W2,W3,W4",
        help="more untrained candidates to time, one per option, e.g. --widths 32,64,128,320",
    )
    args = parser.parse_args(argv)
    candidates = dict(CANDIDATES)
    for text in args.widths:
        candidates[text.replace(",", "-")] = tuple(int(w) for w in text.split(","))
    data_dir = default_dataset_dir()
    faces = to_model_input(load_split("valid", data_dir).images[: BATCH * BATCHES_PER_ROUND])
    batches = [faces[i : i + BATCH] for i in range(0, len(faces), BATCH)]
    calibration = calibration_faces(load_split("train", data_dir))
    sessions = {"shipped file (48-384, trained)": _session(SHIPPED)}
    sessions.update({_trained_label(path): _session(path) for path in args.models})
    with tempfile.TemporaryDirectory() as folder:
        for number, (label, widths) in enumerate(candidates.items()):
            torch.manual_seed(0)
            path = Path(folder) / f"candidate_{number}.onnx"
            _write_int8_onnx(ExpressionNet(widths, BLOCKS).eval(), path, calibration)
            sessions[label] = _session(path)
        times = timed_in_turn(
            {label: partial(_ms_per_face, session, batches) for label, session in sessions.items()},
            ROUNDS,
        )
    shipped = times["shipped file (48-384, trained)"]
    results = {
        label: {
            "ms_per_face_median": statistics.median(ms),
            "ms_per_face_rounds": ms,
            "ratio_to_shipped": statistics.median(m / s for m, s in zip(ms, shipped, strict=True)),
        }
        for label, ms in times.items()
    }
    cpu = cpu_description()
    rows = [
        (
            label,
            f"{r['ms_per_face_median']:.2f}",
            f"{min(r['ms_per_face_rounds']):.2f}-{max(r['ms_per_face_rounds']):.2f}",
            f"{r['ratio_to_shipped']:.2f}",
        )
        for label, r in results.items()
    ]
    print_table(
        f"int8 one-view graphs, batch {BATCH}, 2 threads, {ROUNDS} rounds in turn ({cpu})",
        rows,
        ("graph", "ms/face (median)", "range", "x shipped"),
    )
    save_json(
        "model_width_speed",
        {"cpu": cpu, "batch": BATCH, "blocks": BLOCKS, "rounds": ROUNDS, "graphs": results},
    )


if __name__ == "__main__":
    main()
