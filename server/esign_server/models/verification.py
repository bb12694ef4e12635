"""Identity verification records: how, when and by whom a user's identity was proven.

The verified identity itself (name, citizen number, tax code, the document number, an eKYC
reference) is sealed under the master key; the row keeps in clear only what is not personal
(method, document kind, provider, who verified and when) and a keyed digest of the identity,
so a change of the user's identity data shows without opening anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class IdentityVerification(SQLModel, table=True):
    """One proof of a user's identity; the newest ``current`` one is what certificates are built from."""

    __tablename__ = "identity_verifications"

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    method: str = Field(max_length=16)
    """``in_person`` (a document shown to an operator) or ``ekyc`` (an external eKYC service's reference)."""
    document_kind: str | None = Field(default=None, max_length=8)
    """In person: ``CCCD``, ``CMND``, ``HC`` (passport) or ``BRN`` (business registration certificate)."""
    document_masked: str | None = Field(default=None, max_length=40)
    """The document number masked (``0010******89``), for display without opening the sealed data."""
    provider: str | None = Field(default=None, max_length=100)
    """eKYC: the service that verified the person."""
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """AES-256-GCM under the master key (row id in the associated data): the verified identity, the
    document number and the eKYC reference, as JSON. None once erased."""
    identity_digest: str | None = Field(default=None, max_length=64)
    """HMAC-SHA256 (key derived from the master key) of the verified identity data."""
    status: str = Field(default="current", max_length=16)
    """``current``, ``superseded`` (a newer verification replaced it) or ``erased``."""
    verified_at: datetime = Field(sa_type=UTCDateTime)
    verified_by: str = Field(max_length=120)
    """The admin who verified (the audit actor, e.g. ``client:<id>``)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
