"""The audit chain's head guess: two processes appending in turn, and a rolled-back append."""

from __future__ import annotations

from pathlib import Path

import pytest
from esign_server.context import ServerContext
from esign_server.services import audit

from tests.server.conftest import make_settings


class _Rollback(Exception):
    pass


def test_two_contexts_appending_in_turn_keep_one_chain(
    ctx: ServerContext, database_url: str, service_pki_dir: Path, tmp_path: Path
) -> None:
    # A second context has its own engines: it stands for a second worker process on the same database.
    other = ServerContext(make_settings(database_url, service_pki_dir, tmp_path))
    try:
        seqs = []
        for n in range(6):
            who = ctx if n % 3 else other
            with who.db.write() as conn:
                seqs.append(audit.record(conn, actor="test", action="test.turn", n=n))
        # A transaction that appends and then rolls back leaves this process's guess ahead of the row.
        with pytest.raises(_Rollback), ctx.db.write() as session:
            audit.record(session, actor="test", action="test.rolled_back")
            raise _Rollback
        with ctx.db.write() as session:
            seqs.append(audit.record(session, actor="test", action="test.after_rollback"))
    finally:
        other.close()
    assert seqs == list(range(seqs[0], seqs[0] + 7))
    check = audit.verify_chain(ctx.db)
    assert check.ok, check.problem
    assert check.events == seqs[-1]
