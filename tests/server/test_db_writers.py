"""SQLite writers of two processes: BEGIN IMMEDIATE and the busy timeout make one wait for the other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from esign_server.db import Database
from sqlalchemy import text


def test_a_writer_in_another_process_makes_this_one_wait_without_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    db = Database(url)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    holder = textwrap.dedent(
        """
        import sys, time
        from sqlalchemy import text
        from esign_server.db import Database
        db = Database(sys.argv[1])
        with db.write() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            print("holding", flush=True)
            time.sleep(0.6)
        """
    )
    other = subprocess.Popen([sys.executable, "-c", holder, url], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "holding"
        with db.write() as conn:
            # Queued behind the other process's transaction, then let in: its row is committed already.
            seen_on_entry = sorted(conn.execute(text("SELECT n FROM t")).scalars())
            conn.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        assert other.wait(timeout=30) == 0
    assert seen_on_entry == [1]
    with db.read() as conn:
        assert sorted(conn.execute(text("SELECT n FROM t")).scalars()) == [1, 2]
    db.dispose()
