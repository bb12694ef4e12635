"""Digest and signature algorithms, with the security policy on weak ones.

SHA-1 and MD5 digests, and RSA keys shorter than 2048 bits, are refused unless the caller asks
for them by name (``allow_weak=True`` / ``allow_weak_keys=True``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from esign.errors import InvalidInput, WeakAlgorithm

MIN_RSA_BITS = 2048


class DigestAlgorithm(str, Enum):
    """A message digest, by the lowercase name pyHanko and asn1crypto use."""

    SHA1 = "sha1"
    MD5 = "md5"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"
    SHA3_256 = "sha3_256"
    SHA3_512 = "sha3_512"

    @property
    def is_weak(self) -> bool:
        return self in (DigestAlgorithm.SHA1, DigestAlgorithm.MD5)

    @property
    def digest_size(self) -> int:
        return hashlib.new(self.value).digest_size

    @property
    def oid(self) -> str:
        return _DIGEST_OIDS[self]

    def hash_object(self) -> hashes.HashAlgorithm:
        """The matching :mod:`cryptography` hash instance."""
        return _CRYPTO_HASHES[self]()

    def digest(self, data: bytes) -> bytes:
        """Hash ``data`` in one call."""
        return hashlib.new(self.value, data).digest()


_DIGEST_OIDS = {
    DigestAlgorithm.SHA1: "1.3.14.3.2.26",
    DigestAlgorithm.MD5: "1.2.840.113549.2.5",
    DigestAlgorithm.SHA256: "2.16.840.1.101.3.4.2.1",
    DigestAlgorithm.SHA384: "2.16.840.1.101.3.4.2.2",
    DigestAlgorithm.SHA512: "2.16.840.1.101.3.4.2.3",
    DigestAlgorithm.SHA3_256: "2.16.840.1.101.3.4.2.8",
    DigestAlgorithm.SHA3_512: "2.16.840.1.101.3.4.2.10",
}
_CRYPTO_HASHES: dict[DigestAlgorithm, type[hashes.HashAlgorithm]] = {
    DigestAlgorithm.SHA1: hashes.SHA1,
    DigestAlgorithm.MD5: hashes.MD5,
    DigestAlgorithm.SHA256: hashes.SHA256,
    DigestAlgorithm.SHA384: hashes.SHA384,
    DigestAlgorithm.SHA512: hashes.SHA512,
    DigestAlgorithm.SHA3_256: hashes.SHA3_256,
    DigestAlgorithm.SHA3_512: hashes.SHA3_512,
}
_ALIASES = {"sha-1": "sha1", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512", "sha3-256": "sha3_256"}
_OID_TO_DIGEST = {oid: alg for alg, oid in _DIGEST_OIDS.items()}


def digest_algorithm(name_or_oid: str | DigestAlgorithm, *, allow_weak: bool = False) -> DigestAlgorithm:
    """Resolve a digest by name (``"sha256"``, ``"SHA-256"``) or OID, enforcing the weak-algorithm policy.

    >>> digest_algorithm("SHA-256")
    <DigestAlgorithm.SHA256: 'sha256'>
    """
    if isinstance(name_or_oid, DigestAlgorithm):
        alg = name_or_oid
    else:
        key = name_or_oid.strip().lower()
        key = _ALIASES.get(key, key)
        try:
            alg = _OID_TO_DIGEST.get(key) or DigestAlgorithm(key)
        except ValueError:
            raise InvalidInput(f"unknown digest algorithm {name_or_oid!r}") from None
    if alg.is_weak and not allow_weak:
        raise WeakAlgorithm(f"{alg.value} is refused as insecure; pass allow_weak=True to accept it by name")
    return alg


class SignatureScheme(str, Enum):
    """How the private key is applied to the digest."""

    RSA_PKCS1V15 = "rsa-pkcs1v15"
    RSA_PSS = "rsa-pss"
    ECDSA = "ecdsa"
    ED25519 = "ed25519"


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature scheme with its digest, e.g. RSA PKCS#1 v1.5 with SHA-256."""

    scheme: SignatureScheme
    digest: DigestAlgorithm = DigestAlgorithm.SHA256

    @property
    def oid(self) -> str:
        """The signature-algorithm OID (as CSC ``signAlgo`` and X.509 use)."""
        if self.scheme is SignatureScheme.RSA_PSS:
            return "1.2.840.113549.1.1.10"
        if self.scheme is SignatureScheme.ED25519:
            return "1.3.101.112"
        return _SIG_OIDS[(self.scheme, self.digest)]

    @property
    def name(self) -> str:
        """The asn1crypto/pyHanko mechanism name, e.g. ``sha256_rsa`` or ``sha256_ecdsa``."""
        return {
            SignatureScheme.RSA_PKCS1V15: f"{self.digest.value}_rsa",
            SignatureScheme.RSA_PSS: "rsassa_pss",
            SignatureScheme.ECDSA: f"{self.digest.value}_ecdsa",
            SignatureScheme.ED25519: "ed25519",
        }[self.scheme]


_SIG_OIDS = {
    (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA1): "1.2.840.113549.1.1.5",
    (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA256): "1.2.840.113549.1.1.11",
    (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA384): "1.2.840.113549.1.1.12",
    (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA512): "1.2.840.113549.1.1.13",
    (SignatureScheme.ECDSA, DigestAlgorithm.SHA1): "1.2.840.10045.4.1",
    (SignatureScheme.ECDSA, DigestAlgorithm.SHA256): "1.2.840.10045.4.3.2",
    (SignatureScheme.ECDSA, DigestAlgorithm.SHA384): "1.2.840.10045.4.3.3",
    (SignatureScheme.ECDSA, DigestAlgorithm.SHA512): "1.2.840.10045.4.3.4",
}
_OID_TO_SIG = {oid: key for key, oid in _SIG_OIDS.items()}


def signature_algorithm_from_oid(oid: str, *, allow_weak: bool = False) -> SignatureAlgorithm:
    """Resolve a signature-algorithm OID such as ``1.2.840.113549.1.1.11`` (sha256WithRSAEncryption)."""
    if oid == "1.2.840.113549.1.1.10":
        return SignatureAlgorithm(SignatureScheme.RSA_PSS)
    if oid == "1.3.101.112":
        return SignatureAlgorithm(SignatureScheme.ED25519, DigestAlgorithm.SHA512)
    try:
        scheme, digest = _OID_TO_SIG[oid]
    except KeyError:
        raise InvalidInput(f"unsupported signature algorithm OID {oid}") from None
    return SignatureAlgorithm(scheme, digest_algorithm(digest, allow_weak=allow_weak))


def default_scheme_for_key(public_key: object) -> SignatureScheme:
    """The scheme a key signs with unless told otherwise (PKCS#1 v1.5 for RSA, ECDSA for EC)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return SignatureScheme.RSA_PKCS1V15
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return SignatureScheme.ECDSA
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return SignatureScheme.ED25519
    raise InvalidInput(f"unsupported key type {type(public_key).__name__}")


def check_key_strength(public_key: object, *, allow_weak_keys: bool = False) -> None:
    """Refuse RSA keys under 2048 bits (and EC curves under 256 bits) unless allowed by name."""
    if allow_weak_keys:
        return
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise WeakAlgorithm(
            f"RSA-{public_key.key_size} is too short (minimum {MIN_RSA_BITS}); pass allow_weak_keys=True to accept it"
        )
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < 256:
        raise WeakAlgorithm(f"curve {public_key.curve.name} is too small; pass allow_weak_keys=True to accept it")
