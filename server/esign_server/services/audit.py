"""The audit log: append-only and hash-chained, so a removed, altered or reordered event shows.

Each event's hash is HMAC-SHA256 over the previous hash and the event's canonical JSON, keyed with a
key derived from the master key (:func:`chain_key`), which the database never holds: whoever owns the
database can delete or edit rows, but cannot recompute the chain to hide it. The chain's tip lives in
``audit_head``; appending locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on
SQLite) so concurrent transactions on several workers extend one chain. Events written before the
chain was keyed (``audit_head.keyed_from``) keep their plain SHA-256 links.

Truncating the tail (deleting the last events and moving the head back) leaves a shorter chain that
still links; :func:`write_checkpoint` therefore writes the head, signed and time-stamped by the
service's TSA, outside the database, and :func:`verify_checkpoints` holds the chain against them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, insert, update
from sqlmodel import col, select

from esign_server.db import Database, StepTransaction, rows_changed, utcnow
from esign_server.models import AuditEvent, AuditHead

if TYPE_CHECKING:
    from esign_server.context import ServerContext

GENESIS = "0" * 64
log = logging.getLogger("esign_server.audit")
_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def chain_key(master_key: bytes) -> bytes:
    """The audit chain's HMAC key, derived from the master key (never stored anywhere)."""
    return hmac.new(master_key, b"esign audit chain v1", hashlib.sha256).digest()


def bind_key(db: Database, key: bytes) -> None:
    """Key the audit chain of ``db`` (every process that appends or verifies does this first)."""
    _keys[db.engine] = key
    _keys[db.read_engine] = key


def _key_for(engine: Engine) -> bytes:
    key = _keys.get(engine)
    if key is None:
        raise RuntimeError("the audit chain's key is not bound to this database (audit.bind_key)")
    return key


def event_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
    key: bytes | None = None,
) -> str:
    """The chain hash of one event: HMAC-SHA256 under ``key``; plain SHA-256 (events before the chain
    was keyed) when ``key`` is None."""
    return _EventText(at, actor, action, target, details).hash(prev_hash, seq, key)


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

    def hash(self, prev_hash: str, seq: int, key: bytes | None) -> str:
        message = f"{prev_hash}\n{self._head}{seq}{self._tail}".encode()
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()


_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: statement construction is a noticeable share of a step's CPU time.
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_APPEND = insert(_EVENTS)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
# Moves the head only if it is still where this process last left it (compare-and-set).
_MOVE_HEAD_FROM = _MOVE_HEAD.where(_HEAD.c.seq == bindparam("old_seq"), _HEAD.c.hash == bindparam("old_hash"))
# The head as this process last wrote it, per database. Only a guess: the compare-and-set above checks
# it against the row, and on a miss (another worker appended, or that transaction rolled back) the
# head is read and locked as usual.
_last_head: weakref.WeakKeyDictionary[Engine, tuple[int, str]] = weakref.WeakKeyDictionary()


