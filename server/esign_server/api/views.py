"""Tables to wire models."""

from __future__ import annotations

import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, select

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.identity import SignerIdentity, mask_personal_numbers
from esign.signers.file import load_certificates
from esign_server.context import ServerContext
from esign_server.db import utcnow
from esign_server.models import Credential, Device, RelyingSystem, SigningSession, User
from esign_server.schemas import (
    CredentialPublic,
    CredentialSummary,
    DevicePublic,
    DocumentOut,
    HashItemOut,
    MobileSession,
    RelyingSystemSummary,
    SessionPublic,
    UserPublic,
)
from esign_server.services.credentials import certificate_of, default_signature_algorithm, key_size_bits, public_key_of
from esign_server.services.sessions import fingerprint


def session_public(row: SigningSession) -> SessionPublic:
    """A session for its relying system."""
    documents = (
        [
            DocumentOut(
                index=n, name=i["name"], format=i.get("format", ""), href=f"/api/sessions/{row.id}/documents/{n}"
            )
            for n, i in enumerate(row.items)
        ]
        if row.kind == "document"
        else []
    )
    return SessionPublic(
        id=row.id,
        kind=row.kind,
        documents=documents,
        status=row.status,
        credential_id=row.credential_id,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        completed_at=row.completed_at,
        confirmation_code=row.confirmation_code,
        fingerprint=fingerprint(row.items_digest),
        items_digest=row.items_digest,
        digest_algorithm=row.digest_algorithm,
        signature_algorithm=row.signature_algorithm,
        items=[HashItemOut(name=i["name"], digest=i["digest"]) for i in row.items],
        signatures=row.signatures if row.status == "signed" else None,
        reason=row.reason,
    )


def signature_algorithms(credential: Credential) -> list[str]:
    """Signature-algorithm OIDs a credential's key signs with (as CSC ``key/algo`` lists them)."""
    default = default_signature_algorithm(public_key_of(credential))
    digests = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512)
    oids = [SignatureAlgorithm(default.scheme, d).oid for d in digests]
    if default.scheme is SignatureScheme.RSA_PKCS1V15:
        oids.append(SignatureAlgorithm(SignatureScheme.RSA_PSS).oid)
    return oids


def credential_public(credential: Credential, *, reveal: bool = False) -> CredentialPublic:
    """A credential with its certificate and chain; personal numbers in ``subject`` masked unless ``reveal``
    (for admin callers only). The certificate itself is the signed original: the relying system the
    holder authorised embeds it in the signatures it builds."""
    cert = certificate_of(credential)
    subject = cert.subject.rfc4514_string() if cert else None
    if subject is not None and not reveal:
        subject = mask_personal_numbers(subject)
    chain = load_certificates(credential.chain_pem.encode()) if credential.chain_pem.strip() else []
    return CredentialPublic(
        id=credential.id,
        user_id=credential.user_id,
        label=credential.label,
        status=credential.status,
        key_algorithm=credential.key_algorithm,
        key_bits=key_size_bits(credential),
        keystore=credential.keystore,
        serial=credential.serial,
        subject=subject,
        issuer=cert.issuer.rfc4514_string() if cert else None,
        not_before=cert.not_valid_before_utc if cert else None,
        not_after=cert.not_valid_after_utc if cert else None,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode() if cert else None,
        chain_pem=[c.public_bytes(serialization.Encoding.PEM).decode() for c in chain],
        signature_algorithms=signature_algorithms(credential),
        csr_pem=credential.csr_pem,
        revoked_at=credential.revoked_at,
        revocation_reason=credential.revocation_reason,
    )


def user_public(user: User) -> UserPublic:
    """A user for the admin API."""
    return UserPublic.model_validate(user, from_attributes=True)


def device_public(device: Device) -> DevicePublic:
    """A device for the admin API."""
    return DevicePublic.model_validate(device, from_attributes=True)


_RELYING_SYSTEMS = RelyingSystem.__table__  # type: ignore[attr-defined]
_CREDENTIALS = Credential.__table__  # type: ignore[attr-defined]
# Built once: statement construction is a noticeable share of a request's CPU time.
_NAMES = select(_RELYING_SYSTEMS.c.id, _RELYING_SYSTEMS.c.name).where(
    _RELYING_SYSTEMS.c.id.in_(bindparam("ids", expanding=True))
)
_SUMMARIES = select(
    _CREDENTIALS.c.id,
    _CREDENTIALS.c.label,
    _CREDENTIALS.c.key_algorithm,
    _CREDENTIALS.c.serial,
    _CREDENTIALS.c.certificate_der,
).where(_CREDENTIALS.c.id.in_(bindparam("ids", expanding=True)))


