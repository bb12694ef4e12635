"""Users: the people who hold credentials and confirm signatures on their phone."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from esign.identity import Identifier, IdentifierKind
from esign_server.models import User
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_POSITION = 200
"""The ``users.position`` column's length."""


def new_user(
    *,
    full_name: str,
    cccd: str | None = None,
    tax_code: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    organization: str | None = None,
    position: str | None = None,
) -> User:
    """A validated user row, not yet saved: a name, and a CCCD (12 digits) and/or a tax code.

    :raises ServiceError: an empty name, neither number given, a position (chức vụ) longer than the column.
    :raises EsignError: a malformed CCCD or tax code (``esign.identity``).
    """
    full_name = " ".join(full_name.split())
    if not full_name:
        raise ServiceError("full_name must not be empty")
    if cccd is None and tax_code is None:
        raise ServiceError("give a CCCD (citizen number) or a tax code: certificates name the holder by one")
    position = " ".join(position.split()) if position else None
    # Checked here, not left to the database: PostgreSQL refuses an over-long value with an error at commit.
    if position is not None and len(position) > MAX_POSITION:
        raise ServiceError(f"position must be at most {MAX_POSITION} characters")
    cccd_value = Identifier.of(IdentifierKind.CCCD, cccd).value if cccd else None
    tax_value = Identifier.of(IdentifierKind.MST, tax_code).value if tax_code else None
    return User(
        id=str(uuid.uuid4()),
        full_name=full_name,
        cccd=cccd_value,
        tax_code=tax_value,
        email=email,
        phone=phone,
        organization=organization,
        position=position or None,
    )


def create_user(
    ctx: ServerContext,
    *,
    full_name: str,
    cccd: str | None = None,
    tax_code: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    organization: str | None = None,
    position: str | None = None,
    actor: str,
) -> User:
    """Register a user; the CCCD (12 digits) and tax code are validated and must be unique."""
    user = new_user(
        full_name=full_name,
        cccd=cccd,
        tax_code=tax_code,
        email=email,
        phone=phone,
        organization=organization,
        position=position,
    )
    return create_users(ctx, [user], actor=actor)[0]


def create_users(ctx: ServerContext, people: list[User], *, actor: str) -> list[User]:
    """Register users made by :func:`new_user` in one transaction: all of them or none.

    :raises Conflict: a CCCD or tax code already registered (or given twice); nobody is registered.
    """
    try:
        with ctx.db.write() as session:
            for user in people:
                session.add(user)
                session.flush()
                audit.record(session, actor=actor, action="user.created", target=f"user:{user.id}")
    except IntegrityError:
        raise Conflict("a user with this CCCD or tax code already exists", code="user_exists") from None
    return people


def get_user(ctx: ServerContext, user_id: str) -> User:
    """A user by id."""
    with ctx.db.read() as session:
        user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def list_users(ctx: ServerContext, *, limit: int = 100, offset: int = 0) -> list[User]:
    """Users, oldest first."""
    with ctx.db.read() as session:
        return list(session.exec(select(User).order_by(col(User.created_at)).offset(offset).limit(limit)).all())
