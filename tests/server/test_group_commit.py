"""Group commit: the writes of one event-loop turn share a SQLite transaction, each in its own savepoint."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from esign_server import group_commit
from esign_server.db import Database, StepTransaction
from esign_server.group_commit import CommitGroup
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'g.db'}")
    with database.write_connection() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (n INTEGER UNIQUE, parent INTEGER REFERENCES parent(id))"))
    yield database
    database.dispose()


def rows(db: Database) -> list[int]:
    """What another connection sees committed."""
    with db.read_connection() as conn:
        return sorted(conn.execute(text("SELECT n FROM child")).scalars())


def insert(n: int, *, then_fail: bool = False) -> Any:
    def write(tx: StepTransaction) -> int:
        tx.dbapi_connection.execute("INSERT INTO child (n) VALUES (?)", (n,))  # type: ignore[union-attr]
        if then_fail:
            raise ValueError(f"write {n} changed its mind")
        return n

    return write


async def test_writes_of_one_turn_commit_together_and_a_failing_one_is_undone_alone(db: Database) -> None:
    group = CommitGroup(db, asyncio.get_running_loop())
    seen_outside: list[list[int]] = []

    def look_outside(tx: StepTransaction) -> None:
        # Written by the earlier writes of the group but not committed yet: invisible to others.
        seen_outside.append(rows(db))
        tx.dbapi_connection.execute("INSERT INTO child (n) VALUES (4)")  # type: ignore[union-attr]

    results = await asyncio.gather(
        group.commit(insert(1)),
        group.commit(insert(2, then_fail=True)),
        group.commit(insert(1)),  # a duplicate: IntegrityError, for this write only
        group.commit(insert(3)),
        group.commit(look_outside),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[3] == 3 and results[4] is None
    assert isinstance(results[1], ValueError) and "changed its mind" in str(results[1])
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert seen_outside == [[]]  # one transaction: nothing was committed before the last write
    assert rows(db) == [1, 3, 4]  # the failed writes left nothing behind


async def test_a_failed_commit_fails_every_write_of_the_group(db: Database) -> None:
    group = CommitGroup(db, asyncio.get_running_loop())

    def orphan(tx: StepTransaction) -> str:
        # A foreign key checked only at COMMIT: the commit itself fails.
        tx.dbapi_connection.execute("PRAGMA defer_foreign_keys=ON")  # type: ignore[union-attr]
        tx.dbapi_connection.execute("INSERT INTO child (n, parent) VALUES (9, 42)")  # type: ignore[union-attr]
        return "wrote an orphan"

    results = await asyncio.gather(
        group.commit(insert(1)), group.commit(orphan), group.commit(insert(2)), return_exceptions=True
    )
    assert all(isinstance(r, IntegrityError) for r in results), results
    assert rows(db) == []
    # The writer connection of a failed commit is replaced; the next group commits normally.
    assert await asyncio.gather(group.commit(insert(5)), group.commit(insert(6))) == [5, 6]
    assert rows(db) == [5, 6]


async def test_a_write_alone_that_fails_rolls_its_transaction_back(db: Database) -> None:
    group = CommitGroup(db, asyncio.get_running_loop())
    with pytest.raises(ValueError):
        await group.commit(insert(7, then_fail=True))
    assert await group.commit(insert(8)) == 8
    assert rows(db) == [8]


async def test_while_another_thread_holds_the_writers_lock_the_loop_keeps_running(db: Database) -> None:
    group = CommitGroup(db, asyncio.get_running_loop())
    holding, release = threading.Event(), threading.Event()

    def long_writer() -> None:  # a registry import, say
        with db.write_connection() as conn:
            conn.execute(text("INSERT INTO child (n) VALUES (100)"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=long_writer)
    thread.start()
    try:
        assert holding.wait(10)
        pending = asyncio.ensure_future(group.commit(insert(1)))
        for _ in range(20):  # the loop is free while the write waits in the pool: these turns all run
            await asyncio.sleep(0.01)
        assert not pending.done()  # a loop stuck behind the lock would have run them only after the write
    finally:
        release.set()
        thread.join(10)
    assert await pending == 1
    assert rows(db) == [1, 100]


# Another worker process in the middle of its commit: it holds the writers' lock until told to stop.
_OTHER_WORKER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def other_worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process holding the database's writers' lock (``g.db-writers.lock``) until its stdin gets a line."""
    process = subprocess.Popen(
        [sys.executable, "-c", _OTHER_WORKER, str(tmp_path / "g.db-writers.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdout.readline() == b"holding\n"
    yield process
    process.kill()
    process.wait(10)


def let_go(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.write(b"\n")
    process.stdin.close()
    process.wait(10)


def test_driver_write_now_takes_a_free_lock_and_never_waits_for_a_held_one(
    db: Database, other_worker: subprocess.Popen[bytes]
) -> None:
    with db.driver_write_now() as tx:
        assert tx is None  # held by the other process (until let_go below): no transaction, no wait
    let_go(other_worker)
    db.wait_for_writers()  # returns once the lock is free (here: already)
    with db.driver_write_now() as tx:
        assert tx is not None
        tx.dbapi_connection.execute("INSERT INTO child (n) VALUES (5)")  # type: ignore[union-attr]
    assert rows(db) == [5]


async def test_while_another_process_commits_the_loop_keeps_serving_and_the_writes_join_one_batch(
    db: Database, other_worker: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int | None] = []
    real_run_batch = group_commit.run_batch

    def recording_run_batch(database: Database, writes: list[Any], **kw: Any) -> list[Any] | None:
        outcomes = real_run_batch(database, writes, **kw)
        batches.append(None if outcomes is None else len(outcomes))
        return outcomes

    monkeypatch.setattr(group_commit, "run_batch", recording_run_batch)
    group = CommitGroup(db, asyncio.get_running_loop())
    first = asyncio.ensure_future(group.commit(insert(1)))
    for _ in range(20):  # the loop is not stalled behind the other process: these turns all run
        await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(group.commit(insert(n))) for n in (2, 3)]
    await asyncio.sleep(0.05)
    assert not first.done() and not any(w.done() for w in later)
    assert rows(db) == []
    let_go(other_worker)
    assert await asyncio.wait_for(asyncio.gather(first, *later), 10) == [1, 2, 3]
    assert rows(db) == [1, 2, 3]
    assert batches == [None, 3]  # one attempt that found the lock held, then the three writes together


async def test_if_the_lock_cannot_be_watched_the_writes_wait_for_it_and_commit(
    db: Database, other_worker: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwatchable() -> None:
        raise OSError("no lock file")

    monkeypatch.setattr(db, "wait_for_writers", unwatchable)
    group = CommitGroup(db, asyncio.get_running_loop())
    threading.Timer(0.2, let_go, (other_worker,)).start()
    assert await asyncio.wait_for(group.commit(insert(4)), 10) == 4
    assert rows(db) == [4]
