"""The organization identifier registry: one row per code ever issued, and its append-only history.

A code is the primary key and rows are never deleted (the database refuses it), so a code once
issued can never be given to another organization, whatever its status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class OrgCode(SQLModel, table=True):
    """One organization electronic identifier code and the organization it was issued to."""

    __tablename__ = "org_codes"
    __table_args__ = (
        Index("ix_org_codes_parent", "parent_code"),
        Index("ix_org_codes_level_status", "level", "status"),
        Index("ix_org_codes_name_folded", "name_folded"),
    )

    code: str = Field(primary_key=True, max_length=35)
    """The code in the QĐ 20/2020 form, level 1 first: ``H49.22``."""
    parent_code: str | None = Field(default=None, foreign_key="org_codes.code", max_length=35)
    level: int
    name: str = Field(max_length=300)
    name_folded: str = Field(max_length=300)
    """``name`` lower-cased without diacritics (:func:`esign.orgid.fold_vietnamese`), for search."""
    address: str = Field(default="", max_length=500)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Further facts as short strings: tax code, e-mail, website, founding decision."""
    status: str = Field(default="active", max_length=16)
    """``active`` or ``closed``; a closed code stays closed."""
    closed_reason: str | None = Field(default=None, max_length=500)
    successor_code: str | None = Field(default=None, max_length=35)
    """The code that carries on a closed organization's work (the province it merged into)."""
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_child_number: int = Field(default=0)
    """Highest all-digit child group ever issued under this code; the next child gets one more."""
    version: int = Field(default=1)
    """Bumped on every change; the history row of each change carries it."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrgCodeEvent(SQLModel, table=True):
    """One change to a code (issued, amended, closed, imported, seeded); never updated or deleted."""

    __tablename__ = "org_code_events"
    __table_args__ = (Index("ix_org_code_events_code", "code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=35)
    version: int
    """The code's version after this change."""
    action: str = Field(max_length=16)
    """``issued``, ``amended``, ``closed``, ``imported`` or ``seeded``."""
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=120)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """For each field changed: ``[old, new]`` (``old`` is null when the code was issued)."""
