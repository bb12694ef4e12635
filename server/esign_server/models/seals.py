"""Organization seals: credentials that sign automatically for named relying systems, under a policy.

An organization's credential becomes a seal when the admin gives it a :class:`SealPolicy`. The
relying systems in :class:`SealClient` may then authorise hashes through CSC ``credentials/authorize``
without a person confirming (SCAL 1), within the policy's rates, hours and batch size. Each
authorised batch is a :class:`SealBatch` row: the rate limits count them, so every server process
sees the same counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class SealPolicy(SQLModel, table=True):
    """What a seal may do: rates, hours (Asia/Ho_Chi_Minh) and hashes per call."""

    __tablename__ = "seal_policies"

    credential_id: str = Field(foreign_key="credentials.id", primary_key=True, max_length=36)
    per_minute: int | None = Field(default=None)
    """Most signatures authorised in any 60 seconds; None: no limit."""
    per_day: int | None = Field(default=None)
    """Most signatures authorised per calendar day in Asia/Ho_Chi_Minh; None: no limit."""
    hours_start: int | None = Field(default=None)
    """Start of the allowed hours, minutes after local midnight (Asia/Ho_Chi_Minh); None: any hour."""
    hours_end: int | None = Field(default=None)
    """End of the allowed hours (exclusive), minutes after local midnight; before the start: past midnight."""
    max_hashes_per_call: int = Field(default=1000)
    """Most hashes one ``credentials/authorize`` (and so one ``signHash``) may carry."""
    updated_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SealClient(SQLModel, table=True):
    """A relying system allowed to use a seal."""

    __tablename__ = "seal_clients"

    credential_id: str = Field(foreign_key="seal_policies.credential_id", primary_key=True, max_length=36)
    client_id: str = Field(foreign_key="relying_systems.id", primary_key=True, max_length=64)


class SealBatch(SQLModel, table=True):
    """One authorised batch of a seal: what the per-minute and per-day limits count."""

    __tablename__ = "seal_batches"
    __table_args__ = (Index("ix_seal_batches_credential_at", "credential_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    credential_id: str = Field(max_length=36)
    client_id: str = Field(max_length=64)
    signatures: int
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
