"""Short steps run on the event loop with SQLite, and in the thread pool while a writer holds the lock."""

from __future__ import annotations

import threading

from esign_server.context import ServerContext


async def test_a_step_runs_inline_unless_another_writer_holds_the_lock(ctx: ServerContext) -> None:
    loop_thread = threading.get_ident()
    ran_on = await ctx.step(threading.get_ident)
    if not ctx.db.is_sqlite:
        # PostgreSQL: statements wait on the network; steps always go to the thread pool.
        assert not ctx.inline_steps and ran_on != loop_thread
        return
    assert ctx.inline_steps and ran_on == loop_thread
    # A long writer in another thread (a registry import, say): the step must not wait on the loop.
    holding, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        with ctx.db.write_connection():
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        assert holding.wait(10)
        assert ctx.db.writers_busy()
        # While the writer still holds the lock, the step goes to a pool thread.
        assert await ctx.step(threading.get_ident) != loop_thread
    finally:
        release.set()
        writer.join()
    assert not ctx.db.writers_busy()
    assert await ctx.step(threading.get_ident) == loop_thread
