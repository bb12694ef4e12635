"""The images Decree 30 marks are drawn with: a person's handwritten signature, an organization's seal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class MarkImage(SQLModel, table=True):
    """A user's mark image: the signature of a person (a user with a CCCD), the seal of an organization
    (a user with only a tax code). One per user; stored re-encoded, with no chunk of the upload but the
    pixels and the resolution."""

    __tablename__ = "mark_images"

    user_id: str = Field(primary_key=True, foreign_key="users.id", max_length=36)
    kind: str = Field(max_length=16)
    """``signature`` or ``seal``."""
    png: bytes = Field(sa_type=LargeBinary)
    sha256: str = Field(max_length=64)
    """Of ``png``, hex: what the audit log records."""
    width_px: int
    height_px: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
