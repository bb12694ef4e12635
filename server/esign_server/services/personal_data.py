"""A user's personal data on request: export everything held, and erasure where the law allows.

Erasure is refused while the user holds a live credential (active, suspended, awaiting its
certificate) and during the retention period after the last certificate was revoked or expired
(``ESIGN_PERSONAL_DATA_RETENTION_DAYS``: certificate records outlive the certificates). It then
blanks the personal fields, drops the sealed identity data, destroys the keys (crypto-shredding:
the wrapped key, or the key on the HSM) and the TOTP secrets, and deletes the documents of the
user's signing sessions. Serial numbers and revocation states stay, so OCSP and the CRL keep
answering "revoked". The audit log is not touched: it never held raw personal numbers, only
pseudonymous ids and masked values, so its hash chain stays verifiable.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete
from sqlmodel import Session, col, select

from esign_server.db import utcnow
from esign_server.models import (
    AuditEvent,
    Credential,
    Device,
    IdentityVerification,
    SessionDocument,
    SigningSession,
    User,
)
from esign_server.services import audit
from esign_server.services.credentials import certificate_of
from esign_server.services.errors import Conflict, NotFound
from esign_server.services.identity import mask_reference, open_verification

if TYPE_CHECKING:
    from esign_server.context import ServerContext

log = logging.getLogger("esign_server.personal_data")

ERASED_NAME = "(erased)"
"""What an erased user's name reads (the column is required)."""
_LIVE = ("active", "suspended", "awaiting_certificate")
_CHUNK = 500


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _audit_events(session: Session, targets: list[str]) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    for start in range(0, len(targets), _CHUNK):
        chunk = targets[start : start + _CHUNK]
        events.extend(session.exec(select(AuditEvent).where(col(AuditEvent.target).in_(chunk))).all())
    return sorted(events, key=lambda e: e.seq)


def export_user(ctx: ServerContext, *, user_id: str, actor: str) -> dict[str, Any]:
    """Everything the service holds about a user, as JSON-ready data.

    Document numbers and eKYC references are shown masked (they are kept sealed and never leave
    the service whole); keys and TOTP secrets are never exported.
    """
    with ctx.db.read() as session:
        user = _user(session, user_id)
        verifications = session.exec(
            select(IdentityVerification)
            .where(IdentityVerification.user_id == user_id)
            .order_by(col(IdentityVerification.created_at))
        ).all()
        creds = session.exec(
            select(Credential).where(Credential.user_id == user_id).order_by(col(Credential.created_at))
        ).all()
        devices = session.exec(select(Device).where(Device.user_id == user_id).order_by(col(Device.created_at))).all()
        sessions = session.exec(
            select(SigningSession).where(SigningSession.user_id == user_id).order_by(col(SigningSession.created_at))
        ).all()
        targets = [
            f"user:{user_id}",
            *(f"credential:{c.id}" for c in creds),
            *(f"device:{d.id}" for d in devices),
            *(f"session:{s.id}" for s in sessions),
        ]
        events = _audit_events(session, targets)
    result: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "user": {
            "id": user.id,
            "full_name": user.full_name,
            "cccd": user.cccd,
            "tax_code": user.tax_code,
            "email": user.email,
            "phone": user.phone,
            "organization": user.organization,
            "status": user.status,
            "created_at": _iso(user.created_at),
        },
        "identity_verifications": [_verification_export(ctx, v) for v in verifications],
        "credentials": [_credential_export(c) for c in creds],
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "status": d.status,
                "created_at": _iso(d.created_at),
                "activated_at": _iso(d.activated_at),
            }
            for d in devices
        ],
        "signing_sessions": [
            {
                "id": s.id,
                "relying_system": s.client_id,
                "kind": s.kind,
                "status": s.status,
                "credential_id": s.credential_id,
                "created_at": _iso(s.created_at),
                "completed_at": _iso(s.completed_at),
                "description": s.description,
                "items": [{"name": i.get("name", ""), "digest": i.get("digest", "")} for i in s.items],
                "reason": s.reason,
            }
            for s in sessions
        ],
        "audit_events": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "details": e.details,
            }
            for e in events
        ],
    }
    with ctx.db.write() as session:
        audit.record(session, actor=actor, action="user.exported", target=f"user:{user_id}")
    return result


def _verification_export(ctx: ServerContext, row: IdentityVerification) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": row.id,
        "method": row.method,
        "document_kind": row.document_kind,
        "document_number": row.document_masked,
        "provider": row.provider,
        "reference": None,
        "status": row.status,
        "verified_at": _iso(row.verified_at),
        "verified_by": row.verified_by,
        "identity": None,
    }
    if row.sealed is not None:
        opened = open_verification(ctx, row)
        entry["identity"] = asdict(opened.identity)
        entry["reference"] = mask_reference(opened.reference) if opened.reference else None
    return entry


