"""The audit log: append-only and hash-chained, so a removed, altered or reordered event shows.

Each event's hash is SHA-256 over the previous hash and the event's canonical JSON. The chain's tip
lives in ``audit_head``; appending locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL, the
write lock on SQLite) so concurrent transactions on several workers extend one chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlmodel import Session, col, select

from esign_server.db import Database, utcnow
from esign_server.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def event_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]
) -> str:
    """The chain hash of one event."""
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: statement construction is a noticeable share of a step's CPU time.
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_APPEND = insert(_EVENTS)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))


def record(session: Session | Connection, *, actor: str, action: str, target: str = "", **details: Any) -> int:
    """Append one event inside the caller's transaction (it commits or rolls back with the step).

    Plain SQL statements rather than ORM objects: this runs in every security-relevant step.
    ``session`` is the step's ORM session or, on the hottest paths, its Core connection.
    Returns the event's sequence number.
    """
    head = session.execute(_READ_HEAD).one()
    # Round-trip the details through JSON so the hash covers exactly what the database returns.
    clean: dict[str, Any] = json.loads(json.dumps(details, default=str)) if details else {}
    at = utcnow()
    seq = head.seq + 1
    digest = event_hash(head.hash, seq, at, actor, action, target, clean)
    session.execute(
        _APPEND,
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": clean,
            "prev_hash": head.hash,
            "hash": digest,
        },
    )
    session.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    return seq


@dataclass(frozen=True)
class ChainCheck:
    """The result of :func:`verify_chain`."""

    ok: bool
    events: int
    """How many events were checked."""
    first_broken_seq: int | None = None
    """Sequence number of the first event that does not fit the chain."""
    problem: str | None = None


def verify_chain(db: Database, *, batch: int = 2000) -> ChainCheck:
    """Recompute the whole chain; name the first broken link."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    with db.read() as session:
        while True:
            rows = session.exec(
                select(AuditEvent).where(col(AuditEvent.seq) >= expected_seq).order_by(col(AuditEvent.seq)).limit(batch)
            ).all()
            if not rows:
                break
            for event in rows:
                if event.seq != expected_seq:
                    return ChainCheck(False, checked, expected_seq, f"event {expected_seq} is missing")
                if event.prev_hash != prev:
                    return ChainCheck(False, checked, event.seq, "prev_hash does not match the event before it")
                digest = event_hash(prev, event.seq, event.at, event.actor, event.action, event.target, event.details)
                if digest != event.hash:
                    return ChainCheck(False, checked, event.seq, "content does not match its hash (altered)")
                prev = event.hash
                expected_seq += 1
                checked += 1
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    if head.seq != checked or head.hash != prev:
        return ChainCheck(
            False,
            checked,
            checked + 1 if head.seq > checked else checked,
            f"the chain head says {head.seq} events, the log holds {checked} (truncated?)",
        )
    return ChainCheck(True, checked)
