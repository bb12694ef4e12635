"""A served worker freezes its startup heap: full garbage collections no longer stall every request."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, socket
    import uvicorn
    from esign_server.serve import _Server

    async def app(scope, receive, send):
        pass

    async def main():
        config = uvicorn.Config(app, lifespan="off", log_level="warning")
        config.load()
        server = _Server(config)
        server.lifespan = config.lifespan_class(config)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        before = gc.get_freeze_count()
        await server.startup(sockets=[sock])
        frozen = gc.get_freeze_count()
        young = [object() for _ in range(10)]
        print(before, frozen, len(gc.get_objects(generation=2)), len(young))
        await server.shutdown(sockets=[sock])

    asyncio.run(main())
    """
)


def test_startup_heap_is_frozen_out_of_full_collections() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, frozen, in_oldest_generation, _ = (int(x) for x in done.stdout.split())
    assert before == 0
    # Every object tracked at startup (modules, classes, uvicorn's) is frozen: a full collection
    # now scans only the handful made after it.
    assert frozen > 10_000
    assert in_oldest_generation < 100
