"""Relying-system grants: a relying system acts only for the users who authorised it.

A user (or the admin, on the user's behalf) authorises a relying system; from then on it may ask
that user for signatures (``POST /api/sessions``, CSC ``credentials/authorize``) and read that
user's credentials (``GET /api/credentials/{id}``, CSC ``credentials/list|info``). For any other
user it is answered as if the user or credential did not exist (sessions API: 404) or refused
(CSC: 403 ``access_denied``). Revoking the grant ends it at once, for the SADs already issued too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from esign_server.db import StepTransaction
from esign_server.models import Credential, RelyingSystem, RelyingSystemGrant, User
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound

if TYPE_CHECKING:
    from esign_server.context import ServerContext

_GRANTS = RelyingSystemGrant.__table__  # type: ignore[attr-defined]
_IS_GRANTED = sa_select(_GRANTS.c.client_id).where(
    _GRANTS.c.client_id == bindparam("client_id"), _GRANTS.c.user_id == bindparam("user_id")
)


@dataclass(frozen=True)
class GrantView:
    """A grant as the admin API shows it."""

    client_id: str
    client_name: str
    user_id: str
    granted_by: str
    granted_at: datetime
    locked_until: datetime | None


def is_granted(session: StepTransaction, *, client_id: str, user_id: str) -> bool:
    """Whether ``client_id`` may act for ``user_id`` (in the caller's transaction)."""
    return session.execute(_IS_GRANTED, {"client_id": client_id, "user_id": user_id}).first() is not None


def holder_if_granted(ctx: ServerContext, *, client_id: str, credential_id: str) -> Credential | None:
    """The credential when ``client_id`` may act for its holder; None when it does not exist or may not."""
    with ctx.db.read() as session:
        credential = session.get(Credential, credential_id)
        if credential is None or not is_granted(session, client_id=client_id, user_id=credential.user_id):
            return None
        return credential


def grant(ctx: ServerContext, *, client_id: str, user_id: str, actor: str) -> bool:
    """Authorise ``client_id`` to act for ``user_id``; False when it already was."""
    with ctx.db.write() as session:
        user = session.get(User, user_id)
        if user is None or user.status != "active":
            raise NotFound(f"no active user {user_id}", code="user_not_found")
        client = session.get(RelyingSystem, client_id)
        if client is None:
            raise NotFound(f"no relying system {client_id}", code="client_not_found")
        if client.status != "active":
            raise Conflict(f"relying system {client_id} is {client.status}", code="client_not_active")
        if session.get(RelyingSystemGrant, (client_id, user_id)) is not None:
            return False
        session.add(RelyingSystemGrant(client_id=client_id, user_id=user_id, granted_by=actor[:120]))
        session.flush()
        audit.record(session, actor=actor, action="grant.created", target=f"user:{user_id}", client_id=client_id)
    return True


def revoke(ctx: ServerContext, *, client_id: str, user_id: str, actor: str) -> None:
    """Withdraw ``client_id``'s authorisation for ``user_id`` (its pending requests stay until they end)."""
    with ctx.db.write() as session:
        found = session.get(RelyingSystemGrant, (client_id, user_id))
        if found is None:
            raise NotFound(f"relying system {client_id} is not authorised by user {user_id}", code="grant_not_found")
        session.delete(found)
        audit.record(session, actor=actor, action="grant.revoked", target=f"user:{user_id}", client_id=client_id)


def list_for_user(ctx: ServerContext, *, user_id: str) -> list[GrantView]:
    """The relying systems ``user_id`` has authorised, oldest grant first."""
    with ctx.db.read() as session:
        rows = session.exec(
            select(RelyingSystemGrant, RelyingSystem)
            .join(RelyingSystem, col(RelyingSystem.id) == col(RelyingSystemGrant.client_id))
            .where(RelyingSystemGrant.user_id == user_id)
            .order_by(col(RelyingSystemGrant.granted_at))
        ).all()
    return [GrantView(g.client_id, c.name, g.user_id, g.granted_by, g.granted_at, g.otp_locked_until) for g, c in rows]
