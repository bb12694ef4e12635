"""Organization seals: an organization's credential that named relying systems use without a person.

E-invoice issuers sign tens of thousands of invoices a day; nobody confirms each on a phone. The
admin marks such an organization credential as a *seal* and gives it a policy: which relying systems
may use it, how many signatures per minute (any 60 seconds) and per day (calendar day in
Asia/Ho_Chi_Minh), in which hours, and how many hashes one call may carry. Those relying systems get
a SAD from CSC ``credentials/authorize`` at once (SCAL 1: the SAD is still bound to the exact hashes
and their number); outside the policy the call is refused (``403`` not allowed or outside the hours,
``429`` over a rate, with ``Retry-After``), and each refusal is audited.

The limits count the authorised batches (:class:`~esign_server.models.SealBatch`) in the database,
under a lock on the policy row, so several server processes share one count.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, delete, func, insert
from sqlalchemy import select as core_select  # sqlmodel's select types at most 4 columns
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col, select

from esign_server.db import utcnow
from esign_server.models import Credential, RelyingSystem, SealBatch, SealClient, SealPolicy, User
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
"""The time zone of the allowed hours and of the per-day limit."""
KEEP_BATCHES = timedelta(days=2)
"""Batches older than this no longer count for any limit and are deleted."""
PRUNE_ONE_IN = 64
"""About one authorised batch in this many deletes the batches older than :data:`KEEP_BATCHES`."""


class SealRefused(ServiceError):
    """A seal's policy refuses the call: ``403`` (not allowed, outside the hours) or ``429`` (over a rate)."""

    code = "access_denied"
    status = 403


@dataclass(frozen=True)
class SealHours:
    """Allowed hours in Asia/Ho_Chi_Minh as minutes after midnight; ``end`` before ``start`` runs past midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> SealHours:
        """``"07:00-19:30"`` (``"22:00-06:00"`` spans midnight).

        :raises ServiceError: ``invalid_hours`` for anything else, or an empty span.
        """
        try:
            first, second = text.split("-")
            start, end = (_minutes(part) for part in (first, second))
        except ValueError:
            raise ServiceError(f"hours must look like 07:00-19:00, not {text[:40]!r}", code="invalid_hours") from None
        if start == end:
            raise ServiceError("the allowed hours are empty (start equals end)", code="invalid_hours")
        return cls(start, end)

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` (any time zone) falls in these hours, read in Asia/Ho_Chi_Minh."""
        local = when.astimezone(LOCAL_TIME)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    value = int(hours) * 60 + int(minutes or "0")
    if not (0 <= int(hours) <= 24 and 0 <= int(minutes or "0") < 60 and value <= 24 * 60):
        raise ValueError(text)
    return value % (24 * 60)


@dataclass(frozen=True)
class SealView:
    """A seal and its policy, as the admin API shows it."""

    credential_id: str
    label: str
    organization: str
    clients: list[str]
    per_minute: int | None
    per_day: int | None
    hours: str | None
    max_hashes_per_call: int
    updated_by: str
    updated_at: datetime


def _view(policy: SealPolicy, credential: Credential, user: User | None, clients: Sequence[str]) -> SealView:
    hours = (
        str(SealHours(policy.hours_start, policy.hours_end))
        if policy.hours_start is not None and policy.hours_end is not None
        else None
    )
    return SealView(
        credential_id=policy.credential_id,
        label=credential.label,
        organization=(user.organization or user.full_name) if user is not None else "",
        clients=sorted(clients),
        per_minute=policy.per_minute,
        per_day=policy.per_day,
        hours=hours,
        max_hashes_per_call=policy.max_hashes_per_call,
        updated_by=policy.updated_by,
        updated_at=policy.updated_at,
    )


