"""Fixtures for the signer tests: a real SoftHSM2 token with one key of each kind, and certificates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esign.signers.pkcs11 import KeyKind, generate_keypair, store_certificate
from tests.softhsm import SoftHSMToken, make_softhsm_token

KEY_KINDS: tuple[KeyKind, ...] = ("rsa2048", "rsa3072", "p256", "p384")


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
class TestCA:
    """A software CA that certifies the token's keys."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def issue(self, public_key: Any, common_name: str) -> x509.Certificate:
        return issue_certificate(public_key, common_name, self.key, self.certificate.subject)


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    key = ec.generate_private_key(ec.SECP256R1())
    return TestCA(key, issue_certificate(key.public_key(), "esign test CA", key))


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHSMToken:
    """A fresh SoftHSM2 token of this test session (user PIN ``1234``)."""
    return make_softhsm_token(tmp_path_factory.mktemp("softhsm"), "esign-signers")


@pytest.fixture(scope="session")
def token_keys(softhsm_token: SoftHSMToken, test_ca: TestCA) -> dict[str, x509.Certificate]:
    """One non-extractable key per kind on the token, labelled by kind, its certificate stored beside it."""
    certificates = {}
    with softhsm_token.ref.session(rw=True) as session:
        for kind in KEY_KINDS:
            public_key = generate_keypair(session, kind, kind=kind)
            certificate = test_ca.issue(public_key, f"signer {kind}")
            store_certificate(session, certificate, kind)
            certificates[kind] = certificate
    return certificates