def record(session: StepTransaction, *, actor: str, action: str, target: str = "", **details: Any) -> int:
    """Append one event inside the caller's transaction (it commits or rolls back with the step).

    Core statements rather than ORM objects, built once: this runs in every security-relevant step.
    Returns the event's sequence number.
    """
    # Round-trip the details through JSON so the hash covers exactly what the database returns.
    clean: dict[str, Any] = json.loads(json.dumps(details, default=str)) if details else {}
    at = utcnow()
    text = _EventText(at, actor, action, target, clean)
    engine = session.get_bind().engine
    key = _key_for(engine)
    guess = _last_head.get(engine)
    if guess is not None:
        # One statement instead of two: the UPDATE both checks the head and locks its row.
        prev_seq, prev_hash = guess
        seq = prev_seq + 1
        digest = text.hash(prev_hash, seq, key)
        moved = session.execute(
            _MOVE_HEAD_FROM, {"new_seq": seq, "new_hash": digest, "old_seq": prev_seq, "old_hash": prev_hash}
        )
        if rows_changed(moved) != 1:
            guess = None
    if guess is None:
        head = session.execute(_READ_HEAD).one()
        prev_hash, seq = head.hash, head.seq + 1
        digest = text.hash(prev_hash, seq, key)
        session.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    session.execute(
        _APPEND,
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
    """Recompute the whole chain (keyed from ``audit_head.keyed_from`` on); name the first broken link."""
    key = _key_for(db.engine)
    prev = GENESIS
    expected_seq = 1
    checked = 0
    with db.read() as session:
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
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
                keyed = key if event.seq >= head.keyed_from else None
                digest = event_hash(
                    prev, event.seq, event.at, event.actor, event.action, event.target, event.details, keyed
                )
                if not hmac.compare_digest(digest, event.hash):
                    return ChainCheck(False, checked, event.seq, "content does not match its hash (altered)")
                prev = event.hash
                expected_seq += 1
                checked += 1
    if head.seq != checked or head.hash != prev:
        return ChainCheck(
            False,
            checked,
            checked + 1 if head.seq > checked else checked,
            f"the chain head says {head.seq} events, the log holds {checked} (truncated?)",
        )
    return ChainCheck(True, checked)


CHECKPOINT_FORMAT = "esign-audit-checkpoint-v1"


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, as written outside the database."""

    seq: int
    hash: str
    keyed_from: int
    at: str
    """ISO 8601 UTC time the checkpoint was made (the time-stamp token carries the TSA's own time)."""

    def payload(self) -> bytes:
        """The canonical bytes the time-stamp token covers."""
        return _json(
            {
                "format": CHECKPOINT_FORMAT,
                "seq": self.seq,
                "hash": self.hash,
                "keyed_from": self.keyed_from,
                "at": self.at,
            }
        ).encode()


def write_checkpoint(ctx: ServerContext, directory: Path | None = None) -> Path | None:
    """Write the chain's head to ``directory`` (default ``ESIGN_AUDIT_CHECKPOINT_DIR``), time-stamped and
    signed by the service's TSA, and log it (for syslog); None when that head is already written.

    File ``checkpoint-<seq>.json``: the checkpoint's fields and ``timestamp_token`` (base64 DER RFC 3161
    token over SHA-256 of :meth:`Checkpoint.payload`).
    """
    import base64

    directory = directory or ctx.settings.resolved_audit_checkpoint_dir
    with ctx.db.read() as session:
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    if head.seq == 0:
        return None
    path = directory / f"checkpoint-{head.seq:012d}.json"
    if path.exists():
        return None
    point = Checkpoint(head.seq, head.hash, head.keyed_from, utcnow().isoformat(timespec="seconds"))
    token = ctx.pki.tsa.stamp(hashlib.sha256(point.payload()).digest(), "sha256")
    record = {**json.loads(point.payload()), "timestamp_token": base64.b64encode(token.dump()).decode()}
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(path)  # whole or absent: a reader never sees half a checkpoint
    log.info("audit checkpoint", extra={"audit_seq": point.seq, "audit_hash": point.hash, "file": str(path)})
    return path


@dataclass(frozen=True)
class CheckpointCheck:
    """The outcome of :func:`verify_checkpoints`."""

    ok: bool
    checkpoints: int
    """How many checkpoint files were checked."""
    latest_seq: int
    """The highest sequence number a valid checkpoint vouches for (0: none)."""
    problems: list[str]


def verify_checkpoints(ctx: ServerContext, directory: Path) -> CheckpointCheck:
    """Hold the database's chain against the signed checkpoints in ``directory``.

    Each checkpoint must carry a time-stamp token of the service's TSA (trusted to the service root)
    over its fields, and the database must still hold that event with that very hash: a rewritten
    event, a recomputed chain or a truncated tail (fewer events than a checkpoint vouches for) shows.
    Events after the latest checkpoint are vouched for by the chain alone.
    """
    import base64

    from esign.errors import EsignError
    from esign.trust.timestamps import check_timestamp_token, imprint_of

    files = sorted(directory.glob("checkpoint-*.json"))
    problems: list[str] = []
    latest = 0
    if not files:
        problems.append(f"no checkpoints in {directory}")
    root = ctx.pki.root
    with ctx.db.read() as session:
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
        for file in files:
            try:
                record = json.loads(file.read_text())
                point = Checkpoint(
                    int(record["seq"]), str(record["hash"]), int(record["keyed_from"]), str(record["at"])
                )
                token = base64.b64decode(record["timestamp_token"], validate=True)
                stamp = check_timestamp_token(
                    token, imprint_of(point.payload()), anchors=[root], intermediates=[ctx.pki.issuing_ca.certificate]
                )
            except (ValueError, KeyError, TypeError, EsignError) as exc:
                problems.append(f"{file.name}: unreadable checkpoint ({exc})")
                continue
            if not (stamp.valid and stamp.trusted):
                problems.append(f"{file.name}: the signature does not hold ({stamp.message})")
                continue
            if point.keyed_from != head.keyed_from:
                problems.append(
                    f"{file.name}: the chain was keyed from event {point.keyed_from}, "
                    f"the database says from {head.keyed_from}"
                )
            event = session.get(AuditEvent, point.seq)
            if event is None or head.seq < point.seq:
                problems.append(f"{file.name}: event {point.seq} is gone (the log was truncated)")
            elif not hmac.compare_digest(event.hash, point.hash):
                problems.append(f"{file.name}: event {point.seq} no longer has the hash signed then (rewritten)")
            else:
                latest = max(latest, point.seq)
    return CheckpointCheck(not problems, len(files), latest, problems)
