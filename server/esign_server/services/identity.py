"""Identity verification: no credential before the holder's identity is proven, and certificates
named only from what was proven.

An admin records how a user's identity was verified: in person with a document (citizen identity
card, old identity card, passport, or an organization's business registration certificate), or by
an external eKYC service's reference; when, and by whom. The verified identity (name, citizen
number, tax code, organization, e-mail), the document number and the eKYC reference are sealed
under the master key; outputs and the audit log carry them masked only.

A verification that changes the identity data revokes every certificate that no longer names the
holder rightly (OCSP and CRL show it at once) and reissues it: a new key and a certificate built
from the new verified identity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from esign.errors import InvalidInput
from esign.identity import (
    Identifier,
    IdentifierKind,
    SignerIdentity,
    mask_number,
    organization_subject,
    person_subject,
)
from esign_server.db import utcnow
from esign_server.models import Credential, IdentityVerification, User
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

IN_PERSON = "in_person"
EKYC = "ekyc"
DOCUMENT_KINDS = ("CCCD", "CMND", "HC", "BRN")
"""Documents shown in person: citizen identity card, old identity card, passport, business registration."""
_PERSON_DOCUMENTS = ("CCCD", "CMND", "HC")
_CURRENT = "current"
_SUPERSEDED = "superseded"
_LIVE_CREDENTIALS = ("active", "suspended", "awaiting_certificate")


@dataclass(frozen=True)
class IdentityData:
    """The identity data a certificate subject is built from (canonical values, validated)."""

    full_name: str
    cccd: str | None = None
    """12-digit citizen identity number: present for a person, absent for an organization."""
    tax_code: str | None = None
    organization: str | None = None
    email: str | None = None

    @classmethod
    def of_user(cls, user: User) -> IdentityData:
        """The identity data the user row holds."""
        return cls(user.full_name, user.cccd, user.tax_code, user.organization, user.email)

    @classmethod
    def validated(
        cls,
        full_name: str,
        *,
        cccd: str | None,
        tax_code: str | None,
        organization: str | None,
        email: str | None,
    ) -> IdentityData:
        """Normalise and check: a name, and a CCCD (a person) or a tax code (an organization)."""
        name = " ".join(full_name.split())
        if not name:
            raise ServiceError("full_name must not be empty", code="invalid_identity")
        if not cccd and not tax_code:
            raise ServiceError(
                "give a CCCD (citizen number) or a tax code: certificates name the holder by one",
                code="invalid_identity",
            )
        data = cls(
            full_name=name,
            cccd=Identifier.of(IdentifierKind.CCCD, cccd).value if cccd else None,
            tax_code=Identifier.of(IdentifierKind.MST, tax_code).value if tax_code else None,
            organization=" ".join(organization.split()) or None if organization else None,
            email=email.strip() or None if email else None,
        )
        data.subject()  # refuse now what no certificate could say (a name over 64 characters ...)
        return data

    @property
    def is_person(self) -> bool:
        """A person (named by CCCD) rather than an organization (named by tax code)."""
        return self.cccd is not None

    def subject(self, *, org_code: str | None = None) -> x509.Name:
        """The certificate subject in the Vietnamese conventions (CCCD for people, MST otherwise).

        ``org_code`` (an organization electronic identifier code, already checked in the registry)
        goes into an organization's subject as ``organizationIdentifier=VN:<code>``.
        """
        if self.cccd:
            if org_code:
                raise ServiceError(
                    "org_code goes into organization certificates: register the organization as a user with a "
                    "tax code and no CCCD",
                    code="org_code_not_allowed",
                )
            extra = [f"MST:{self.tax_code}"] if self.tax_code and self.tax_code != self.cccd else []
            return person_subject(self.full_name, self.cccd, email=self.email, extra_ids=extra)
        if self.tax_code:
            return organization_subject(
                self.organization or self.full_name, self.tax_code, email=self.email, agency_code=org_code
            )
        raise InvalidInput("the identity has neither a CCCD nor a tax code to name in a certificate")

    def canonical(self) -> bytes:
        """Stable JSON of the fields (what the keyed digest covers)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def masked(self) -> dict[str, Any]:
        """For outputs and the audit log: the name, and personal numbers masked."""
        identity = SignerIdentity.from_name(self.subject())
        return {
            "kind": identity.kind.value,
            "full_name": self.full_name,
            "cccd": mask_number(self.cccd) if self.cccd else None,
            "tax_code": _masked_tax_code(self.tax_code, person=self.is_person),
            "organization": self.organization,
            "email": self.email,
        }