@lru_cache(maxsize=1024)
def _certificate_fields(certificate_der: bytes) -> tuple[str, str, datetime, dict[str, Any]]:
    """Masked subject, issuer, end of validity and masked identity of a certificate (parsed once per
    certificate, not per request). The phone shows the holder; it never needs the whole number."""
    cert = x509.load_der_x509_certificate(certificate_der)
    return (
        mask_personal_numbers(cert.subject.rfc4514_string()),
        cert.issuer.rfc4514_string(),
        cert.not_valid_after_utc,
        SignerIdentity.from_certificate(cert).to_dict(),
    )


# What the phone shows of a relying system (its name) and of a credential (label, certificate), kept a
# few seconds per process: every confirmation answers with them, and they change only by an admin's
# rename or a re-issued certificate, which the phone may show a few seconds late.
DISPLAY_CACHE_SECONDS = 10.0
_display_names: dict[str, tuple[float, str]] = {}
_display_credentials: dict[str, tuple[float, CredentialSummary]] = {}


def _fresh(cache: dict[str, tuple[float, Any]], key: str, now: float) -> Any:
    found = cache.get(key)
    return found[1] if found is not None and now - found[0] < DISPLAY_CACHE_SECONDS else None


def _remember(cache: dict[str, tuple[float, Any]], key: str, value: Any, now: float) -> None:
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now, value)


def mobile_sessions(ctx: ServerContext, rows: list[SigningSession]) -> list[MobileSession]:
    """Requests as the phone shows them: who asks, what, with which credential, time left."""
    if not rows:
        return []
    clock = time.monotonic()
    names = {cid: name for cid in {r.client_id for r in rows} if (name := _fresh(_display_names, cid, clock))}
    credentials: dict[str, CredentialSummary] = {
        cid: summary
        for cid in {r.credential_id for r in rows}
        if (summary := _fresh(_display_credentials, cid, clock)) is not None
    }
    missing_names = list({r.client_id for r in rows} - names.keys())
    missing_credentials = list({r.credential_id for r in rows} - credentials.keys())
    if missing_names or missing_credentials:
        with ctx.db.read() as session:
            if missing_names:
                for cid, name in session.execute(_NAMES, {"ids": missing_names}).tuples():
                    names[cid] = name
                    _remember(_display_names, cid, name, clock)
            rows_ = session.execute(_SUMMARIES, {"ids": missing_credentials}) if missing_credentials else ()
            for cred in rows_:
                subject, issuer, not_after, identity = (
                    _certificate_fields(bytes(cred.certificate_der))
                    if cred.certificate_der
                    else (None, None, None, None)
                )
                credentials[cred.id] = CredentialSummary(
                    id=cred.id,
                    label=cred.label,
                    key_algorithm=cred.key_algorithm,
                    subject=subject,
                    issuer=issuer,
                    serial=cred.serial,
                    not_after=not_after,
                    identity=identity,
                )
                _remember(_display_credentials, cred.id, credentials[cred.id], clock)
    now = utcnow()
    result = []
    for row in rows:
        left = int((row.expires_at - now).total_seconds()) if row.status == "pending" else 0
        result.append(
            MobileSession(
                id=row.id,
                status=row.status,
                relying_system=RelyingSystemSummary(id=row.client_id, name=names.get(row.client_id, row.client_id)),
                description=row.description,
                documents=[i["name"] for i in row.items if i["name"]],  # never a placeholder name
                item_count=len(row.items),
                previews=[n for n, i in enumerate(row.items) if i.get("preset")],
                fingerprint=fingerprint(row.items_digest),
                confirmation_code=row.confirmation_code,
                credential=credentials.get(row.credential_id)
                or CredentialSummary(
                    id=row.credential_id,
                    label="",
                    key_algorithm="",
                    subject=None,
                    issuer=None,
                    serial=None,
                    not_after=None,
                ),
                created_at=row.created_at,
                expires_at=row.expires_at,
                seconds_left=max(0, left),
                completed_at=row.completed_at,
                reason=row.reason,
            )
        )
    return result