def set_policy(
    ctx: ServerContext,
    *,
    credential_id: str,
    clients: Sequence[str],
    per_minute: int | None = None,
    per_day: int | None = None,
    hours: str | None = None,
    max_hashes_per_call: int | None = None,
    actor: str,
) -> SealView:
    """Mark an organization's credential as a seal, or replace its policy.

    :param clients: the relying systems that may use the seal (at least one, each registered).
    :param per_minute: most signatures in any 60 seconds (None: no limit).
    :param per_day: most signatures per calendar day in Asia/Ho_Chi_Minh (None: no limit).
    :param hours: allowed hours, ``"07:00-19:00"`` in Asia/Ho_Chi_Minh (None: any time).
    :param max_hashes_per_call: most hashes one ``credentials/authorize`` may carry (at most, and by
        default, the service's ``max_items_per_session``).
    :raises NotFound: no such credential or relying system.
    :raises Conflict: ``not_an_organization`` (the holder is a person: people confirm on their phone),
        ``invalid_state`` (the credential is not active).
    """
    span = SealHours.parse(hours) if hours else None
    limit = ctx.settings.max_items_per_session
    if max_hashes_per_call is None:
        max_hashes_per_call = limit
    if not 1 <= max_hashes_per_call <= limit:
        raise ServiceError(f"max_hashes_per_call must be between 1 and {limit}", code="invalid_policy")
    for name, value in (("per_minute", per_minute), ("per_day", per_day)):
        if value is not None and value < 1:
            raise ServiceError(f"{name} must be at least 1 (or absent: no limit)", code="invalid_policy")
    wanted = sorted(set(clients))
    if not wanted:
        raise ServiceError("name at least one relying system that may use the seal", code="invalid_policy")
    now = utcnow()
    with ctx.db.write() as session:
        credential = session.exec(select(Credential).where(Credential.id == credential_id).with_for_update()).first()
        if credential is None:
            raise NotFound(f"no credential {credential_id}")
        if credential.status != "active":
            raise Conflict(
                f"credential is {credential.status}; only an active one becomes a seal", code="invalid_state"
            )
        user = session.get(User, credential.user_id)
        if user is None or user.cccd is not None or not user.tax_code:
            raise Conflict(
                "a seal is an organization's credential (a holder with a tax code and no CCCD); "
                "a person confirms each signature on the phone",
                code="not_an_organization",
            )
        for client_id in wanted:
            if session.get(RelyingSystem, client_id) is None:
                raise NotFound(f"no relying system {client_id}", code="client_not_found")
        policy = session.get(SealPolicy, credential_id)
        created = policy is None
        if policy is None:
            policy = SealPolicy(credential_id=credential_id, created_at=now)
        policy.per_minute = per_minute
        policy.per_day = per_day
        policy.hours_start = span.start if span else None
        policy.hours_end = span.end if span else None
        policy.max_hashes_per_call = max_hashes_per_call
        policy.updated_by = actor[:120]
        policy.updated_at = now
        session.add(policy)
        session.flush()
        session.execute(delete(SealClient).where(col(SealClient.credential_id) == credential_id))
        session.add_all(SealClient(credential_id=credential_id, client_id=c) for c in wanted)
        audit.record(
            session,
            actor=actor,
            action="seal.created" if created else "seal.policy_changed",
            target=f"credential:{credential_id}",
            clients=wanted,
            per_minute=per_minute,
            per_day=per_day,
            hours=str(span) if span else None,
            max_hashes_per_call=max_hashes_per_call,
        )
        return _view(policy, credential, user, wanted)


def get_seal(ctx: ServerContext, credential_id: str) -> SealView:
    """A seal and its policy.

    :raises NotFound: ``seal_not_found`` when the credential is not a seal.
    """
    with ctx.db.read() as session:
        policy = session.get(SealPolicy, credential_id)
        credential = session.get(Credential, credential_id)
        if policy is None or credential is None:
            raise NotFound(f"credential {credential_id} is not a seal", code="seal_not_found")
        clients = session.exec(select(SealClient.client_id).where(SealClient.credential_id == credential_id)).all()
        return _view(policy, credential, session.get(User, credential.user_id), list(clients))


