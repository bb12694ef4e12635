"""Run the service under uvicorn; with several workers, each connection goes to the least busy one.

Why not ``uvicorn --workers N``: its shared listening socket is created with ``proto=0``, so asyncio
never sets ``TCP_NODELAY`` on accepted connections and every keep-alive response waits ~40 ms for a
delayed ACK (uvicorn issue 3149); and with one shared listener a single worker can end up taking
every connection. ``SO_REUSEPORT`` sockets, one per worker, were tried: the kernel spreads
connections by a hash of their addresses, so one client's 16 keep-alive connections sometimes fell
4 and 12 (one run in six of the CSC bench), and the worker with 4 idled while the other queued (4,091
signHash/s against 4,600-4,960 with 8 and 8). Here the parent process accepts each connection and
hands it, over a Unix socket (``SCM_RIGHTS``), to the worker with the fewest open connections
(:class:`ConnectionDealer`); the worker serves it like one it accepted itself, with ``TCP_NODELAY``.

Why a protocol subclass: uvicorn sets no deadline for receiving a request, so a client that sends
half a request (slowloris) or connects and says nothing keeps its connection forever; enough of them
exhaust the worker's file descriptors. :class:`DeadlineHttpProtocol` gives each request
``REQUEST_READ_TIMEOUT_SECONDS`` to arrive whole, then answers 408 and closes. It also writes each
response's head and body in one send (:class:`_CoalescingWrites`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("esign.serve")

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
    """uvicorn's server, with the heap built at startup kept out of the garbage collector's passes;
    given a ``channel``, it serves the connections the parent's :class:`ConnectionDealer` hands it."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket | None = None) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.channel is not None:
            _HandedConnections(self, self.channel).start()
        # A full (generation 2) collection scans every tracked object, and the modules, SQLAlchemy's
        # and pydantic's metadata made at startup are most of them: each pass stalled the event loop,
        # and every request in flight, for 60-100 ms. Nothing built at startup becomes garbage later.
        gc.collect()
        gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.channel is not None:
            # No more connections for this worker: the dealer sees the channel close.
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            self.channel.close()
        await super().shutdown(sockets=sockets)


class _HandedConnections:
    """A worker's end of its channel: connections arrive as file descriptors, closes go back as ``-``."""

    def __init__(self, server: _Server, channel: socket.socket) -> None:
        self._server = server
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        config, state = server.config, server.server_state
        closed = self._closed
        base: Any = config.http_protocol_class

        class HandedProtocol(base):
            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                closed()

        def protocol() -> asyncio.Protocol:
            return HandedProtocol(config=config, server_state=state, app_state=server.lifespan.state)

        self._protocol = protocol

    def start(self) -> None:
        self._channel.setblocking(False)
        self._loop.add_reader(self._channel.fileno(), self._receive)

    def _receive(self) -> None:
        try:
            message, fds, _flags, _address = socket.recv_fds(self._channel, 16, 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        if not message and not fds:  # the parent is gone: finish what is in flight and stop
            self._loop.remove_reader(self._channel.fileno())
            self._server.should_exit = True
            return
        for fd in fds:
            connection = socket.socket(fileno=fd)
            self._loop.create_task(self._serve(connection))

    async def _serve(self, connection: socket.socket) -> None:
        try:
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self._loop.connect_accepted_socket(self._protocol, connection)
        except OSError:  # the client left before it was served
            connection.close()
            self._closed()

    def _closed(self) -> None:
        try:
            self._channel.send(b"-")
        except OSError:
            pass  # the parent is gone (the worker stops) or the channel is full (the count stays high)


class ConnectionDealer:
    """The parent's accept loop: each new connection goes to the worker with the fewest open ones.

    Each worker has a ``SOCK_SEQPACKET`` channel: a connection goes out as ``+`` with its file
    descriptor (``SCM_RIGHTS``), and the worker sends ``-`` when one closes. A worker whose channel
    closes (it stopped, or died) gets no more connections; the loop ends when none is left.
    """

    def __init__(self, listener: socket.socket, channels: list[socket.socket]) -> None:
        self.listener = listener
        self.channels = channels
        self.open = [0] * len(channels)
        """Open connections per worker, as the dealer knows them."""
        self._alive = set(range(len(channels)))
        self._next = 0

    def run(self) -> None:
        """Deal connections until every worker's channel has closed."""
        self.listener.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ, -1)
            for n, channel in enumerate(self.channels):
                selector.register(channel, selectors.EVENT_READ, n)
            while self._alive:
                for key, _events in selector.select():
                    if key.data == -1:
                        self._accept()
                    else:
                        self._hear(selector, key.data)

    def _accept(self) -> None:
        while self._alive:
            try:
                connection, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the client retries
                log.warning("cannot accept a connection: %s", exc)
                return
            with connection:
                self._hand(connection)

    def _hand(self, connection: socket.socket) -> None:
        while self._alive:
            # The fewest open connections; among equals, the next in turn.
            count = len(self.channels)
            worker = min(self._alive, key=lambda n: (self.open[n], (n - self._next) % count))
            try:
                socket.send_fds(self.channels[worker], [b"+"], [connection.fileno()])
            except OSError:
                self._alive.discard(worker)
                continue
            self.open[worker] += 1
            self._next = (worker + 1) % count
            return

    def _hear(self, selector: selectors.BaseSelector, worker: int) -> None:
        try:
            message = self.channels[worker].recv(16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message = b""
        if message:
            self.open[worker] = max(0, self.open[worker] - message.count(b"-"))
            return
        selector.unregister(self.channels[worker])
        self._alive.discard(worker)


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


def _worker(channel: socket.socket, log_level: str) -> None:
    run_worker(_config(log_level), channel)


def run_worker(config: uvicorn.Config, channel: socket.socket) -> None:
    """Serve ``config``'s app on the connections a :class:`ConnectionDealer` hands over ``channel``."""
    _Server(config, channel).run(sockets=[])


def serve(host: str = "127.0.0.1", port: int = 8750, *, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted; ``workers`` > 1 starts that many processes, and this one deals them
    the connections (:class:`ConnectionDealer`)."""
    listener = listening_socket(host, port, reuse_port=False)
    if workers <= 1:
        _Server(_config(log_level)).run(sockets=[listener])
        return
    exit_code = serve_workers(listener, workers, _worker, log_level)
    if exit_code:
        sys.exit(exit_code)


def serve_workers(listener: socket.socket, workers: int, target: Callable[..., None], *args: Any) -> int:
    """Start ``workers`` processes running ``target(channel, *args)`` and deal them the connections
    of ``listener`` until they have all stopped (SIGTERM or SIGINT stops them); the first non-zero
    exit code, or 0."""
    spawn = multiprocessing.get_context("spawn")
    channels: list[socket.socket] = []
    processes = []
    for _ in range(workers):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        channels.append(mine)
        processes.append(spawn.Process(target=target, args=(theirs, *args), daemon=False))
        processes[-1].start()
        theirs.close()  # the child has its own copy (passed when it was started)

    def stop(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dealer = ConnectionDealer(listener, channels)

    def deal() -> None:
        try:
            dealer.run()
        except Exception:
            # Without the dealer no connection reaches a worker: stop rather than hang unseen.
            log.exception("the connection dealer failed; stopping the workers")
            stop(signal.SIGTERM, None)

    threading.Thread(target=deal, name="esign-dealer", daemon=True).start()
    exit_code = 0
    for process in processes:
        process.join()
        exit_code = exit_code or (process.exitcode or 0)
    listener.close()
    return exit_code
