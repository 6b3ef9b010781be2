"""Local servers the tests start in a subprocess: a free port on 127.0.0.1, waiting until
the server answers (failing with its log if it exits or never does), and stopping it.

One copy for the dashboard, the HTTP service and the login tests, so a fix to how a slow
start or a hung stop is handled reaches all of them."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answers(
    answers: Callable[[], bool],
    process: subprocess.Popen,
    log: Path,
    timeout_s: float,
    interval_s: float = 0.3,
) -> None:
    """Poll ``answers`` (an OSError counts as no answer yet) until it is true; fail with the
    tail of ``log`` when ``process`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if answers():
                return
        except OSError:
            pass
        time.sleep(interval_s)
    raise AssertionError(f"server did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """Terminate, and kill if it has not ended within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)
