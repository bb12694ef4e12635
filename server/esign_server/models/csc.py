"""CSC API authorizations: the Signature Activation Data (SAD) and the hashes it may sign.

A CSC authorization rides on a :class:`~esign_server.models.SigningSession` of kind ``csc`` (the
user confirms it like any other session), or stands alone for an organization seal; this table adds
what the CSC flow needs on top: the SAD (kept as a SHA-256, never in clear), its expiry, and the
authorized hashes not signed yet, so a SAD signs exactly the authorized hashes, each as many times as
it was authorized, and no more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class CscAuthorization(SQLModel, table=True):
    """One ``credentials/authorize`` call: pending until the user confirms, then a SAD."""

    __tablename__ = "csc_authorizations"

    id: str = Field(primary_key=True, max_length=36)
    """The handle a client polls with ``credentials/authorizeCheck``."""
    session_id: str | None = Field(default=None, foreign_key="signing_sessions.id", unique=True, max_length=36)
    """The signing session the user confirms; None for an organization seal (nobody confirms)."""
    client_id: str = Field(max_length=64, index=True)
    credential_id: str = Field(max_length=36)
    hash_algorithm: str = Field(max_length=16)
    """The digest algorithm of the authorized hashes (``sha256`` ...)."""
    num_signatures: int
    signatures_used: int = Field(default=0)
    sad_hash: str | None = Field(default=None, max_length=64, unique=True)
    """SHA-256 (hex) of the current SAD; None until the user has confirmed."""
    expires_at: datetime = Field(sa_type=UTCDateTime)
    """Until the user confirms: the session's expiry; afterwards: the SAD's."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    digests: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    """The authorized hashes not signed yet, each the digest size of ``hash_algorithm``, concatenated in
    sorted order (a hash authorized twice is there twice). One value, not a row per hash: a batch of
    100 hashes is one row to write and one to update, and ``signatures_used`` versions it."""
