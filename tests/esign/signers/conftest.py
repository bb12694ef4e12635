"""Fixtures for the signer tests: a real SoftHSM2 token with one key of each kind, and certificates."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from esign.signers.pkcs11 import KeyKind, generate_keypair, store_certificate
from tests.esign.signers.certificates import SoftwareCA, issue_certificate
from tests.softhsm import SoftHSMToken, make_softhsm_token

KEY_KINDS: tuple[KeyKind, ...] = ("rsa2048", "rsa3072", "p256", "p384")


@pytest.fixture(scope="session")
def test_ca() -> SoftwareCA:
    key = ec.generate_private_key(ec.SECP256R1())
    return SoftwareCA(key, issue_certificate(key.public_key(), "esign test CA", key))


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHSMToken:
    """A fresh SoftHSM2 token of this test session (user PIN ``1234``)."""
    return make_softhsm_token(tmp_path_factory.mktemp("softhsm"), "esign-signers")


@pytest.fixture(scope="session")
def token_keys(softhsm_token: SoftHSMToken, test_ca: SoftwareCA) -> dict[str, x509.Certificate]:
    """One non-extractable key per kind on the token, labelled by kind, its certificate stored beside it."""
    certificates: dict[str, x509.Certificate] = {}
    with softhsm_token.ref.session(rw=True) as session:
        for kind in KEY_KINDS:
            public_key = generate_keypair(session, kind, kind=kind)
            certificate = test_ca.issue(public_key, f"signer {kind}")
            store_certificate(session, certificate, kind)
            certificates[kind] = certificate
    return certificates
