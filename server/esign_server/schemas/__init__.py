"""Wire models: what goes over HTTP (a table never does)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _b64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    text = value.strip()
    try:
        return base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


Base64Bytes = Annotated[bytes, BeforeValidator(_b64)]
"""Bytes sent as base64 (standard or URL-safe alphabet)."""


class Wire(BaseModel):
    """Base of request bodies: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: ``{"error": code, "message": text}``."""

    error: str
    message: str


class TokenResponse(BaseModel):
    """OAuth2 access token (client-credentials grant)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type
    expires_in: int
    scope: str


# --- users, clients, credentials (admin) -------------------------------------------------------


class UserCreate(Wire):
    """A new user; give a CCCD (12 digits) or a tax code (MST)."""

    full_name: str = Field(min_length=1, max_length=200)
    cccd: str | None = Field(None, max_length=20)
    tax_code: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=20)
    organization: str | None = Field(None, max_length=200)


class UserPublic(BaseModel):
    """A user as the admin API shows it."""

    id: str
    full_name: str
    cccd: str | None
    tax_code: str | None
    email: str | None
    phone: str | None
    organization: str | None
    status: str
    created_at: datetime


class ClientCreate(Wire):
    """A new relying system."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["sessions"])
    client_id: str | None = Field(None, max_length=64)


class ClientCreated(BaseModel):
    """A registered relying system with its secrets (shown only in this answer)."""

    client_id: str
    name: str
    scopes: list[str]
    client_secret: str
    webhook_secret: str


class CredentialIssue(Wire):
    """Issue a credential for a user: a new key in the keystore and a certificate (or a CSR)."""

    key_algorithm: Literal["rsa2048", "rsa3072", "p256", "p384"] = "p256"
    label: str = Field("", max_length=200)
    external_ca: bool = False
    """True: no certificate from the service CA; fetch ``csr_pem`` and install the external CA's answer."""
    keystore: Literal["software", "pkcs11"] | None = None
    org_code: str | None = Field(None, max_length=40, examples=["H49.22"])
    """Organization electronic identifier code, active in the registry, put in the certificate as
    ``organizationIdentifier=VN:<code>`` (for organizations: users with a tax code and no CCCD)."""


class CredentialStatusChange(Wire):
    """Why a credential is suspended or revoked (a CRL reason name such as ``key_compromise``)."""

    reason: str | None = Field(None, max_length=40)


class CertificateInstall(Wire):
    """The certificate (PEM, chain may follow) an external CA issued for the credential's CSR."""

    certificate_pem: str = Field(min_length=1, max_length=100_000)


class CredentialPublic(BaseModel):
    """A credential: key facts, certificate and chain; never the key."""

    id: str
    user_id: str
    label: str
    status: str
    key_algorithm: str
    key_bits: int
    keystore: str
    serial: str | None
    subject: str | None
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    certificate_pem: str | None
    chain_pem: list[str]
    signature_algorithms: list[str]
    """Signature-algorithm OIDs the key signs with."""
    csr_pem: str | None
    revoked_at: datetime | None
    revocation_reason: str | None


class CallbackUrls(Wire):
    """The webhook URLs a relying system may name in its sessions."""

    urls: list[Annotated[str, Field(min_length=8, max_length=2000)]] = Field(max_length=20)


class GrantCreate(Wire):
    """Authorise a relying system for a user."""

    client_id: str = Field(min_length=1, max_length=64)


class GrantPublic(BaseModel):
    """A relying system a user has authorised."""

    client_id: str
    client_name: str
    user_id: str
    granted_by: str
    granted_at: datetime
    locked_until: datetime | None
    """Set while this relying system is locked out of the user after wrong codes."""


class EnrollmentCreate(Wire):
    """Start enrolling a phone for a user."""

    device_name: str = Field("", max_length=100)


class EnrollmentPublic(BaseModel):
    """Shown once: the TOTP secret as a URI and QR codes, and the pairing link for the mobile app."""

    device_id: str
    user_id: str
    secret: str
    """Base32 TOTP secret (160 bits; 30 s; 6 digits; SHA-1)."""
    otpauth_uri: str
    qr_png: str
    """PNG image of the otpauth URI, base64."""
    qr_svg: str
    pairing_url: str
    pairing_qr_png: str
    """PNG image of ``pairing_url``, base64: the phone's camera opens the mobile app at ``/m/`` with it."""
    pairing_qr_svg: str
    enrollment_token: str
    expires_at: datetime


class DeviceActivate(Wire):
    """The first code, proving the phone holds the secret."""

    code: str = Field(min_length=1, max_length=12)


class DevicePublic(BaseModel):
    """A device (never its secret)."""

    id: str
    user_id: str
    name: str
    status: str
    created_at: datetime
    activated_at: datetime | None
    locked_until: datetime | None


class AuditCheck(BaseModel):
    """Result of checking the audit chain."""

    ok: bool
    events: int
    first_broken_seq: int | None
    problem: str | None


