"""The Makefile installs per target: a store PC's `make dashboard` never fetches torch or pytest.

Read from `make -n` (what make would run) on a fresh copy of the Makefile and requirements in an
empty folder, as on a machine that never ran make: nothing is installed by the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT

FILES = (
    "Makefile",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-train.txt",
    "requirements-ray.txt",
)


def _dry_run(tmp_path: Path, target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in FILES:
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return done.stdout


def _requirement_names(name: str) -> set[str]:
    lines = (PROJECT_ROOT / name).read_text().splitlines()
    return {line.split("==")[0].strip() for line in lines if line and not line.startswith("#")}


def test_dashboard_installs_runtime_only(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "dashboard")
    assert "-r requirements.txt" in commands
    assert "pipeline.vision.weights install" in commands
    assert "requirements-dev.txt" not in commands
    assert "requirements-train.txt" not in commands
    assert "requirements-ray.txt" not in commands
    assert "streamlit run dashboard/app.py" in commands


def test_runtime_requirements_hold_no_training_or_test_tools() -> None:
    runtime = _requirement_names("requirements.txt")
    assert "torch" not in runtime
    assert not runtime & {"pytest", "ruff", "mypy", "import-linter", "playwright"}
    assert "torch" in _requirement_names("requirements-train.txt")
    assert "pytest" in _requirement_names("requirements-dev.txt")


def test_check_installs_what_the_tests_need(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "check")
    assert "-r requirements.txt" in commands
    assert "-r requirements-dev.txt -c requirements.txt" in commands
    # tests/test_training.py imports torch.
    assert "-r requirements-train.txt -c requirements.txt" in commands
    # tests/test_ray_executor.py runs a real Ray.
    assert "-r requirements-ray.txt -c requirements.txt" in commands
    assert commands.index("ruff check") < commands.index("-m pytest")


def test_train_installs_torch_but_not_test_tools(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "train")
    assert "-r requirements-train.txt" in commands
    assert "requirements-dev.txt" not in commands
