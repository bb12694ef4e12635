"""The audit log against the database's owner: a recomputed chain, a truncated tail, forged checkpoints,
and attacker text from failed logins. Whoever holds the database can run any SQL; they do not hold
the master key (the chain's HMAC key) nor the TSA key that signs the checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.models import AuditEvent
from esign_server.services import audit
from sqlalchemy import text
from sqlmodel import col, select
from typer.testing import CliRunner

from .conftest import Person


def _drop_append_only_guards(ctx: ServerContext) -> None:
    with ctx.db.engine.begin() as conn:
        if ctx.db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def _events(ctx: ServerContext) -> list[dict[str, object]]:
    with ctx.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, at, actor, action, target, details, hash FROM audit_events ORDER BY seq"))
        return [dict(r._mapping) for r in rows]


def _rechain_without_the_key(ctx: ServerContext, from_seq: int) -> None:
    """What the database's owner can do: recompute every link from ``from_seq`` with the unkeyed hash."""
    with ctx.db.read() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    updates = []
    prev = audit.GENESIS
    for row in rows:
        if row.seq >= from_seq:
            row.prev_hash = prev
            row.hash = audit.event_hash(prev, row.seq, row.at, row.actor, row.action, row.target, row.details, None)
            updates.append({"p": row.prev_hash, "h": row.hash, "s": row.seq})
        prev = row.hash
    with ctx.db.engine.begin() as conn:
        for values in updates:
            conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"), values)
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": prev})


def test_a_rewritten_event_with_a_recomputed_chain_is_detected(ctx: ServerContext, person: Person) -> None:
    assert audit.verify_chain(ctx.db).ok
    _drop_append_only_guards(ctx)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3"))
    _rechain_without_the_key(ctx, 3)
    result = audit.verify_chain(ctx.db)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "altered" in (result.problem or "")


def test_truncation_after_a_checkpoint_is_detected_and_forged_checkpoints_are_refused(
    ctx: ServerContext, person: Person, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints"
    first = audit.write_checkpoint(ctx, checkpoints)
    assert first is not None and audit.write_checkpoint(ctx, checkpoints) is None  # the same head: written once
    with ctx.db.write() as session:
        for n in range(3):
            audit.record(session, actor="test", action="test.later", n=n)
    second = audit.write_checkpoint(ctx, checkpoints)
    assert second is not None
    held = audit.verify_checkpoints(ctx, checkpoints)
    assert held.ok and held.checkpoints == 2, held.problems
    total = len(_events(ctx))
    assert held.latest_seq == total

    # The owner deletes the last two events and moves the head back: the chain alone still links.
    _drop_append_only_guards(ctx)
    kept = _events(ctx)[total - 3]
    with ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": kept["seq"]})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": kept["seq"], "h": kept["hash"]}
        )
    assert audit.verify_chain(ctx.db).ok
    held = audit.verify_checkpoints(ctx, checkpoints)
    assert not held.ok
    assert any("truncated" in p for p in held.problems), held.problems

    # A checkpoint edited to match the shorter chain no longer carries a valid signature.
    record = json.loads(second.read_text())
    record.update(seq=kept["seq"], hash=kept["hash"])
    second.write_text(json.dumps(record))
    held = audit.verify_checkpoints(ctx, checkpoints)
    assert any("signature does not hold" in p for p in held.problems), held.problems


def test_audit_verify_command_holds_the_chain_against_the_checkpoints(
    ctx: ServerContext, person: Person, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from esign_server.cli import app
    from esign_server.config import get_settings

    settings = ctx.settings
    for key in [k for k in os.environ if k.startswith("ESIGN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ESIGN_DEV_MODE", "1")
    monkeypatch.setenv("ESIGN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ESIGN_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("ESIGN_PKI_DIR", str(settings.resolved_pki_dir))
    monkeypatch.setenv("ESIGN_PUBLIC_URL", settings.public_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        checkpoints = tmp_path / "cp"
        written = runner.invoke(app, ["audit", "checkpoint", "--dir", str(checkpoints)])
        assert written.exit_code == 0, written.output
        good = runner.invoke(app, ["audit", "verify", "--checkpoints", str(checkpoints)])
        assert good.exit_code == 0 and "signed checkpoints hold" in good.output, good.output
        _drop_append_only_guards(ctx)
        with ctx.db.engine.begin() as conn:
            last = conn.execute(text("SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1")).scalar()
            previous = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": last - 1}).scalar()
            conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": last - 1, "h": previous})
        chain_only = runner.invoke(app, ["audit", "verify"])
        assert chain_only.exit_code == 0  # the truncated chain links: only the checkpoints can tell
        bad = runner.invoke(app, ["audit", "verify", "--checkpoints", str(checkpoints)])
        assert bad.exit_code == 1 and "truncated" in bad.output, bad.output
    finally:
        get_settings.cache_clear()


async def test_failed_logins_are_aggregated_and_attacker_text_is_escaped(
    http: httpx.AsyncClient, ctx: ServerContext
) -> None:
    hostile = "<script>alert(document.cookie)</script>" + "x" * 500 + os.urandom(4).hex()
    for _ in range(300):
        r = await http.post(
            "/csc/v2/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": hostile, "client_secret": "s"},
        )
        assert r.status_code == 401
    for n in range(60):  # many distinct names: at most FAILED_LOGIN_NAMES_PER_WINDOW of them get their own event
        await http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": f"guess-{n}-{os.urandom(2).hex()}",
                "client_secret": "s",
            },
        )
    events = [e for e in _events(ctx) if e["action"] == "client.login_failed"]
    # One window, or two if the run crossed a minute: 20 named events and one for all the others, each.
    assert 0 < len(events) <= 2 * (20 + 1), len(events)
    text_of_log = json.dumps([(e["actor"], e["target"], e["details"]) for e in events], default=str)
    assert "<script>" not in text_of_log and "x" * 100 not in text_of_log
    assert any(str(e["target"]).startswith("client:%3Cscript%3E") for e in events)
    assert audit.verify_chain(ctx.db).ok
