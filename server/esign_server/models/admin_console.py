"""The admin console's people: officers who sign in at ``/admin/``, and their browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class AdminAccount(SQLModel, table=True):
    """An officer of the console: an argon2 password hash and a TOTP second factor (sealed)."""

    __tablename__ = "admin_accounts"

    id: str = Field(primary_key=True, max_length=36)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    """argon2id hash (PHC string) of the password."""
    totp_secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The TOTP secret, sealed under the master key (account id in the associated data)."""
    roles: str = Field(max_length=200)
    """Space-separated roles: ``registry_officer``, ``identity_officer``, ``credential_officer``, ``auditor``."""
    status: str = Field(default="active", max_length=16)
    last_totp_step: int | None = Field(default=None)
    """The last TOTP time step accepted: a code is never accepted twice."""
    failed_logins: int = Field(default=0)
    """Failed sign-ins in a row; past the threshold the account waits (doubling each time)."""
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AdminSession(SQLModel, table=True):
    """A signed-in browser: the cookie carries a random token, the row its SHA-256 and the CSRF token."""

    __tablename__ = "admin_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="admin_accounts.id", index=True, max_length=36)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    """Absolute end of the session; an idle session ends earlier (see the console's settings)."""
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Set on sign-out."""
