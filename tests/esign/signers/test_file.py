"""FileSigner: PKCS#12 and PEM loading, its errors, the weak-algorithm policy, each scheme."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, KeyAccessError, WeakAlgorithm
from esign.signers import FileSigner
from esign.signers.base import verify_digest_signature
from tests.esign.signers.certificates import SoftwareCA, issue_certificate

DIGEST = DigestAlgorithm.SHA256.digest(b"cong van")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_cert(rsa_key: rsa.RSAPrivateKey, test_ca: SoftwareCA) -> x509.Certificate:
    return test_ca.issue(rsa_key.public_key(), "file signer")


@pytest.fixture
def p12_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate, test_ca: SoftwareCA) -> Path:
    path = tmp_path / "signer.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer",
            rsa_key,
            rsa_cert,
            [test_ca.certificate],
            serialization.BestAvailableEncryption(b"mat-khau"),
        )
    )
    return path


def test_pkcs12_loads_key_certificate_and_chain(
    p12_file: Path, rsa_cert: x509.Certificate, test_ca: SoftwareCA
) -> None:
    signer = FileSigner.from_pkcs12(p12_file, "mat-khau")
    assert signer.certificate == rsa_cert
    assert signer.chain == (test_ca.certificate,)


def test_pkcs12_with_wrong_password_is_key_access_error(p12_file: Path) -> None:
    with pytest.raises(KeyAccessError, match="wrong password"):
        FileSigner.from_pkcs12(p12_file, "sai-mat-khau")


def test_missing_pkcs12_file_is_key_access_error(tmp_path: Path) -> None:
    with pytest.raises(KeyAccessError, match="not found"):
        FileSigner.from_pkcs12(tmp_path / "absent.p12", "x")


def test_key_that_does_not_match_the_certificate_is_invalid_input(
    rsa_cert: x509.Certificate,
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidInput, match="does not match"):
        FileSigner(other, rsa_cert)


def test_rsa_1024_is_refused_unless_weak_keys_are_allowed_by_name() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point of the test
    certificate = issue_certificate(key.public_key(), "old token", key)
    with pytest.raises(WeakAlgorithm, match="RSA-1024"):
        FileSigner(key, certificate)
    signer = FileSigner(key, certificate, allow_weak_keys=True)
    assert signer.public_key.key_size == 1024


async def test_sha1_is_refused_unless_allowed_by_name(rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate) -> None:
    sha1 = SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA1)
    digest = DigestAlgorithm.SHA1.digest(b"legacy")
    with pytest.raises(WeakAlgorithm, match="sha1"):
        await FileSigner(rsa_key, rsa_cert).sign_digest(digest, sha1)
    signature = await FileSigner(rsa_key, rsa_cert, allow_weak=True).sign_digest(digest, sha1)
    assert verify_digest_signature(rsa_cert.public_key(), signature, digest, sha1)


@pytest.mark.parametrize("scheme", [SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS])
@pytest.mark.parametrize("digest_alg", [DigestAlgorithm.SHA256, DigestAlgorithm.SHA512])
async def test_rsa_schemes_sign_and_verify(
    rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate, scheme: SignatureScheme, digest_alg: DigestAlgorithm
) -> None:
    algorithm = SignatureAlgorithm(scheme, digest_alg)
    digest = digest_alg.digest(b"van ban")
    signature = await FileSigner(rsa_key, rsa_cert).sign_digest(digest, algorithm)
    assert verify_digest_signature(rsa_cert.public_key(), signature, digest, algorithm)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
async def test_ecdsa_signs_and_verifies(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    signer = FileSigner(key, issue_certificate(key.public_key(), "ec", key))
    signature = await signer.sign(b"bien ban")
    assert verify_digest_signature(
        key.public_key(), signature, DigestAlgorithm.SHA256.digest(b"bien ban"), signer.algorithm()
    )


async def test_digest_of_the_wrong_length_is_refused(rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        await FileSigner(rsa_key, rsa_cert).sign_digest(b"short")


async def test_ecdsa_requested_of_an_rsa_key_is_refused(rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate) -> None:
    with pytest.raises(InvalidInput, match="RSA key cannot sign with ecdsa"):
        await FileSigner(rsa_key, rsa_cert).sign_digest(DIGEST, SignatureAlgorithm(SignatureScheme.ECDSA))


def test_pem_key_with_certificate_and_chain_loads(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, rsa_cert: x509.Certificate, test_ca: SoftwareCA
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(
        rsa_cert.public_bytes(serialization.Encoding.PEM) + test_ca.certificate.public_bytes(serialization.Encoding.PEM)
    )
    signer = FileSigner.from_pem(key_file, cert_file, password="pw")
    assert signer.certificate == rsa_cert
    assert signer.chain == (test_ca.certificate,)
    with pytest.raises(KeyAccessError, match="wrong password"):
        FileSigner.from_pem(key_file, cert_file, password="nope")
    with pytest.raises(KeyAccessError, match="encrypted"):
        FileSigner.from_pem(key_file, cert_file)
