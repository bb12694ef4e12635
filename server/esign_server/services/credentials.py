"""Credentials: a user's key in the keystore, with a certificate from the service CA or an external CA.

Suspension and revocation are database states; the OCSP responder and the CRL read them, so the
change shows at once.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlmodel import col, select

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.pki.revocation import revocation_reason
from esign.signers.file import load_certificates, order_chain
from esign_server.db import utcnow
from esign_server.keystore import check_key_algorithm
from esign_server.models import Credential, User
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound, ServiceError
from esign_server.services.identity import IdentityData, require_verified

if TYPE_CHECKING:
    from esign_server.context import ServerContext


def subject_for(identity: IdentityData, *, org_code: str | None = None) -> x509.Name:
    """The certificate subject of a verified identity in the Vietnamese conventions (CCCD for people,
    MST otherwise); ``org_code`` goes into an organization's subject as ``organizationIdentifier=VN:<code>``."""
    return identity.subject(org_code=org_code)


def default_signature_algorithm(public_key: Any) -> SignatureAlgorithm:
    """SHA-256 with PKCS#1 v1.5 for RSA, ECDSA with SHA-256/384 by curve."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        digest = DigestAlgorithm.SHA384 if public_key.curve.key_size >= 384 else DigestAlgorithm.SHA256
        return SignatureAlgorithm(SignatureScheme.ECDSA, digest)
    return SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA256)


def public_key_of(credential: Credential) -> Any:
    """The credential's public key."""
    return serialization.load_der_public_key(credential.public_key_der)


def certificate_of(credential: Credential) -> x509.Certificate | None:
    """The credential's certificate, when it has one."""
    return x509.load_der_x509_certificate(credential.certificate_der) if credential.certificate_der else None


def build_csr(ctx: ServerContext, credential: Credential, subject: x509.Name) -> str:
    """A PKCS#10 request signed by the keystore (works for keys that never leave an HSM)."""
    public_key = public_key_of(credential)
    algorithm = default_signature_algorithm(public_key)
    spki = asn1_keys.PublicKeyInfo.load(
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": spki,
            "attributes": [],
        }
    )
    tbs = info.dump()
    signature = ctx.keystore(credential.keystore).sign_digest(
        credential.id, credential.key_ref, algorithm.digest.digest(tbs), algorithm
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": algorithm.name},
            "signature": signature,
        }
    )
    der = request.dump()
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode()


def issue_credential(
    ctx: ServerContext,
    *,
    user_id: str,
    key_algorithm: str = "p256",
    label: str = "",
    external_ca: bool = False,
    keystore: str | None = None,
    org_code: str | None = None,
    replaces: str | None = None,
    actor: str,
) -> Credential:
    """Make a key in the keystore and a certificate from the service CA (or a CSR for an external CA).

    Only for a user whose identity was verified (409 ``identity_not_verified`` otherwise): the subject
    is built from the verified identity, never from request fields. ``org_code``: an organization's
    electronic identifier code, active in the registry, written into the certificate subject
    (organizations only). ``replaces``: the credential this one reissues (recorded in the audit log).
    """
    check_key_algorithm(key_algorithm)
    store = ctx.keystore(keystore)
    with ctx.db.read() as session:
        user = session.get(User, user_id)
    if user is None or user.status != "active":
        raise NotFound(f"no active user {user_id}")
    verified = require_verified(ctx, user)
    if org_code is not None:
        from esign_server.services.orgids import active_code

        org_code = active_code(ctx.db, org_code)
    subject = subject_for(verified.identity, org_code=org_code)
    credential_id = str(uuid.uuid4())
    generated = store.generate(credential_id, key_algorithm)
    credential = Credential(
        id=credential_id,
        user_id=user_id,
        label=label,
        key_algorithm=key_algorithm,
        keystore=store.name,
        key_ref=generated.key_ref,
        public_key_der=generated.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    if external_ca:
        credential.status = "awaiting_certificate"
        credential.csr_pem = build_csr(ctx, credential, subject)
    else:
        pki = ctx.pki
        cert = pki.issuing_ca.issue_signer(subject, generated.public_key, email=verified.identity.email)
        credential.certificate_der = cert.public_bytes(serialization.Encoding.DER)
        credential.chain_pem = pki.chain_pem()
        credential.serial = format(cert.serial_number, "x")
    with ctx.db.write() as session:
        session.add(credential)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="credential.issued",
            target=f"credential:{credential_id}",
            user_id=user_id,
            key_algorithm=key_algorithm,
            keystore=store.name,
            serial=credential.serial,
            external_ca=external_ca,
            org_code=org_code,
            verification_id=verified.verification.id,
            replaces=replaces,
        )
    return credential


