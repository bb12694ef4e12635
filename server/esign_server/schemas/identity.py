"""Wire models of identity verification, personal-data export and erasure, and signature verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from esign_server.schemas import CredentialPublic, Wire


class DocumentIn(Wire):
    """A document the holder showed in person."""

    kind: Literal["CCCD", "CMND", "HC", "BRN"]
    """Citizen identity card, old identity card, passport (hộ chiếu), business registration certificate."""
    number: str = Field(min_length=1, max_length=40)
    """Stored sealed; every answer shows it masked."""


class IdentityVerificationCreate(Wire):
    """How the identity was verified, and the identity data as verified.

    Give ``document`` (``method=in_person``) or ``provider`` and ``reference`` (``method=ekyc``).
    Identity fields left out keep the user's current values; a change of the data the certificates
    carry revokes those credentials and reissues them from the new identity.
    """

    method: Literal["in_person", "ekyc"]
    document: DocumentIn | None = None
    provider: str | None = Field(None, max_length=100, examples=["VNeID"])
    reference: str | None = Field(None, max_length=200)
    verified_at: datetime | None = None
    """When the verification happened (default: now)."""
    full_name: str | None = Field(None, min_length=1, max_length=200)
    cccd: str | None = Field(None, max_length=20)
    tax_code: str | None = Field(None, max_length=20)
    organization: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)

    @model_validator(mode="after")
    def _evidence_matches_method(self) -> IdentityVerificationCreate:
        if self.method == "in_person" and (self.document is None or self.provider or self.reference):
            raise ValueError("method in_person takes a document (kind and number), and no provider or reference")
        if self.method == "ekyc" and (self.document is not None or not self.provider or not self.reference):
            raise ValueError("method ekyc takes a provider and a reference, and no document")
        return self


class VerifiedIdentityPublic(BaseModel):
    """The verified identity with personal numbers masked."""

    kind: str
    full_name: str
    cccd: str | None
    tax_code: str | None
    organization: str | None
    email: str | None


class IdentityVerificationPublic(BaseModel):
    """A verification record; the document number and eKYC reference masked."""

    id: str
    user_id: str
    method: str
    document_kind: str | None
    document_number: str | None
    provider: str | None
    reference: str | None
    status: str
    verified_at: datetime
    verified_by: str
    identity: VerifiedIdentityPublic | None


class IdentityVerificationResult(BaseModel):
    """A recorded verification, the identity fields it changed, credentials revoked and reissued."""

    verification: IdentityVerificationPublic
    changed: list[str]
    revoked_credentials: list[str]
    reissued_credentials: list[CredentialPublic]


class ErasureResult(BaseModel):
    """What an erasure removed (counts)."""

    user_id: str
    credentials: int
    devices: int
    verifications: int
    sessions: int
    documents: int


class VerificationReportList(BaseModel):
    """``POST /api/verify``: the overall indication and one ETSI validation report per signature."""

    format: Literal["pdf", "xml"]
    indication: str
    explanation: str = ""
    """What the indication means, in ``language`` (the ETSI code itself is never translated)."""
    language: Literal["vi", "en"] = "en"
    """The language of the explanations: from ``Accept-Language`` (``vi`` or ``en``)."""
    revealed: bool
    """True only when an admin asked for personal numbers unmasked (``?reveal=true``)."""
    signatures: list[dict[str, Any]]
