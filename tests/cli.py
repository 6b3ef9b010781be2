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


# A short planted clip is analysed in about a second on a quiet machine (detection every third
# sampled frame), too fast to catch its job running. Tests that act on a running job (kill
# it, purge beside it) sample every frame of the 10 fps clip and detect on each, so the job
# lasts several seconds: what is tested is unchanged, only the job is longer.
SLOW_INGEST_ENV = {"EMOTION_SAMPLE_FPS": "10", "EMOTION_DETECT_EVERY": "1"}