def install_certificate(ctx: ServerContext, *, credential_id: str, certificate_pem: str, actor: str) -> Credential:
    """Install the certificate an external CA issued for the credential's CSR (chain may follow it)."""
    certs = load_certificates(certificate_pem.encode())
    with ctx.db.write() as session:
        cred = session.exec(select(Credential).where(Credential.id == credential_id).with_for_update()).first()
        if cred is None:
            raise NotFound(f"no credential {credential_id}")
        if cred.status != "awaiting_certificate":
            raise Conflict(f"credential is {cred.status}; a certificate is installed only once")
        ours = public_key_of(cred).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        leaf = next(
            (
                c
                for c in certs
                if c.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                == ours
            ),
            None,
        )
        if leaf is None:
            raise ServiceError("the certificate is not for this credential's key", code="key_mismatch")
        chain = order_chain(leaf, certs)
        cred.certificate_der = leaf.public_bytes(serialization.Encoding.DER)
        cred.chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
        cred.serial = format(leaf.serial_number, "x")
        cred.status = "active"
        session.add(cred)
        audit.record(
            session,
            actor=actor,
            action="credential.certificate_installed",
            target=f"credential:{credential_id}",
            serial=cred.serial,
        )
    return cred


_TRANSITIONS = {
    "suspend": ({"active"}, "suspended"),
    "resume": ({"suspended"}, "active"),
    "revoke": ({"active", "suspended", "awaiting_certificate"}, "revoked"),
}


def change_status(
    ctx: ServerContext, *, credential_id: str, action: str, reason: str | None = None, actor: str
) -> Credential:
    """Suspend, resume or revoke a credential; revocation is final."""
    if action not in _TRANSITIONS:
        raise ServiceError(f"unknown action {action!r}; use suspend, resume or revoke")
    allowed, target = _TRANSITIONS[action]
    if action == "revoke":
        revocation_reason(reason or "unspecified")  # validate the CRL reason name
    with ctx.db.write() as session:
        cred = session.exec(select(Credential).where(Credential.id == credential_id).with_for_update()).first()
        if cred is None:
            raise NotFound(f"no credential {credential_id}")
        if cred.status not in allowed:
            raise Conflict(f"cannot {action} a credential that is {cred.status}", code="invalid_state")
        cred.status = target
        if target == "active":
            cred.revoked_at = None
            cred.revocation_reason = None
        else:
            cred.revoked_at = utcnow()
            cred.revocation_reason = reason or ("certificate_hold" if action == "suspend" else "unspecified")
        session.add(cred)
        audit.record(
            session,
            actor=actor,
            action=f"credential.{action}",
            target=f"credential:{credential_id}",
            reason=cred.revocation_reason,
            serial=cred.serial,
        )
    return cred


def get_credential(ctx: ServerContext, credential_id: str) -> Credential:
    """A credential by id."""
    with ctx.db.read() as session:
        cred = session.get(Credential, credential_id)
    if cred is None:
        raise NotFound(f"no credential {credential_id}")
    return cred


def list_credentials(ctx: ServerContext, *, user_id: str) -> list[Credential]:
    """A user's credentials, oldest first."""
    with ctx.db.read() as session:
        return list(
            session.exec(
                select(Credential).where(Credential.user_id == user_id).order_by(col(Credential.created_at))
            ).all()
        )


def key_size_bits(credential: Credential) -> int:
    """The key length in bits (RSA modulus, EC curve size)."""
    key = public_key_of(credential)
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return int(key.key_size)
    return 0
