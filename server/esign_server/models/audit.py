"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """One security event; ``hash`` covers every field and the previous event's hash."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=120)
    """Who: ``client:<id>``, ``device:<id>``, ``admin:<id>``, ``cli``, ``system``."""
    action: str = Field(max_length=60)
    target: str = Field(default="", max_length=120)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row holding the chain's tip; locking it serialises appends across workers."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(default=0)
    hash: str = Field(max_length=64)
    keyed_from: int = Field(default=1)
    """The first event whose link is keyed (HMAC); earlier ones (written before keying) are plain SHA-256."""