class AuditEventPublic(BaseModel):
    """One audit event."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str


# --- signing sessions (relying systems) --------------------------------------------------------


class HashItemIn(Wire):
    """A DTBS digest to sign."""

    name: str = Field("", max_length=255)
    digest: Base64Bytes


class DocumentInWire(Wire):
    """A whole document to sign on the server (staged signing: only its digest is confirmed)."""

    name: str = Field(min_length=1, max_length=255)
    format: Literal["pdf", "xml"]
    content: Base64Bytes
    options: dict[str, str | int | bool] = Field(default_factory=dict)
    """PDF: ``level`` (B-B, B-T, B-LT), ``reason``, ``location``, ``contact``, ``field_name``, and a Decree 30
    ``preset`` (``decree30.person``/``agency``/``attachment``/``copy``, drawn with the holder's stored
    image) with ``marker``, ``signer_name``, ``document_number``, ``copy_form``, ``agency_name``;
    XML: ``profile`` (xmldsig-enveloped, xades-b-b, xades-b-t, einvoice, ...), ``reference_id``,
    ``signature_parent``, ``c14n``."""


class SessionCreate(Wire):
    """Ask a user to sign ``items`` (digests) or ``documents`` (whole PDF/XML) with one of their credentials."""

    credential_id: str = Field(min_length=1, max_length=36)
    items: list[HashItemIn] = Field(default_factory=list, max_length=10_000)
    documents: list[DocumentInWire] = Field(default_factory=list, max_length=100)
    digest_algorithm: str = Field("sha256", max_length=20)
    signature_algorithm: str | None = Field(None, max_length=40, pattern=r"^[0-9]+(\.[0-9]+)+$")
    """Signature-algorithm OID; default: the key's usual one with ``digest_algorithm``."""
    description: str | None = Field(None, max_length=500)
    callback_url: str | None = Field(None, max_length=2000, pattern=r"^https?://")
    ttl_seconds: int | None = Field(None, ge=10, le=86_400)


class HashItemOut(BaseModel):
    """An item of a session."""

    name: str
    digest: str


class DocumentOut(BaseModel):
    """A document of a session; ``href`` serves the signed file once the session is signed."""

    index: int
    name: str
    format: str
    href: str


class SessionPublic(BaseModel):
    """A session as its relying system sees it; ``signatures`` (base64, item order) once signed."""

    id: str
    kind: str
    status: str
    credential_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    confirmation_code: str
    fingerprint: str
    items_digest: str
    digest_algorithm: str
    signature_algorithm: str
    items: list[HashItemOut]
    signatures: list[str] | None
    reason: str | None
    documents: list[DocumentOut] = Field(default_factory=list)


class SessionList(BaseModel):
    """A page of sessions."""

    sessions: list[SessionPublic]


# --- mobile ------------------------------------------------------------------------------------


class PairStart(Wire):
    """Open a pairing link."""

    enrollment_token: str = Field(min_length=1, max_length=200)


class PairInfo(BaseModel):
    """What a pairing link is for; ``otpauth_uri`` lets the app make the codes itself."""

    device_id: str
    user_name: str
    issuer: str
    otpauth_uri: str
    expires_at: datetime | None


class PairComplete(Wire):
    """Finish pairing with a first code."""

    enrollment_token: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=12)
    device_name: str = Field("", max_length=100)


class Paired(BaseModel):
    """The device's bearer token (keep it; it is shown only now)."""

    device_id: str
    device_token: str
    user_id: str
    user_name: str


class DeviceMe(BaseModel):
    """The device and its user."""

    device_id: str
    device_name: str
    user_id: str
    user_name: str


class CredentialSummary(BaseModel):
    """The credential a request would sign with, as the phone shows it (personal numbers masked)."""

    id: str
    label: str
    key_algorithm: str
    subject: str | None
    """RFC 4514 subject with personal numbers masked (``UID=CCCD:0012******89``)."""
    issuer: str | None
    serial: str | None
    not_after: datetime | None
    identity: dict[str, Any] | None = None
    """Who the certificate names: ``esign.identity.SignerIdentity.to_dict()``, personal numbers masked."""


class RelyingSystemSummary(BaseModel):
    """Who asks."""

    id: str
    name: str


class MobileSession(BaseModel):
    """A signing request as the phone shows it."""

    id: str
    status: str
    relying_system: RelyingSystemSummary
    description: str | None
    documents: list[str]
    """Item names (document names, or the names the relying system gave its hashes)."""
    item_count: int
    previews: list[int] = []
    """Indexes of the documents signed with a Decree 30 preset: the phone shows
    ``GET /api/mobile/sessions/{id}/documents/{index}/preview.png`` for each (where the mark will go)."""
    fingerprint: str
    confirmation_code: str
    credential: CredentialSummary
    created_at: datetime
    expires_at: datetime
    seconds_left: int
    completed_at: datetime | None
    reason: str | None


class PendingGroup(BaseModel):
    """The pending requests of one relying system, as the phone groups them."""

    relying_system: RelyingSystemSummary
    count: int
    session_ids: list[str]
    """Oldest first."""


class MobileSessionList(BaseModel):
    """Requests shown on the phone."""

    sessions: list[MobileSession]
    """Pending: every one, grouped by relying system (groups by name, oldest first within); history:
    newest first."""
    groups: list[PendingGroup] = []
    """Pending only: one entry per relying system that is waiting for the user."""


class Confirm(Wire):
    """Confirm with the current TOTP code."""

    code: str = Field(min_length=1, max_length=12)


class Reject(Wire):
    """Decline, optionally saying why."""

    reason: str | None = Field(None, max_length=500)
