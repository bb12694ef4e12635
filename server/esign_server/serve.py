"""Run the service under uvicorn, with one listening socket per worker.

Why not ``uvicorn --workers N``: its shared listening socket is created with ``proto=0``, so asyncio
never sets ``TCP_NODELAY`` on accepted connections and every keep-alive response waits ~40 ms for a
delayed ACK (uvicorn issue 3149); and with one shared listener a single worker can end up taking
every connection. Here each worker binds its own ``IPPROTO_TCP`` socket with ``SO_REUSEPORT``: the
kernel spreads connections over the workers, and asyncio sets ``TCP_NODELAY`` on each of them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

APP_FACTORY = "esign_server.app:app_from_env"


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


def _config(log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        log_level=log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
    )


def _worker(host: str, port: int, log_level: str) -> None:
    sock = listening_socket(host, port, reuse_port=True)
    uvicorn.Server(_config(log_level)).run(sockets=[sock])


def serve(host: str = "127.0.0.1", port: int = 8750, *, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted; ``workers`` > 1 starts that many processes sharing the port."""
    if workers <= 1:
        sock = listening_socket(host, port, reuse_port=False)
        uvicorn.Server(_config(log_level)).run(sockets=[sock])
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