def list_seals(ctx: ServerContext) -> list[SealView]:
    """Every seal, oldest first."""
    with ctx.db.read() as session:
        rows = session.exec(
            select(SealPolicy, Credential, User)
            .join(Credential, col(Credential.id) == col(SealPolicy.credential_id))
            .join(User, col(User.id) == col(Credential.user_id))
            .order_by(col(SealPolicy.created_at))
        ).all()
        clients: dict[str, list[str]] = {}
        for credential_id, client_id in session.exec(select(SealClient.credential_id, SealClient.client_id)).all():
            clients.setdefault(credential_id, []).append(client_id)
        return [_view(p, c, u, clients.get(p.credential_id, [])) for p, c, u in rows]


def remove_seal(ctx: ServerContext, *, credential_id: str, actor: str) -> None:
    """Make the credential an ordinary one again: its SADs not yet spent stop working at once.

    :raises NotFound: ``seal_not_found`` when it is not a seal.
    """
    with ctx.db.write() as session:
        policy = session.exec(
            select(SealPolicy).where(SealPolicy.credential_id == credential_id).with_for_update()
        ).first()
        if policy is None:
            raise NotFound(f"credential {credential_id} is not a seal", code="seal_not_found")
        session.execute(delete(SealClient).where(col(SealClient.credential_id) == credential_id))
        session.execute(delete(SealBatch).where(col(SealBatch.credential_id) == credential_id))
        session.delete(policy)
        audit.record(session, actor=actor, action="seal.removed", target=f"credential:{credential_id}")


# The statements of every batch, built once (building a statement costs more Python than running it).
_CREDENTIAL_AND_SEAL = (
    select(Credential, SealPolicy.credential_id, SealClient.client_id)
    .outerjoin(SealPolicy, col(SealPolicy.credential_id) == col(Credential.id))
    .outerjoin(
        SealClient,
        and_(col(SealClient.credential_id) == col(Credential.id), col(SealClient.client_id) == bindparam("client_id")),
    )
    .where(col(Credential.id) == bindparam("credential_id"))
)
_POLICY_FOR_UPDATE = (
    # The policy's columns, not an ORM object: nothing of it is changed, and loading an entity into
    # the session's identity map is most of this statement's Python cost.
    core_select(
        col(SealPolicy.hours_start),
        col(SealPolicy.hours_end),
        col(SealPolicy.max_hashes_per_call),
        col(SealPolicy.per_minute),
        col(SealPolicy.per_day),
        col(SealClient.client_id),
    )
    .outerjoin(
        SealClient,
        and_(
            col(SealClient.credential_id) == col(SealPolicy.credential_id),
            col(SealClient.client_id) == bindparam("client_id"),
        ),
    )
    .where(col(SealPolicy.credential_id) == bindparam("credential_id"))
    .with_for_update(of=SealPolicy)
)
_USAGE = select(
    func.coalesce(func.sum(case((col(SealBatch.at) > bindparam("minute_ago"), SealBatch.signatures), else_=0)), 0),
    func.coalesce(func.sum(case((col(SealBatch.at) >= bindparam("day_start"), SealBatch.signatures), else_=0)), 0),
).where(col(SealBatch.credential_id) == bindparam("credential_id"), col(SealBatch.at) >= bindparam("since"))
_ADD_BATCH = insert(SealBatch.__table__)  # type: ignore[attr-defined]  # Core, not the ORM's bulk-insert path


def credential_and_seal(
    session: OrmSession, *, client_id: str, credential_id: str
) -> tuple[Credential | None, bool, bool]:
    """The credential, whether it is a seal, and whether ``client_id`` may use that seal, in one query."""
    row = session.execute(_CREDENTIAL_AND_SEAL, {"client_id": client_id, "credential_id": credential_id}).first()
    if row is None:
        return None, False, False
    credential, policy_id, allowed = row
    return credential, policy_id is not None, allowed is not None


def is_seal(session: OrmSession, credential_id: str) -> bool:
    """Whether the credential is a seal (in the caller's transaction)."""
    return session.get(SealPolicy, credential_id) is not None


def may_use(session: OrmSession, *, client_id: str, credential_id: str) -> bool:
    """Whether ``client_id`` is one of the seal's relying systems (in the caller's transaction)."""
    return session.get(SealClient, (credential_id, client_id)) is not None


