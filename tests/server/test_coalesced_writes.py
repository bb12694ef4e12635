"""Each response leaves in one write (head and body together) and arrives intact."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
from esign_server.serve import COALESCE_MAX_BYTES, _CoalescingWrites


class Recorder:
    """A transport that records what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


async def test_head_and_body_go_out_in_one_write() -> None:
    transport = Recorder()
    writes = _CoalescingWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.writes == []  # the head waits for the body
    writes.write(b"{}")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    writes.write(b"more")  # later chunks of a stream: as they come
    assert transport.writes[-1] == b"more"
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert len(transport.writes) == 2
    assert writes.get_extra_info("peername") == "info:peername"  # everything else is the transport's


async def test_a_head_without_a_body_goes_out_on_the_next_loop_turn() -> None:
    transport = Recorder()
    writes = _CoalescingWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"]


async def test_a_large_body_is_not_copied_and_close_flushes_first() -> None:
    transport = Recorder()
    writes = _CoalescingWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"head")
    body = b"x" * (COALESCE_MAX_BYTES + 1)
    writes.write(body)
    assert transport.writes == [b"head", body]
    held = _CoalescingWrites(Recorder(), asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"head")
    held.close()
    assert held._transport.writes == [b"head"] and held._transport.closed  # type: ignore[attr-defined]


def test_a_response_over_a_real_socket_is_whole(live_url: str) -> None:
    # The service's protocol on a real socket: the head and the body, as one write, arrive together
    # in the first recv on loopback. (Two writes usually do too, so this checks the answer is intact;
    # the tests above check the number of writes.)
    host, port = live_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n")
        first = sock.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    assert head.startswith(b"HTTP/1.1 200") and len(body) == length > 0
    assert httpx.get(f"{live_url}/health", timeout=10).status_code == 200
