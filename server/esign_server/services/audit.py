"""The audit log: append-only and hash-chained, so a removed, altered or reordered event shows.

Each event's hash is SHA-256 over the previous hash and the event's canonical JSON. The chain's tip
lives in ``audit_head``; appending locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL, the
write lock on SQLite) so concurrent transactions on several workers extend one chain.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col, select

from esign_server.db import Database, DriverStatement, StepTransaction, utcnow
from esign_server.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def event_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]
) -> str:
    """The chain hash of one event."""
    return _EventText(at, actor, action, target, details).hash(prev_hash, seq)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class _EventText:
    """An event's canonical JSON (sorted keys, no spaces), built before its sequence number is known.

    Appending holds the database's writers' lock from reading the chain's head to the commit, so the
    text is prepared outside it and only the number and the previous hash are added inside.
    """

    def __init__(self, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        # The same bytes as json.dumps of the whole event with sort_keys: the keys are in that order.
        self._head = (
            f'{{"action":{_json(action)},"actor":{_json(actor)},'
            f'"at":{_json(at.isoformat(timespec="microseconds"))},"details":{_json(details)},"seq":'
        )
        self._tail = f',"target":{_json(target)}}}'

    def hash(self, prev_hash: str, seq: int) -> str:
        return hashlib.sha256(f"{prev_hash}\n{self._head}{seq}{self._tail}".encode()).hexdigest()


_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: statement construction is a noticeable share of a step's CPU time.
_READ_HEAD = DriverStatement(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update())
_APPEND = DriverStatement(
    insert(_EVENTS), column_keys=["seq", "at", "actor", "action", "target", "details", "prev_hash", "hash"]
)
_MOVE_HEAD_STATEMENT = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
_MOVE_HEAD = DriverStatement(_MOVE_HEAD_STATEMENT)
# Moves the head only if it is still where this process last left it (compare-and-set).
_MOVE_HEAD_FROM = DriverStatement(
    _MOVE_HEAD_STATEMENT.where(_HEAD.c.seq == bindparam("old_seq"), _HEAD.c.hash == bindparam("old_hash"))
)
# The head as this process last wrote it, per database. Only a guess: the compare-and-set above checks
# it against the row, and on a miss (another worker appended, or that transaction rolled back) the
# head is read and locked as usual.
_last_head: weakref.WeakKeyDictionary[Engine, tuple[int, str]] = weakref.WeakKeyDictionary()


def record(session: StepTransaction, *, actor: str, action: str, target: str = "", **details: Any) -> int:
    """Append one event inside the caller's transaction (it commits or rolls back with the step).

    Driver-level statements rather than ORM objects: this runs in every security-relevant step.
    ``session`` is the step's ORM session or, on the hottest paths, its Core or driver transaction.
    Returns the event's sequence number.
    """
    # Round-trip the details through JSON so the hash covers exactly what the database returns.
    clean: dict[str, Any] = json.loads(json.dumps(details, default=str)) if details else {}
    at = utcnow()
    text = _EventText(at, actor, action, target, clean)
    bind = session.get_bind() if isinstance(session, OrmSession) else session
    engine = bind.engine
    guess = _last_head.get(engine)
    if guess is not None:
        # One statement instead of two: the UPDATE both checks the head and locks its row.
        prev_seq, prev_hash = guess
        seq = prev_seq + 1
        digest = text.hash(prev_hash, seq)
        moved = _MOVE_HEAD_FROM.execute(
            session, {"new_seq": seq, "new_hash": digest, "old_seq": prev_seq, "old_hash": prev_hash}
        )
        if moved.rowcount != 1:
            guess = None
    if guess is None:
        head = _READ_HEAD.execute(session).first()
        prev_hash, seq = head.hash, head.seq + 1
        digest = text.hash(prev_hash, seq)
        _MOVE_HEAD.execute(session, {"new_seq": seq, "new_hash": digest})
    _APPEND.execute(
        session,
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": clean,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    _last_head[engine] = (seq, digest)
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
