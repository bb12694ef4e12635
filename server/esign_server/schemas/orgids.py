"""Wire models of the organization identifier registry (``/api/orgids``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from esign_server.schemas import Wire


class OrgCodeIssue(Wire):
    """Issue a code: a full ``code`` (a new level-1 code, or one under an active parent), or ``parent``
    with an optional ``group`` (without it the next free number is allocated)."""

    name: str = Field(min_length=1, max_length=300)
    code: str | None = Field(None, max_length=40, examples=["H56"])
    parent: str | None = Field(None, max_length=40, examples=["H49"])
    group: str | None = Field(None, max_length=34, examples=["22"])
    address: str = Field("", max_length=500)
    details: dict[str, Any] | None = None
    """Further facts as short strings (tax code, e-mail, website, founding decision)."""


class OrgCodeAmend(Wire):
    """New values for an active code; fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=300)
    address: str | None = Field(None, max_length=500)
    details: dict[str, Any] | None = None


class OrgCodeClose(Wire):
    """Close a code for good: why, and the code it merged into (if it did)."""

    reason: str = Field(min_length=1, max_length=500, examples=["merged into H55 (Nghị quyết 202/2025/QH15)"])
    successor: str | None = Field(None, max_length=40)


class OrgCodePublic(BaseModel):
    """A code and the organization it was issued to."""

    code: str
    qcvn: str | None
    """The QCVN 102:2016 form (``000.00.22.H49``) when the code has one."""
    parent: str | None
    level: int
    name: str
    address: str
    details: dict[str, Any]
    status: Literal["active", "closed"]
    closed_reason: str | None
    successor: str | None
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class CertificateCarryingCode(BaseModel):
    """A live certificate that still names a code in its subject."""

    credential_id: str
    user_id: str
    status: str
    serial: str | None
    subject: str
    not_after: datetime


class OrgCodeClosed(OrgCodePublic):
    """A closed code, and the live certificates that still carry it (closing changes no certificate)."""

    active_certificates: list[CertificateCarryingCode]
    warning: str | None
    """Set when ``active_certificates`` is not empty: what the admin should do about them."""


class OrgCodePage(BaseModel):
    """One page of search results."""

    items: list[OrgCodePublic]
    total: int
    """How many codes match in all."""
    limit: int
    offset: int


class OrgCodeEventPublic(BaseModel):
    """One change in a code's history."""

    version: int
    action: str
    """``issued``, ``amended``, ``closed``, ``imported`` or ``seeded``."""
    at: datetime
    actor: str
    changes: dict[str, Any]
    """For each changed field ``[old, new]``."""


class OrgCodeHistory(BaseModel):
    """A code's full history, oldest first."""

    code: str
    events: list[OrgCodeEventPublic]


class OrgCodeStatus(BaseModel):
    """What the registry says about a code (for verification reports)."""

    code: str
    known: bool
    status: Literal["active", "closed"] | None
    active: bool
    name: str | None
    successor: str | None


class ImportProblemPublic(BaseModel):
    """One refused row."""

    line: int
    code: str | None
    reason: str


class ImportRejectedBody(BaseModel):
    """An import refused as a whole; ``errors`` lists every bad row."""

    error: str
    message: str
    errors: list[ImportProblemPublic] = Field(default_factory=list)
    """Every bad row; empty when the file as a whole is refused (empty, not UTF-8)."""


class ImportSummary(BaseModel):
    """What an accepted import did."""

    created: int
    unchanged: int
