"""Running the real command line from tests: one subprocess helper for every test module."""

from __future__ import annotations

import os
import subprocess
import sys

from pipeline.settings import PROJECT_ROOT


def run_cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline ARGS`` from the project root, output captured as text; ``env``
    is added to this process's environment (settings for this call only)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