def hashes_digest(hashes: Sequence[bytes]) -> str:
    """SHA-256 (hex) over the batch's hashes in order: what the audit log keeps of a batch."""
    return hashlib.sha256(b"".join(hashes)).hexdigest()  # one call, not one update per hash


def check_hours(start: int | None, end: int | None, now: datetime) -> None:
    """:class:`SealRefused` (403) when ``now`` is outside the allowed hours ``start``-``end`` (minutes
    after midnight in Asia/Ho_Chi_Minh; None: any time)."""
    if start is None or end is None:
        return
    span = SealHours(start, end)
    if not span.contains(now):
        raise SealRefused(f"this seal signs only between {span} (Asia/Ho_Chi_Minh)")


def admit_batch(session: OrmSession, *, client_id: str, credential_id: str, count: int) -> None:
    """Check a batch of ``count`` signatures against the seal's policy and count it, in the caller's
    write transaction (which holds the policy row's lock until it commits, so concurrent batches of
    any server process are counted one after the other).

    :raises SealRefused: 403 when the relying system may not use the seal or outside the hours,
        429 (with ``retry_after`` seconds) over the per-minute or per-day limit.
    :raises ServiceError: ``invalid_request`` (400) for more hashes than one call may carry.
    """
    now = utcnow()
    found = session.execute(_POLICY_FOR_UPDATE, {"client_id": client_id, "credential_id": credential_id}).first()
    if found is None:
        raise SealRefused("this credential is not a seal")
    policy, allowed = found, found.client_id
    if allowed is None:
        raise SealRefused("this relying system may not use this seal")
    check_hours(policy.hours_start, policy.hours_end, now)
    if count > policy.max_hashes_per_call:
        raise ServiceError(f"this seal signs at most {policy.max_hashes_per_call} hashes per call, not {count}")
    minute_ago = now - timedelta(seconds=60)
    local = now.astimezone(LOCAL_TIME)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if policy.per_minute is not None or policy.per_day is not None:
        since = min(minute_ago, day_start)
        in_minute, in_day = session.execute(
            _USAGE, {"minute_ago": minute_ago, "day_start": day_start, "since": since, "credential_id": credential_id}
        ).one()
        if policy.per_day is not None and in_day + count > policy.per_day:
            tomorrow = day_start + timedelta(days=1)
            raise SealRefused(
                f"this seal's limit of {policy.per_day} signatures a day is reached",
                status=429,
                retry_after=max(1, math.ceil((tomorrow - local).total_seconds())),
            )
        if policy.per_minute is not None and in_minute + count > policy.per_minute:
            raise SealRefused(
                f"this seal's limit of {policy.per_minute} signatures a minute is reached",
                status=429,
                retry_after=_minute_retry(session, credential_id, minute_ago, in_minute + count - policy.per_minute),
            )
    if secrets.randbelow(PRUNE_ONE_IN) == 0:  # now and then, not a statement per batch
        session.execute(
            delete(SealBatch).where(
                col(SealBatch.credential_id) == credential_id, col(SealBatch.at) < now - KEEP_BATCHES
            )
        )
    session.execute(
        _ADD_BATCH, {"credential_id": credential_id, "client_id": client_id, "signatures": count, "at": now}
    )


def _minute_retry(session: OrmSession, credential_id: str, minute_ago: datetime, excess: int) -> int:
    """Seconds until enough of the last minute's batches age out to make room for ``excess`` signatures."""
    rows = session.execute(
        select(SealBatch.at, SealBatch.signatures)
        .where(col(SealBatch.credential_id) == credential_id, col(SealBatch.at) > minute_ago)
        .order_by(col(SealBatch.at))
    ).all()
    freed = 0
    for at, signatures in rows:
        freed += signatures
        if freed >= excess:
            return max(1, math.ceil((at - minute_ago).total_seconds()))
    return 60


def record_refusal(ctx: ServerContext, *, client_id: str, credential_id: str, reason: str, count: int) -> None:
    """Audit a refused use of a seal (its own transaction: the refused one rolled back)."""
    with ctx.db.write() as session:
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="seal.refused",
            target=f"credential:{credential_id}",
            reason=reason,
            signatures=count,
        )
