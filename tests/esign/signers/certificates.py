"""Certificates for the signer tests, made with cryptography directly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def issue_certificate(
    public_key: Any,
    common_name: str,
    issuer_key: Any,
    issuer_name: x509.Name | None = None,
) -> x509.Certificate:
    """A certificate for ``public_key`` signed by ``issuer_key`` (self-signed when it is the matching key)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class SoftwareCA:
    """A software CA that certifies the token's keys."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def issue(self, public_key: Any, common_name: str) -> x509.Certificate:
        return issue_certificate(public_key, common_name, self.key, self.certificate.subject)