def _masked_tax_code(tax_code: str | None, *, person: bool) -> str | None:
    if tax_code is None:
        return None
    return Identifier.of(IdentifierKind.MST, tax_code).masked(always=person).partition(":")[2]


@dataclass(frozen=True)
class InPersonDocument:
    """The holder showed a document to an operator: its kind (``CCCD``, ``CMND``, ``HC``, ``BRN``) and number."""

    kind: str
    number: str = field(repr=False)


@dataclass(frozen=True)
class EkycReference:
    """An external eKYC service verified the holder: the provider and its reference for that check."""

    provider: str
    reference: str = field(repr=False)


Evidence = InPersonDocument | EkycReference


def mask_reference(reference: str) -> str:
    """An eKYC reference with all but its last four characters hidden."""
    return "*" * max(len(reference) - 4, 0) + reference[-4:] if len(reference) > 4 else "*" * len(reference)


def _document(evidence: InPersonDocument, identity: IdentityData) -> tuple[str, str, str]:
    """Check a document against the identity; (kind, canonical number, masked number)."""
    kind = evidence.kind.strip().upper()
    if kind not in DOCUMENT_KINDS:
        raise ServiceError(
            f"unknown document kind {evidence.kind[:10]!r}; use {', '.join(DOCUMENT_KINDS)}", code="invalid_document"
        )
    if identity.is_person and kind not in _PERSON_DOCUMENTS:
        raise ServiceError("a person proves their identity with a CCCD, CMND or passport (HC)", code="invalid_document")
    if not identity.is_person and kind != "BRN":
        raise ServiceError(
            "an organization proves its identity with its business registration certificate (BRN)",
            code="invalid_document",
        )
    if kind == "BRN":
        number = Identifier.of(IdentifierKind.MST, evidence.number).value
        if number != identity.tax_code:
            raise ServiceError(
                "the business registration number is not the organization's tax code", code="document_mismatch"
            )
        return kind, number, _masked_tax_code(number, person=True) or ""
    number = Identifier.of(kind, evidence.number).value
    if kind == "CCCD" and number != identity.cccd:
        raise ServiceError("the CCCD shown is not the user's citizen number", code="document_mismatch")
    return kind, number, mask_number(number)


def _digest_key(ctx: ServerContext) -> bytes:
    return hashlib.sha256(b"esign-identity-digest\x00" + ctx.settings.master_key_bytes()).digest()


def identity_digest(ctx: ServerContext, identity: IdentityData) -> str:
    """Keyed digest of identity data (pseudonymous: useless without the master key)."""
    return hmac.new(_digest_key(ctx), identity.canonical(), hashlib.sha256).hexdigest()


def _aad(verification_id: str, user_id: str) -> bytes:
    return f"identity-verification:{verification_id}:{user_id}".encode()


@dataclass(frozen=True)
class VerifiedIdentity:
    """A user's current verification with the identity it proved (opened from the sealed data)."""

    verification: IdentityVerification
    identity: IdentityData
    document_number: str | None = field(default=None, repr=False)
    reference: str | None = field(default=None, repr=False)


