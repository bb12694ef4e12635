"""A small PKI built by the tests themselves: root, issuing CA, signer, TSA; CRLs and OCSP answers on demand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from esign.pki.ca import CertificateAuthority
from esign.pki.keys import CAPrivateKey, generate_key
from esign.pki.revocation import OCSPResponder, Revocation, make_crl
from esign.pki.tsa import TimeStampAuthority


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class SmallPKI:
    root: CertificateAuthority
    ca: CertificateAuthority
    signer: x509.Certificate
    signer_key: CAPrivateKey
    bare_signer: x509.Certificate
    """A signer whose certificate names no CRL distribution point and no OCSP responder."""
    tsa: TimeStampAuthority
    responder: x509.Certificate
    responder_key: CAPrivateKey

    def root_crl(self, revoked: list[Revocation] = ()) -> bytes:  # type: ignore[assignment]
        return make_crl(self.root, list(revoked))

    def ca_crl(self, revoked: list[Revocation] = ()) -> bytes:  # type: ignore[assignment]
        return make_crl(self.ca, list(revoked))

    def ocsp(self, cert: x509.Certificate, revoked: Revocation | None = None) -> bytes:
        responder = OCSPResponder(
            self.ca.certificate,
            self.responder,
            self.responder_key,
            lambda serial: revoked if revoked and serial == revoked.serial_number else None,
        )
        return responder.response_for(cert.serial_number)


def revoked(cert: x509.Certificate, ago: timedelta = timedelta(minutes=5)) -> Revocation:
    return Revocation(cert.serial_number, datetime.now(UTC) - ago, x509.ReasonFlags.key_compromise)


@pytest.fixture(scope="session")
def pki() -> SmallPKI:
    root = CertificateAuthority.create_root(name("Test Root"), generate_key("p256"))
    root.crl_url = "http://127.0.0.1:9/root-crl"
    ca_key = generate_key("p256")
    ca_cert = root.issue_ca(name("Test Issuing CA"), ca_key.public_key())
    ca = CertificateAuthority(
        ca_cert, ca_key, (root.certificate,), ocsp_url="http://127.0.0.1:9/ocsp", crl_url="http://127.0.0.1:9/crl"
    )
    signer_key = generate_key("p256")
    signer = ca.issue_signer(name("Nguyễn Văn A"), signer_key.public_key())
    bare = CertificateAuthority(ca_cert, ca_key, (root.certificate,))
    bare_signer = bare.issue_signer(name("Trần Thị B"), generate_key("p256").public_key())
    tsa_key = generate_key("p256")
    tsa = TimeStampAuthority(bare.issue_tsa(name("Test TSA"), tsa_key.public_key()), tsa_key, (ca_cert,))
    responder_key = generate_key("p256")
    responder = ca.issue_ocsp_responder(name("Test OCSP"), responder_key.public_key())
    return SmallPKI(root, ca, signer, signer_key, bare_signer, tsa, responder, responder_key)