def _credential_export(cred: Credential) -> dict[str, Any]:
    cert = certificate_of(cred)
    return {
        "id": cred.id,
        "label": cred.label,
        "status": cred.status,
        "key_algorithm": cred.key_algorithm,
        "serial": cred.serial,
        "subject": cert.subject.rfc4514_string() if cert else None,
        "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode() if cert else None,
        "csr_pem": cred.csr_pem,
        "created_at": _iso(cred.created_at),
        "revoked_at": _iso(cred.revoked_at),
        "revocation_reason": cred.revocation_reason,
    }


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed."""

    user_id: str
    credentials: int
    """Credentials whose key, certificate and CSR were destroyed (serial and status kept)."""
    devices: int
    verifications: int
    sessions: int
    documents: int


def _retention_end(ctx: ServerContext, creds: list[Credential]) -> datetime | None:
    """When the retention period after the user's last certificate ends (None: no certificate ever)."""
    ends: list[datetime] = []
    for cred in creds:
        cert = certificate_of(cred)
        end = cred.revoked_at
        if cert is not None and (end is None or cert.not_valid_after_utc < end):
            end = cert.not_valid_after_utc
        if end is not None:
            ends.append(end)
    if not ends:
        return None
    return max(ends) + timedelta(days=ctx.settings.personal_data_retention_days)


def erase_user(ctx: ServerContext, *, user_id: str, actor: str, now: datetime | None = None) -> Erasure:
    """Erase a user's personal data where the law allows (see the module docstring); 409 otherwise."""
    now = now or utcnow()
    with ctx.db.read() as session:
        user = _user(session, user_id)
        creds = list(session.exec(select(Credential).where(Credential.user_id == user_id)).all())
    if user.status == "erased":
        raise Conflict(f"user {user_id} is already erased", code="already_erased")
    live = [c.id for c in creds if c.status in _LIVE]
    if live:
        raise Conflict(
            f"user {user_id} holds {len(live)} live credential(s) ({', '.join(live)}): revoke them first; "
            "their certificates must stay checkable",
            code="credentials_active",
        )
    until = _retention_end(ctx, creds)
    if until is not None and until > now:
        raise Conflict(
            f"certificate records of user {user_id} are kept until {until.date().isoformat()} "
            f"(retention period of {ctx.settings.personal_data_retention_days} days after the last certificate "
            "ended); erasure is refused before that",
            code="retention_period",
            erasable_after=until.isoformat(),
        )
    with ctx.db.write() as session:
        locked = session.exec(select(User).where(User.id == user_id).with_for_update()).one()
        if locked.status == "erased":
            raise Conflict(f"user {user_id} is already erased", code="already_erased")
        fresh = list(session.exec(select(Credential).where(Credential.user_id == user_id)).all())
        if any(c.status in _LIVE for c in fresh):
            raise Conflict(f"user {user_id} got a live credential meanwhile", code="credentials_active")
        locked.full_name = ERASED_NAME
        locked.cccd = locked.tax_code = locked.email = locked.phone = locked.organization = None
        locked.status = "erased"
        session.add(locked)
        verifications = session.exec(select(IdentityVerification).where(IdentityVerification.user_id == user_id)).all()
        for v in verifications:
            v.sealed = None
            v.identity_digest = None
            v.document_masked = None
            v.status = "erased"
            session.add(v)
        for cred in fresh:
            cred.key_ref = b""
            cred.certificate_der = None
            cred.csr_pem = None
            cred.chain_pem = ""
            cred.label = ""
            session.add(cred)
        devices = session.exec(select(Device).where(Device.user_id == user_id)).all()
        unpaired = [d.id for d in devices]
        for device in devices:
            device.totp_secret_enc = b""
            device.name = ""
            device.status = "revoked"
            device.device_token_hash = None
            device.enrollment_token_hash = None
            session.add(device)
        rows = session.exec(select(SigningSession).where(SigningSession.user_id == user_id)).all()
        session_ids = [r.id for r in rows]
        for row in rows:
            row.description = None
            row.reason = None
            row.callback_url = None
            row.items = [{**i, "name": ""} for i in row.items]
            session.add(row)
        documents = 0
        for start in range(0, len(session_ids), _CHUNK):
            chunk = session_ids[start : start + _CHUNK]
            result = session.execute(delete(SessionDocument).where(col(SessionDocument.session_id).in_(chunk)))
            documents += int(getattr(result, "rowcount", 0) or 0)
        erasure = Erasure(user_id, len(fresh), len(devices), len(verifications), len(rows), documents)
        audit.record(
            session,
            actor=actor,
            action="user.erased",
            target=f"user:{user_id}",
            credentials=erasure.credentials,
            devices=erasure.devices,
            verifications=erasure.verifications,
            sessions=erasure.sessions,
            documents=erasure.documents,
        )
    for cred in creds:
        try:
            ctx.keystore(cred.keystore).destroy(cred.id, cred.key_ref)
        except Exception as exc:  # the key is unreachable anyway: its reference is gone from the database
            log.warning("could not destroy key of credential %s in keystore %s: %s", cred.id, cred.keystore, exc)
    ctx.events.publish(*(f"device:{d}" for d in unpaired))  # their open event streams end now
    return erasure
