"""The real HTTP service for tests: ``python -m pipeline serve`` in a subprocess on a free port
of 127.0.0.1, keys made with the real ``keys`` verb. (Helpers only; no tests here.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.cli import run_cli
from tests.local_server import free_port, stop, wait_until_answers

ROOT = Path(__file__).resolve().parents[1]
KEY_HEADER = "Ocp-Apim-Subscription-Key"


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
        wait_until_answers(
            lambda: server.get("/openapi.json", None).status_code == 200,
            process,
            log,
            timeout_s=300,
            interval_s=0.5,
        )
        yield server
    finally:
        stop(process, timeout_s=30)


def partial_post(server: Server, path: str, key: str, declared: int, sent: bytes) -> socket.socket:
    """A raw connection that declares a body of ``declared`` bytes and sends only ``sent``:
    a client that stalls (keep the socket) or vanishes (close it) mid-upload."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=60)
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{KEY_HEADER}: {key}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    return conn


def read_until_closed(conn: socket.socket) -> tuple[bytes, bytes]:
    """(status line and headers, body) of the answer, read until the server closes."""
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body
