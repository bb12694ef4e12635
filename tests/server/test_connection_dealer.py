"""The parent process deals each new connection to the worker with the fewest open ones."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from esign_server.serve import ConnectionDealer


class Workers:
    """Two workers' ends of their channels, a running dealer, and a client side."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(2)]
        self.ends = [theirs for _, theirs in pairs]
        for end in self.ends:
            end.settimeout(5)
        self.dealer = ConnectionDealer(self.listener, [mine for mine, _ in pairs])
        self.thread = threading.Thread(target=self.dealer.run, daemon=True)
        self.thread.start()
        self.clients: list[socket.socket] = []
        self.served: list[list[socket.socket]] = [[], []]

    def connect(self, n: int) -> list[int]:
        """Open ``n`` connections; which worker got each, in order."""
        got = []
        for _ in range(n):
            self.clients.append(socket.create_connection(self.listener.getsockname(), timeout=5))
            got.append(self._next_handed())
        return got

    def _next_handed(self) -> int:
        with selectors.DefaultSelector() as selector:
            for n, end in enumerate(self.ends):
                if end.fileno() != -1:
                    selector.register(end, selectors.EVENT_READ, n)
            ready = selector.select(timeout=5)
        assert ready, "no connection was handed to any worker"
        worker = ready[0][0].data
        message, fds, _, _ = socket.recv_fds(self.ends[worker], 16, 4)
        assert message == b"+" and len(fds) == 1
        self.served[worker].append(socket.socket(fileno=fds[0]))
        return int(worker)

    def close(self) -> None:
        for sock in [*self.clients, *self.served[0], *self.served[1], *self.ends, self.listener]:
            sock.close()


@pytest.fixture
def workers() -> Iterator[Workers]:
    w = Workers()
    yield w
    w.close()


def test_connections_alternate_then_follow_the_fewest_open(workers: Workers) -> None:
    assert workers.connect(6) == [0, 1, 0, 1, 0, 1]
    assert workers.dealer.open == [3, 3]
    # The handed descriptor is the client's connection itself: bytes cross it both ways.
    workers.clients[0].sendall(b"ping")
    assert workers.served[0][0].recv(4) == b"ping"
    workers.served[0][0].sendall(b"pong")
    assert workers.clients[0].recv(4) == b"pong"
    # Worker 0 says two of its connections closed: the next two go to it, then turns alternate again.
    workers.ends[0].send(b"-")
    workers.ends[0].send(b"-")
    deadline = time.monotonic() + 5
    while workers.dealer.open != [1, 3] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers.dealer.open == [1, 3]
    assert workers.connect(4) == [0, 0, 1, 0]
    assert workers.dealer.open == [4, 4]


def test_a_worker_that_stops_gets_nothing_more_and_the_dealer_ends_with_the_last(workers: Workers) -> None:
    assert workers.connect(2) == [0, 1]
    workers.ends[1].close()  # worker 1 stopped (or died)
    assert workers.connect(3) == [0, 0, 0]
    workers.ends[0].close()
    workers.thread.join(5)
    assert not workers.thread.is_alive()
