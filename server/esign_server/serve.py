"""Run the service under uvicorn, with one listening socket per worker.

Why not ``uvicorn --workers N``: its shared listening socket is created with ``proto=0``, so asyncio
never sets ``TCP_NODELAY`` on accepted connections and every keep-alive response waits ~40 ms for a
delayed ACK (uvicorn issue 3149); and with one shared listener a single worker can end up taking
every connection. Here each worker binds its own ``IPPROTO_TCP`` socket with ``SO_REUSEPORT``: the
kernel spreads connections over the workers, and asyncio sets ``TCP_NODELAY`` on each of them.

Why a protocol subclass: uvicorn sets no deadline for receiving a request, so a client that sends
half a request (slowloris) or connects and says nothing keeps its connection forever; enough of them
exhaust the worker's file descriptors. :class:`DeadlineHttpProtocol` gives each request
``REQUEST_READ_TIMEOUT_SECONDS`` to arrive whole, then answers 408 and closes. It also writes each
response's head and body in one send (:class:`_CoalescingWrites`).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

APP_FACTORY = "esign_server.app:app_from_env"
REQUEST_READ_TIMEOUT_SECONDS = 20.0
"""How long a client has to send a whole request (line, headers and body) once it has started one."""
_TIMEOUT_BODY = b'{"error":"request_timeout","message":"the request did not arrive in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


COALESCE_MAX_BYTES = 64 * 1024
"""A body chunk up to this size goes out in one write with the response head (larger ones: two)."""


class _CoalescingWrites:
    """The transport as one request's response cycle sees it: the response head is held back and
    written together with the first body chunk.

    uvicorn writes a response as two ``transport.write`` calls, head then body, and the event loop
    turns each into a ``send`` syscall and a TCP segment at once. Measured with py-spy on the session
    flow: those two sends were a quarter of the server's CPU per request; one send does the same
    job. A head with no body chunk following at once (a stream that computes its first chunk) still
    goes out on the next turn of the event loop.
    """

    __slots__ = ("_held", "_loop", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        """Hold the first write (the head) back until the next one or the next loop turn."""
        if not self._started:
            self._started = True
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        held, self._held = self._held, None
        if held is None:
            self._transport.write(data)
        elif len(data) <= COALESCE_MAX_BYTES:
            self._transport.write(held + data)
        else:  # no copy of a large body: two writes
            self._transport.write(held)
            self._transport.write(data)

    def flush(self) -> None:
        """Write a head still held back."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        """Flush, then close the connection."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


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

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not before:
            self.cycle.transport = _CoalescingWrites(self.transport, self.loop)  # type: ignore[assignment]

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


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP listening socket created with ``proto=IPPROTO_TCP`` (so asyncio sets TCP_NODELAY)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, with the heap built at startup kept out of the garbage collector's passes."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # A full (generation 2) collection scans every tracked object, and the modules, SQLAlchemy's
        # and pydantic's metadata made at startup are most of them: each pass stalled the event loop,
        # and every request in flight, for 60-100 ms. Nothing built at startup becomes garbage later.
        gc.collect()
        gc.freeze()


def _config(log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        log_level=log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        http=DeadlineHttpProtocol,
    )


def _worker(host: str, port: int, log_level: str) -> None:
    sock = listening_socket(host, port, reuse_port=True)
    _Server(_config(log_level)).run(sockets=[sock])


def serve(host: str = "127.0.0.1", port: int = 8750, *, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted; ``workers`` > 1 starts that many processes sharing the port."""
    if workers <= 1:
        sock = listening_socket(host, port, reuse_port=False)
        _Server(_config(log_level)).run(sockets=[sock])
        return
    # Bind once in the parent first: a port already in use fails here, loudly, not in N children.
    listening_socket(host, port, reuse_port=True).close()
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(host, port, log_level), daemon=False) for _ in range(workers)]
    for process in processes:
        process.start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    for process in processes:
        process.join()
        exit_code = exit_code or (process.exitcode or 0)
    if exit_code:
        sys.exit(exit_code)
