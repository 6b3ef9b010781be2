"""The real dashboard served for browser tests: ``streamlit run`` on a free local port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from pipeline.settings import PROJECT_ROOT
from tests.local_server import free_port, stop, wait_until_answers


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
        return bool(answer.status == 200)


@contextlib.contextmanager
def serve_dashboard(db: Path, folder: Path, **settings: str) -> Iterator[str]:
    """The dashboard on ``db`` (uploads and log under ``folder``) until the block ends;
    yields its base URL. ``settings`` are extra environment settings."""
    port = free_port()
    log = folder / "streamlit.log"
    env = {
        **os.environ,
        "EMOTION_DB_PATH": str(db),
        "EMOTION_UPLOAD_DIR": str(folder / "uploads"),
        **settings,
    }
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.headless", "true", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(lambda: _healthy(url), server, log, timeout_s=90)
        yield url
    finally:
        stop(server)
