"""Wire models of organization seals (admin API)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SealPolicyIn(BaseModel):
    """Mark a credential as an organization seal, or replace its policy."""

    model_config = ConfigDict(extra="forbid")

    clients: list[str] = Field(min_length=1, max_length=100)
    """Client ids of the relying systems that may use the seal without a person."""
    per_minute: int | None = Field(None, ge=1, le=10_000_000)
    """Most signatures in any 60 seconds (absent: no limit)."""
    per_day: int | None = Field(None, ge=1, le=1_000_000_000)
    """Most signatures per calendar day in Asia/Ho_Chi_Minh (absent: no limit)."""
    hours: str | None = Field(None, max_length=11, examples=["07:00-19:00"])
    """Allowed hours in Asia/Ho_Chi_Minh, ``HH:MM-HH:MM`` (``22:00-06:00`` spans midnight; absent: any time)."""
    max_hashes_per_call: int | None = Field(None, ge=1)
    """Most hashes one ``credentials/authorize`` (and ``signatures/signHash``) may carry (absent: the
    service's ``ESIGN_MAX_ITEMS_PER_SESSION``, which is also the most it may be)."""


class SealPublic(BaseModel):
    """An organization seal and its policy."""

    credential_id: str
    label: str
    organization: str
    clients: list[str]
    per_minute: int | None
    per_day: int | None
    hours: str | None
    max_hashes_per_call: int
    updated_by: str
    updated_at: datetime