def open_verification(ctx: ServerContext, row: IdentityVerification) -> VerifiedIdentity:
    """Open the sealed identity of a verification row."""
    if row.sealed is None:
        raise Conflict("this identity verification was erased", code="identity_erased")
    payload = json.loads(ctx.sealer.open(row.sealed, _aad(row.id, row.user_id)))
    return VerifiedIdentity(row, IdentityData(**payload["identity"]), payload.get("document"), payload.get("reference"))


def _current_row(session: Session, user_id: str) -> IdentityVerification | None:
    return session.exec(
        select(IdentityVerification)
        .where(IdentityVerification.user_id == user_id, IdentityVerification.status == _CURRENT)
        .order_by(col(IdentityVerification.created_at).desc())
    ).first()


def require_verified(ctx: ServerContext, user: User) -> VerifiedIdentity:
    """The user's verified identity; 409 ``identity_not_verified`` when there is none or it no longer
    matches the user's data."""
    with ctx.db.read() as session:
        row = _current_row(session, user.id)
    if row is None:
        raise Conflict(
            f"the identity of user {user.id} has not been verified: record how (in person with a document, or an "
            f"eKYC reference) with POST /api/admin/users/{user.id}/identity-verifications or `esign server user "
            "verify` before issuing a credential",
            code="identity_not_verified",
        )
    verified = open_verification(ctx, row)
    if row.identity_digest != identity_digest(ctx, IdentityData.of_user(user)):
        raise Conflict(
            f"the identity data of user {user.id} changed since it was verified: verify it again",
            code="identity_not_verified",
        )
    return verified


def list_verifications(ctx: ServerContext, *, user_id: str) -> list[IdentityVerification]:
    """A user's identity verifications, oldest first."""
    with ctx.db.read() as session:
        return list(
            session.exec(
                select(IdentityVerification)
                .where(IdentityVerification.user_id == user_id)
                .order_by(col(IdentityVerification.created_at))
            ).all()
        )


@dataclass(frozen=True)
class VerificationOutcome:
    """What a verification did: the row, the identity fields it changed, credentials revoked and reissued."""

    verification: IdentityVerification
    identity: IdentityData
    changed: tuple[str, ...]
    revoked: tuple[str, ...] = ()
    reissued: tuple[Credential, ...] = ()


_UNSET: Any = object()


