"""Idle TLS connections are dropped at shutdown instead of holding the server for 30 s.

On SIGTERM uvicorn asks each connection to close and waits until all have. A plain TCP
connection closes at once. A TLS one first sends its close_notify and then waits for the
client's (asyncio's ``ssl_shutdown_timeout``, 30 s), which HTTP clients rarely send: they just
drop the socket. So after one request from requests or curl, ``pipeline serve
--ssl-certfile ...`` took 30 s to stop (measured 2026-12-07 with uvicorn 0.54 and a bare ASGI
app as well), and a restart by systemd or an orchestrator stalled for as long.

A connection between requests with nothing left to send loses nothing by being aborted, so
that is what happens to it here. A connection still answering a request is left to finish, as
uvicorn does (it then closes after the response, and may still wait for the client's
close_notify).
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


class PromptTlsShutdown(H11Protocol):
    """uvicorn's ``H11Protocol`` whose idle TLS connections end at once on shutdown.

    Listed before the other protocol classes in a combined class (see ``pipeline.cli``)."""

    def shutdown(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        tls = self.transport.get_extra_info("ssl_object") is not None
        if idle and tls and self.transport.get_write_buffer_size() == 0:
            self.transport.abort()
