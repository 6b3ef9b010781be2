"""A deadline for a request's line and headers: uvicorn's h11 protocol with one timer added.

uvicorn waits for a request's headers forever. Its ``timeout_keep_alive`` covers only the
idle time after a response and is cancelled by the first byte that arrives, so a client that
sends half a request line (or one header byte every few seconds: "slowloris") holds its
connection for good. ASGI middleware cannot help: the application is called only once the
headers have been parsed. So the protocol itself closes a connection whose request line and
headers have not all arrived within ``EMOTION_API_HEADER_S`` seconds of the connection
opening or of the previous response finishing (keep-alive).

The timer follows h11's own state instead of hooking the parser: while the client's side is
``IDLE`` the server is waiting for (the rest of) a request's headers; once h11 has produced
the ``Request`` event it is not. The state can only change in the methods overridden here,
so checking it after each of them arms and disarms the timer without copying uvicorn's
event loop. Bytes that arrive do not move the deadline; only complete headers do.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# uvicorn's own logger, so that the line lands beside its other connection messages.
_log = logging.getLogger("uvicorn.error")


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's ``H11Protocol``, closing connections whose headers are late.

    Use ``with_header_deadline`` to get a class with the deadline set."""

    header_s: ClassVar[float] = 30.0
    """Seconds a request's line and headers may take to arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow_state()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow_state(self) -> None:
        """Armed while the server waits for a request's headers, disarmed otherwise. An armed
        timer is left alone: the deadline counts from when the wait began."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._disarm()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        received = len(self.conn.trailing_data[0])
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        # No 408: a client idle between keep-alive requests would read it as the answer to
        # the request it sends next. A connection that sent nothing is routine, not a warning.
        _log.log(
            logging.WARNING if received else logging.INFO,
            "%s - request headers did not arrive within %g s (%d bytes received); "
            "connection closed",
            client,
            self.header_s,
            received,
        )
        self.transport.close()


def with_header_deadline(header_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for ``uvicorn.run(http=...)``, closing connections whose request
    line and headers take more than ``header_s`` seconds."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_s": header_s})