def record_verification(
    ctx: ServerContext,
    *,
    user_id: str,
    evidence: Evidence,
    full_name: str | None = None,
    cccd: str | None = _UNSET,
    tax_code: str | None = _UNSET,
    organization: str | None = _UNSET,
    email: str | None = _UNSET,
    verified_at: datetime | None = None,
    actor: str,
) -> VerificationOutcome:
    """Record how ``user_id``'s identity was verified, with the identity data as verified.

    Fields left out keep the user's current value (``None`` clears an optional one). When the
    verified data differ from what the user's certificates say, those credentials are revoked
    (reason ``superseded``) and reissued from the new identity.
    """
    now = utcnow()
    when = verified_at or now
    if when > now + timedelta(minutes=5):
        raise ServiceError("verified_at is in the future", code="invalid_request")
    with ctx.db.read() as session:
        user = session.get(User, user_id)
    if user is None or user.status != "active":
        raise NotFound(f"no active user {user_id}")
    before = IdentityData.of_user(user)
    identity = IdentityData.validated(
        full_name if full_name is not None else before.full_name,
        cccd=before.cccd if cccd is _UNSET else cccd,
        tax_code=before.tax_code if tax_code is _UNSET else tax_code,
        organization=before.organization if organization is _UNSET else organization,
        email=before.email if email is _UNSET else email,
    )
    changed = tuple(k for k, v in asdict(identity).items() if getattr(before, k) != v)
    payload: dict[str, Any] = {"identity": asdict(identity)}
    details: dict[str, Any]
    if isinstance(evidence, InPersonDocument):
        kind, number, masked = _document(evidence, identity)
        payload["document"] = number
        row_fields: dict[str, Any] = {"method": IN_PERSON, "document_kind": kind, "document_masked": masked}
        details = {"method": IN_PERSON, "document_kind": kind, "document": masked}
    else:
        provider, reference = " ".join(evidence.provider.split()), evidence.reference.strip()
        if not provider or not reference or len(provider) > 100 or len(reference) > 200:
            raise ServiceError("an eKYC verification needs a provider and its reference", code="invalid_evidence")
        payload["reference"] = reference
        row_fields = {"method": EKYC, "provider": provider}
        details = {"method": EKYC, "provider": provider, "reference": mask_reference(reference)}
    verification_id = str(uuid.uuid4())
    row = IdentityVerification(
        id=verification_id,
        user_id=user_id,
        sealed=ctx.sealer.seal(json.dumps(payload, ensure_ascii=False).encode(), _aad(verification_id, user_id)),
        identity_digest=identity_digest(ctx, identity),
        verified_at=when,
        verified_by=actor,
        **row_fields,
    )
    try:
        with ctx.db.write() as session:
            locked = session.exec(select(User).where(User.id == user_id).with_for_update()).one()
            if IdentityData.of_user(locked) != before:
                raise Conflict("the user changed meanwhile; verify again", code="concurrent_change")
            for old in session.exec(
                select(IdentityVerification).where(
                    IdentityVerification.user_id == user_id, IdentityVerification.status == _CURRENT
                )
            ).all():
                old.status = _SUPERSEDED
                session.add(old)
            for name, value in asdict(identity).items():
                setattr(locked, name, value)
            session.add(locked)
            session.add(row)
            session.flush()
            # Field names only: the values are personal data and the audit log is kept forever.
            audit.record(
                session,
                actor=actor,
                action="identity.verified",
                target=f"user:{user_id}",
                verification_id=verification_id,
                verified_at=when.isoformat(),
                changed=list(changed),
                **details,
            )
    except IntegrityError:
        raise Conflict("another user has this CCCD or tax code", code="user_exists") from None
    outcome = VerificationOutcome(row, identity, changed)
    if changed:
        outcome = _revoke_and_reissue(ctx, outcome, actor=actor)
    return outcome


def _agency_code(cert: x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    code = SignerIdentity.from_certificate(cert).agency_code
    return str(code) if code is not None else None


def _revoke_and_reissue(ctx: ServerContext, outcome: VerificationOutcome, *, actor: str) -> VerificationOutcome:
    """Revoke the credentials whose certificate (or CSR) no longer names the holder rightly; reissue the
    active ones (a new key and certificate from the verified identity)."""
    from esign_server.services import credentials as credential_service

    user_id = outcome.verification.user_id
    revoked: list[str] = []
    reissued: list[Credential] = []
    for cred in credential_service.list_credentials(ctx, user_id=user_id):
        if cred.status not in _LIVE_CREDENTIALS:
            continue
        cert = credential_service.certificate_of(cred)
        if cert is not None:
            named = cert.subject
        elif cred.csr_pem:
            named = x509.load_pem_x509_csr(cred.csr_pem.encode()).subject
        else:
            continue
        org_code = _agency_code(cert) if cert is not None else None
        if org_code is None and cred.csr_pem:
            code = SignerIdentity.from_name(named).agency_code
            org_code = str(code) if code is not None else None
        if named == outcome.identity.subject(org_code=org_code):
            continue
        external = cert is None or cert.issuer != ctx.pki.issuing_ca.certificate.subject
        was_active = cred.status != "suspended"
        credential_service.change_status(ctx, credential_id=cred.id, action="revoke", reason="superseded", actor=actor)
        revoked.append(cred.id)
        if was_active:
            reissued.append(
                credential_service.issue_credential(
                    ctx,
                    user_id=user_id,
                    key_algorithm=cred.key_algorithm,
                    label=cred.label,
                    external_ca=external,
                    keystore=cred.keystore,
                    org_code=org_code,
                    replaces=cred.id,
                    actor=actor,
                )
            )
    return replace(outcome, revoked=tuple(revoked), reissued=tuple(reissued))
