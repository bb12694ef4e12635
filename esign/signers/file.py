"""Keys from files: PKCS#12 bundles and PEM/DER keys with certificates.

The key is parsed (and validated) once, when the signer is made; every signature after that
costs only the private-key operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import pkcs12

from esign.algorithms import SignatureAlgorithm
from esign.errors import InvalidInput, KeyAccessError
from esign.signers.base import Signer, rsa_padding

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _read(source: str | Path | bytes, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyAccessError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise KeyAccessError(f"cannot read {what} file {path}: {exc.strerror}") from None


def _password(password: str | bytes | None) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    return password.encode()


def load_certificates(source: str | Path | bytes) -> list[x509.Certificate]:
    """Read one or more certificates from PEM (a bundle) or DER."""
    data = _read(source, "certificate")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidInput(f"not a certificate: {exc}") from None


def order_chain(certificate: x509.Certificate, others: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Order ``others`` from ``certificate``'s issuer upwards; certificates not on the path are dropped."""
    by_subject = {c.subject: c for c in others if c != certificate}
    chain: list[x509.Certificate] = []
    current = certificate
    while current.issuer != current.subject and current.issuer in by_subject:
        current = by_subject.pop(current.issuer)
        chain.append(current)
    return chain


class FileSigner(Signer):
    """A signer whose private key is held in memory, loaded from a file or bytes."""

    def __init__(
        self,
        private_key: PrivateKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        **policy: bool,
    ) -> None:
        super().__init__(certificate, chain, **policy)
        if private_key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise InvalidInput("the private key does not match the certificate")
        self._key = private_key

    @classmethod
    def from_pkcs12(cls, source: str | Path | bytes, password: str | bytes | None, **policy: bool) -> FileSigner:
        """Load a PKCS#12 (.p12/.pfx) bundle holding the key, its certificate and the chain."""
        data = _read(source, "PKCS#12")
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, _password(password))
        except ValueError as exc:
            text = str(exc).lower()
            if "password" in text or "mac" in text or "decrypt" in text:
                raise KeyAccessError("wrong password for the PKCS#12 file") from None
            raise InvalidInput(f"not a valid PKCS#12 file: {exc}") from None
        if key is None or cert is None:
            raise InvalidInput("the PKCS#12 file holds no private key with its certificate")
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise InvalidInput(f"unsupported key type {type(key).__name__}")
        return cls(key, cert, order_chain(cert, extra), **policy)

    @classmethod
    def from_pem(
        cls,
        key: str | Path | bytes,
        certificate: str | Path | bytes,
        password: str | bytes | None = None,
        chain: str | Path | bytes | None = None,
        **policy: bool,
    ) -> FileSigner:
        """Load a PEM or DER private key, its certificate (PEM may hold the chain too) and optional chain."""
        key_data = _read(key, "key")
        loader = serialization.load_pem_private_key if b"-----BEGIN" in key_data else serialization.load_der_private_key
        try:
            private_key: Any = loader(key_data, _password(password))
        except TypeError as exc:
            raise KeyAccessError(f"the key file is encrypted: give its password ({exc})") from None
        except ValueError as exc:
            text = str(exc).lower()
            if "password" in text or "decrypt" in text or "bad decrypt" in text:
                raise KeyAccessError("wrong password for the key file") from None
            raise InvalidInput(f"not a valid private key: {exc}") from None
        certs = load_certificates(certificate)
        if chain is not None:
            certs += load_certificates(chain)
        return cls(private_key, certs[0], order_chain(certs[0], certs[1:]), **policy)

    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        prehashed = Prehashed(algorithm.digest.hash_object())
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, rsa_padding(algorithm), prehashed)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        raise InvalidInput("this key type does not sign digests")
