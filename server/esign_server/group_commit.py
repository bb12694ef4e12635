"""Group commit: the write steps that reach one SQLite worker's event loop together share one transaction.

Each write transaction on SQLite pays for itself whatever it writes: ``BEGIN IMMEDIATE`` and
``COMMIT``, the writers' lock, and, when another worker process committed since, a connection whose
whole page cache SQLite has dropped, so every page of the step is read again. With two workers that
fixed cost was most of a signHash's database time. The requests that one turn of the event loop
serves hand their writes to a :class:`CommitGroup`; after them the group runs the writes in one
transaction, each inside a savepoint (a write that raises is undone alone and its request gets the
error), commits once, and only then answers each request. A write is never reported done before the
commit that holds it, so a crash loses no answered write; a failed commit fails every write in it.

When another worker process holds the writers' lock, the loop does not wait for it: a thread of the
group waits, the loop goes on serving requests (their writes join the batch), and the batch commits
once the lock is free. Waiting on the loop cost each of two workers ~7% of its time (0.66 s in 10 s
of the CSC bench), during which it served nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from esign_server.db import Database, DriverTransaction, StepTransaction

T = TypeVar("T")


class _Write(Generic[T]):
    __slots__ = ("future", "write")

    def __init__(self, write: Callable[[StepTransaction], T], future: asyncio.Future[T]) -> None:
        self.write = write
        self.future = future


class CommitGroup:
    """The write steps of one event loop, committed together (SQLite, steps run on the loop).

    :meth:`commit` queues a write and waits for its commit. The first write queued in a turn of the
    loop schedules the group's commit behind the callbacks already ready to run: the other requests
    that arrived in the same turn queue theirs meanwhile.
    """

    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        self._db = db
        self._loop = loop
        self._queued: list[_Write[Any]] = []
        self._pool_commits: set[asyncio.Task[None]] = set()
        self._watcher: ThreadPoolExecutor | None = None
        self._watching = False

    async def commit(self, write: Callable[[StepTransaction], T]) -> T:
        """Run ``write`` in a write transaction shared with the other writes of this turn; its result
        once that transaction has committed. The exception ``write`` raised, or the commit's."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._queued.append(_Write(write, future))
        if len(self._queued) == 1:
            self._loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._watching or not self._queued:
            return  # the watcher flushes once the lock is free
        batch, self._queued = self._queued, []
        if self._db.writers_busy():
            # Another thread of this worker holds the writers' lock (a registry import, a document
            # session's step): wait for it in the thread pool, not on the loop.
            task = self._loop.create_task(self._commit_in_pool(batch))
            self._pool_commits.add(task)
            task.add_done_callback(self._pool_commits.discard)
            return
        outcomes = run_batch(self._db, [w.write for w in batch], wait=False)
        if outcomes is None:
            # Another process is committing: keep the batch open and serve requests meanwhile.
            self._queued = batch + self._queued
            self._watch()
            return
        _settle(batch, outcomes)

    def _watch(self) -> None:
        if self._watcher is None:
            self._watcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esign-writers-watch")
        self._watching = True
        self._loop.run_in_executor(self._watcher, self._db.wait_for_writers).add_done_callback(self._lock_freed)

    def _lock_freed(self, waited: asyncio.Future[None]) -> None:
        self._watching = False
        if waited.cancelled() or waited.exception() is not None:
            # The lock file could not be watched: this batch waits for the lock on the loop.
            batch, self._queued = self._queued, []
            _settle(batch, run_batch(self._db, [w.write for w in batch]))
            return
        self._flush()

    async def _commit_in_pool(self, batch: list[_Write[Any]]) -> None:
        outcomes = await run_in_threadpool(run_batch, self._db, [w.write for w in batch])
        _settle(batch, outcomes)


def _settle(batch: list[_Write[Any]], outcomes: list[Any]) -> None:
    for item, outcome in zip(batch, outcomes, strict=True):
        if item.future.done():  # the request was cancelled (its client went away): the write stands
            continue
        if isinstance(outcome, _Failed):
            item.future.set_exception(outcome.error)
        else:
            item.future.set_result(outcome)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


@overload
def run_batch(db: Database, writes: list[Callable[[StepTransaction], Any]]) -> list[Any]: ...
@overload
def run_batch(db: Database, writes: list[Callable[[StepTransaction], Any]], *, wait: bool) -> list[Any] | None: ...


def run_batch(db: Database, writes: list[Callable[[StepTransaction], Any]], *, wait: bool = True) -> list[Any] | None:
    """Run ``writes`` in one transaction, each in a savepoint; each one's result or :class:`_Failed`.

    Every result is committed when this returns; a write that raised left nothing behind. If the
    transaction itself fails (the commit, a savepoint), every write fails with that error. With
    ``wait`` false and the writers' lock taken, None at once: nothing ran.
    """
    outcomes: list[Any] = []
    try:
        with db.driver_write() if wait else db.driver_write_now() as tx:
            if tx is None:
                return None
            if len(writes) == 1:
                # Alone in its transaction: an exception rolls the whole transaction back.
                outcomes.append(writes[0](tx))
            else:
                for write in writes:
                    outcomes.append(_in_savepoint(tx, write))
    except Exception as exc:
        failed = _Failed(exc)
        return [o if isinstance(o, _Failed) else failed for o in outcomes] + [failed] * (len(writes) - len(outcomes))
    return outcomes


def _in_savepoint(tx: DriverTransaction | Connection, write: Callable[[StepTransaction], Any]) -> Any:
    def run(sql: str) -> None:
        if isinstance(tx, DriverTransaction):
            tx.run(sql)
        else:
            tx.exec_driver_sql(sql)

    run("SAVEPOINT grouped_write")
    try:
        value = write(tx)
    except Exception as exc:
        run("ROLLBACK TO grouped_write")
        run("RELEASE grouped_write")
        return _Failed(exc)
    run("RELEASE grouped_write")
    return value


def run_alone(db: Database, write: Callable[[StepTransaction], T]) -> T:
    """Run ``write`` in a write transaction of its own; its result once committed."""
    with db.driver_write() as tx:
        return write(tx)
