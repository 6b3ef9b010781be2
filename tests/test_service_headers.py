"""The header deadline (EMOTION_API_HEADER_S) over real sockets: ``python -m pipeline serve``
in a subprocess closes a connection whose request line and headers are late, whether the
client stalls or trickles them, on a new connection or between keep-alive requests, and
still serves everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from pipeline.errors import InputError
from pipeline.settings import get_float
from tests.test_service_server import Server, add_key, read_until_closed, running_server

HEADER_S = 1
# Liveness bound only: a connection the deadline should close and does not would otherwise
# hang the test for good.
CLOSE_WITHIN_S = HEADER_S + 15
SPEC = "/openapi.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("headers") / "service.duckdb"
    add_key(db, "client")  # makes the database, as an operator's first key does
    with running_server(db, {"EMOTION_API_HEADER_S": str(HEADER_S)}) as running:
        yield running


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=CLOSE_WITHIN_S)


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()


def _read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    """(status line and headers, body) of one answer, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed before the headers of an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    assert lengths, head
    while len(body) < lengths[0]:
        chunk = conn.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    assert len(body) == lengths[0], "more bytes than the answer declared"
    return head, body


def _closed_by_server(conn: socket.socket) -> bytes:
    """What the server sent before closing; fails if it is still open after CLOSE_WITHIN_S."""
    try:
        head, body = read_until_closed(conn)
    except TimeoutError:
        pytest.fail(f"the server still held the connection after {CLOSE_WITHIN_S} s")
    return head + body


def _log_since(server: Server, offset: int) -> str:
    return server.log.read_bytes()[offset:].decode(errors="replace")


def _wait_for_log(server: Server, offset: int, text: str) -> str:
    """The log since ``offset`` once it holds ``text`` (the server writes it around the close)."""
    give_up = time.monotonic() + 10
    while text not in (log := _log_since(server, offset)) and time.monotonic() < give_up:
        time.sleep(0.1)
    return log


def test_stalled_headers_are_closed_and_other_clients_are_served(server: Server) -> None:
    """A client that sends half its headers and stops gets its connection closed, with no
    answer and one log line, while another client's request on a second connection is
    answered as usual."""
    offset = server.log.stat().st_size
    with _connect(server) as stalled:
        stalled.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert server.get(SPEC, None).status_code == 200
        assert _closed_by_server(stalled) == b"", "closed without an answer"
    log = _wait_for_log(server, offset, "bytes received")
    assert f"request headers did not arrive within {HEADER_S} s (53 bytes received)" in log, log
    assert "Traceback" not in log, log
    assert server.get(SPEC, None).status_code == 200


def test_trickled_headers_do_not_move_the_deadline(server: Server) -> None:
    """Slowloris: a header byte every 0.2 s never completes the headers, and each byte does
    not restart the clock (uvicorn's keep-alive timer would be reset by every one)."""
    with _connect(server) as trickler:
        trickler.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        trickler.settimeout(0.2)
        give_up = time.monotonic() + CLOSE_WITHIN_S
        while time.monotonic() < give_up:
            try:
                if trickler.recv(65536) == b"":
                    break  # closed by the server, nothing sent
                pytest.fail("the server answered headers that never ended")
            except TimeoutError:
                pass
            except ConnectionResetError:
                break  # closed, and our last byte crossed the close
            try:
                trickler.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail(f"the server still held a trickling client after {CLOSE_WITHIN_S} s")


def test_split_headers_and_keep_alive_requests_are_answered(server: Server) -> None:
    """Headers that arrive in pieces within the deadline are fine, and a second request on the
    same (keep-alive) connection is answered too."""
    request = _get(SPEC)
    with _connect(server) as conn:
        for start in range(0, len(request), 20):
            conn.sendall(request[start : start + 20])
            time.sleep(0.05)
        first, spec = _read_response(conn)
        assert first.startswith(b"HTTP/1.1 200 "), first
        assert b"connection: close" not in first.lower()
        conn.sendall(request)
        second, again = _read_response(conn)
        assert second.startswith(b"HTTP/1.1 200 "), second
        assert again == spec


def test_an_idle_keep_alive_connection_is_closed_by_the_deadline(server: Server) -> None:
    """After an answer the deadline starts again: a connection that then stays silent is
    closed by it (1 s here, before uvicorn's own 5 s keep-alive timeout)."""
    offset = server.log.stat().st_size
    with _connect(server) as conn:
        conn.sendall(_get(SPEC))
        head, _ = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert _closed_by_server(conn) == b""
    log = _wait_for_log(server, offset, "bytes received")
    assert f"request headers did not arrive within {HEADER_S} s (0 bytes received)" in log, log


def test_a_stalled_second_request_on_a_keep_alive_connection_is_closed(server: Server) -> None:
    """A keep-alive client that starts its next request and stalls: the first byte cancels
    uvicorn's keep-alive timer, so only the deadline, armed again when the answer ended,
    closes the connection."""
    offset = server.log.stat().st_size
    with _connect(server) as conn:
        conn.sendall(_get(SPEC))
        head, _ = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 200 "), head
        conn.sendall(b"GET /openapi.json HTTP/1.1\r\nHo")
        assert _closed_by_server(conn) == b""
    log = _wait_for_log(server, offset, "bytes received")
    assert f"request headers did not arrive within {HEADER_S} s (30 bytes received)" in log, log


@pytest.mark.parametrize("value", ["0", "0.5", "nan", "soon", "7200"])
def test_header_deadline_setting_is_checked(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTION_API_HEADER_S", value)
    with pytest.raises(InputError):
        get_float("EMOTION_API_HEADER_S")


def test_header_deadline_default_is_thirty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOTION_API_HEADER_S", raising=False)
    assert get_float("EMOTION_API_HEADER_S") == 30
