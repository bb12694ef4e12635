"""Signing sessions: what a relying system asked to be signed, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class SigningSession(SQLModel, table=True):
    """One request for signatures on one credential, confirmed (or not) once by the user's phone."""

    __tablename__ = "signing_sessions"
    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_signing_sessions_idempotency"),
        Index("ix_signing_sessions_user_status", "user_id", "status"),
        Index("ix_signing_sessions_client_created", "client_id", "created_at"),
        # The hourly limit per relying system and user counts this pair's last hour only.
        Index("ix_signing_sessions_client_user_created", "client_id", "user_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    client_id: str = Field(foreign_key="relying_systems.id", max_length=64)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    credential_id: str = Field(foreign_key="credentials.id", max_length=36)
    status: str = Field(default="pending", max_length=16)
    """``pending``, ``signed``, ``rejected``, ``expired`` or ``failed``."""
    kind: str = Field(default="hash", max_length=16)
    """``hash`` (DTBS digests), ``document`` (whole PDF/XML files) or ``csc`` (a CSC authorization)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_algorithm: str = Field(default="sha256", max_length=16)
    signature_algorithm: str = Field(max_length=40)
    """Signature-algorithm OID, e.g. ``1.2.840.10045.4.3.2`` (ecdsa-with-SHA256)."""
    items: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """``[{"name": ..., "digest": base64}]`` in request order."""
    items_digest: str = Field(max_length=64)
    """SHA-256 over the algorithm and every digest, hex: what the confirmation binds to."""
    confirmation_code: str = Field(max_length=16)
    signatures: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """Base64 signatures in item order, once signed."""
    description: str | None = Field(default=None, max_length=500)
    callback_url: str | None = Field(default=None, max_length=2000)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    otp_failures: int = Field(default=0)
    device_id: str | None = Field(default=None, max_length=36)
    """The device that confirmed or rejected."""
    reason: str | None = Field(default=None, max_length=500)
    """Why it was rejected or failed."""
    sad_used: bool = Field(default=False)
    """For ``csc`` sessions: the Signature Activation Data has been spent."""


class SessionDocument(SQLModel, table=True):
    """A whole PDF or XML document of a session, with its staged-signing state and the signed result."""

    __tablename__ = "session_documents"

    session_id: str = Field(foreign_key="signing_sessions.id", primary_key=True, max_length=36)
    index: int = Field(primary_key=True)
    name: str = Field(max_length=255)
    format: str = Field(max_length=8)
    """``pdf`` or ``xml``."""
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """The resumable state of ``prepare()``, serialised."""
    signed_content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
