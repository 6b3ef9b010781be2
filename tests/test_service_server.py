"""The real HTTP service for tests: ``python -m pipeline serve`` in a subprocess on a free port
of 127.0.0.1, keys made with the real ``keys`` verb. (Helpers only; no tests here.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
KEY_HEADER = "Ocp-Apim-Subscription-Key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, "--db", str(db), env=env)


def add_key(db: Path, name: str, *options: str) -> str:
    done = cli(db, "keys", "add", name, *options)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Server:
    url: str
    db: Path
    process: subprocess.Popen
    log: Path
    verify: str | bool = True

    def post(self, path: str, key: str | None, **kwargs: object) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if key is not None:
            headers[KEY_HEADER] = key
        return requests.post(
            f"{self.url}{path}", headers=headers, timeout=300, verify=self.verify, **kwargs
        )

    def get(self, path: str, key: str | None, **kwargs: object) -> requests.Response:
        headers = {KEY_HEADER: key} if key is not None else {}
        return requests.get(
            f"{self.url}{path}", headers=headers, timeout=300, verify=self.verify, **kwargs
        )


@contextmanager
def running_server(
    db: Path, env: dict[str, str], *options: str, tls_cert: Path | None = None
) -> Iterator[Server]:
    """The server, up and answering, stopped (and its log shown on failure) afterwards.

    ``tls_cert``: the certificate the server was given (``--ssl-certfile`` in ``options``);
    the client then speaks https and trusts only that certificate."""
    port = free_port()
    log = db.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "serve",
                "--port",
                str(port),
                "--db",
                str(db),
                *options,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    scheme = "https" if tls_cert else "http"
    server = Server(
        f"{scheme}://127.0.0.1:{port}", db, process, log, str(tls_cert) if tls_cert else True
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
            try:
                if server.get("/openapi.json", None).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
