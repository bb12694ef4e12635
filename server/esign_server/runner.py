"""How ``esign server run`` serves the app: uvicorn, and with ``--workers N`` uvicorn's own process manager.

uvicorn (0.55 and later) creates its listening socket with ``proto=IPPROTO_TCP``, so asyncio sets
``TCP_NODELAY`` on every accepted connection, in one process or several: the delayed-ACK stall of
older releases (uvicorn issue 3149, FIELD-NOTES) is gone without any setting. The worker processes
share one listening socket and the kernel gives each new connection to whichever worker accepts
first; a client that opens few keep-alive connections may load one worker more than another. In
production nginx sits in front (``deploy/``): it balances requests over the server processes with
its own upstream connections.

uvicorn sets no deadline for receiving a request, so a client that sends half a request (slowloris)
or connects and says nothing would keep its connection. :class:`DeadlineHttpProtocol`, given to
uvicorn's documented ``http`` setting, gives each request ``REQUEST_READ_TIMEOUT_SECONDS`` to
arrive whole, then answers 408 and closes (behind nginx, its ``client_header_timeout`` and
``client_body_timeout`` do the same at the edge).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

APP_FACTORY = "esign_server.app:app_from_env"
PROTOCOL = "esign_server.runner:DeadlineHttpProtocol"
"""The HTTP protocol class, as an import string (uvicorn's ``--http`` accepts one)."""
REQUEST_READ_TIMEOUT_SECONDS = 20.0
"""How long a client has to send a whole request (line, headers and body) once it has started one."""
_TIMEOUT_BODY = b'{"error":"request_timeout","message":"the request did not arrive in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline for receiving each request whole.

    Armed when a connection opens and when a request starts; disarmed once the request (body
    included) is in. Idle keep-alive connections are uvicorn's own ``timeout_keep_alive``.
    """

    read_timeout = REQUEST_READ_TIMEOUT_SECONDS

    def connection_made(self, transport: Any) -> None:
        self._read_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_read_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_read_deadline()

    def on_message_complete(self) -> None:
        self._disarm_read_deadline()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing() or (self.cycle is not None and self.cycle.response_started):
            return
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def protocol_with_read_timeout(seconds: float) -> type[DeadlineHttpProtocol]:
    """A :class:`DeadlineHttpProtocol` with another deadline (tests use a short one)."""
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), {"read_timeout": seconds})


def serve(host: str = "127.0.0.1", port: int = 8750, *, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted; ``workers`` > 1 runs uvicorn's process manager with that many
    worker processes on one listening socket (it restarts a worker that dies)."""
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        http=PROTOCOL,
    )
