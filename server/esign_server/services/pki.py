"""The service's own PKI: issue credential certificates, answer OCSP, publish the CRL, time-stamp.

Certificate status comes from the database (credential status), so a suspension or revocation
shows in OCSP and in the CRL at once, on every worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import col, select

from esign.errors import PKIError
from esign.pki import (
    CertificateAuthority,
    DevPKI,
    OCSPResponder,
    Revocation,
    TimeStampAuthority,
    create_dev_pki,
    load_dev_pki,
    load_private_key,
    make_crl,
)
from esign.pki.dev import default_profile
from esign.pki.revocation import revocation_reason
from esign.signers.file import load_certificates
from esign.trust import default_store
from esign_server.models import Credential

if TYPE_CHECKING:
    from esign_server.context import ServerContext


def verification_trust(ctx: ServerContext) -> tuple[list[Any], list[bytes]]:
    """The trust anchors and CRLs the server verifies signatures against (``POST /api/verify``, the
    exchange node's envelope check): the default store (Vietnam's roots), the service's own root and
    ``ESIGN_VERIFY_TRUST_ANCHORS``; the service CA's fresh CRLs decide its own signers' revocation, so
    verification never fetches anything."""
    anchors: list[Any] = [*default_store().certificates(), ctx.pki.root]
    for path in ctx.settings.verify_trust_anchors:
        anchors.extend(load_certificates(path))
    return anchors, [ctx.pki.crl(), ctx.pki.root_crl()]


def pki_base_url(public_url: str) -> str:
    """Where the PKI endpoints live; embedded in every certificate the service issues."""
    return public_url.rstrip("/") + "/pki"


def service_profile(*, dev_mode: bool) -> dict[str, Any]:
    """The certificate profile of a new service CA: the dev PKI's in dev mode; outside it the same keys
    and lifetimes under production names (nothing called "Dev") and no sample signers."""
    profile = default_profile()
    if dev_mode:
        return profile
    names = {
        "root": "esign Root CA",
        "issuing_ca": "esign Issuing CA",
        "tsa": "esign Time-Stamping Unit",
        "ocsp": "esign OCSP Responder",
    }
    for part, common_name in names.items():
        profile[part]["subject"] = [["C", "VN"], ["O", "esign remote-signing service"], ["CN", common_name]]
    profile["people"] = {}
    return profile


def ensure_service_pki(directory: Path, password: str, public_url: str, *, dev_mode: bool = True) -> bool:
    """Create the service CA (:func:`service_profile`) unless ``directory`` already holds one."""
    if (directory / "pki.json").exists():
        return False
    profile = service_profile(dev_mode=dev_mode)
    create_dev_pki(directory, password, base_url=pki_base_url(public_url), profile=profile)
    return True


class ServicePKI:
    """The issuing CA, the OCSP responder (status from the database) and the TSA of the service."""

    def __init__(
        self,
        ctx: ServerContext,
        issuing_ca: CertificateAuthority,
        root: x509.Certificate,
        tsa: TimeStampAuthority,
        ocsp_certificate: x509.Certificate,
        ocsp_key: Any,
        file_status: Any,
    ) -> None:
        self._ctx = ctx
        self.issuing_ca = issuing_ca
        self.root = root
        self.tsa = tsa
        self._file_status = file_status
        self.ocsp = OCSPResponder(issuing_ca.certificate, ocsp_certificate, ocsp_key, self.status)
        self._dev: DevPKI | None = None  # set by load(): holds the root key for fresh root CRLs

    @classmethod
    def load(cls, ctx: ServerContext) -> ServicePKI:
        """Load the PKI directory named by the settings."""
        directory = ctx.settings.resolved_pki_dir
        if not (directory / "pki.json").exists():
            raise PKIError(f"no service CA in {directory}; run `esign server init` first")
        dev = load_dev_pki(directory, ctx.settings.pki_password)
        ocsp_cert = x509.load_pem_x509_certificate((directory / "ocsp.pem").read_bytes())
        ocsp_key = load_private_key(directory / "ocsp.key.pem", ctx.settings.pki_password)
        pki = cls(ctx, dev.issuing_ca, dev.root_cert, dev.tsa, ocsp_cert, ocsp_key, dev.revocations)
        pki._dev = dev
        return pki

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Issuing CA then root."""
        return (self.issuing_ca.certificate, self.root)

    def chain_pem(self) -> str:
        """The chain as PEM text."""
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)

    def status(self, serial_number: int) -> Revocation | None:
        """Revocation of a serial: revoked or suspended (certificateHold) credentials, from the database."""
        with self._ctx.db.read() as session:
            cred = session.exec(select(Credential).where(Credential.serial == format(serial_number, "x"))).first()
        if cred is not None and cred.status in ("revoked", "suspended") and cred.revoked_at is not None:
            reason = "certificate_hold" if cred.status == "suspended" else (cred.revocation_reason or "unspecified")
            return Revocation(serial_number, cred.revoked_at.replace(microsecond=0), revocation_reason(reason))
        found: Revocation | None = self._file_status.status(serial_number)
        return found

    def revocations(self) -> list[Revocation]:
        """Every revoked or suspended certificate of the issuing CA."""
        with self._ctx.db.read() as session:
            rows = session.exec(select(Credential).where(col(Credential.status).in_(("revoked", "suspended")))).all()
        result = [
            Revocation(
                int(c.serial, 16),
                (c.revoked_at or datetime.now(UTC)).replace(microsecond=0),
                revocation_reason(
                    "certificate_hold" if c.status == "suspended" else c.revocation_reason or "unspecified"
                ),
            )
            for c in rows
            if c.serial
        ]
        result.extend(self._file_status.all())
        return result

    def crl(self) -> bytes:
        """A fresh DER CRL."""
        return make_crl(self.issuing_ca, self.revocations())

    def root_crl(self) -> bytes:
        """A fresh DER CRL of the root (it covers the issuing CA), issued now."""
        if self._dev is not None:
            return self._dev.root_crl()
        return (self._ctx.settings.resolved_pki_dir / "root-crl.der").read_bytes()
