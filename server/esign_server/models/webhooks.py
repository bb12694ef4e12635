"""The webhook outbox: every announcement a relying system is owed, until it is delivered or given up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class WebhookDelivery(SQLModel, table=True):
    """One webhook to send (the session's end), with its attempts; rows survive restarts."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=36)
    client_id: str = Field(foreign_key="relying_systems.id", max_length=64)
    session_id: str = Field(max_length=36)
    url: str = Field(max_length=2000)
    event: str = Field(max_length=40)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="pending", max_length=16)
    """``pending`` (due at ``next_attempt_at``), ``delivered`` or ``failed`` (given up)."""
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    """When it is due; while an attempt runs, the end of that attempt's lease (a crashed worker's
    delivery is tried again after it)."""
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
