"""ECDSA signatures arrive as DER or as raw r || s; a raw r beginning with 0x30 is still raw."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.signers.base import ecdsa_der_readings, verified_signature

P256_SHA256 = SignatureAlgorithm(SignatureScheme.ECDSA, DigestAlgorithm.SHA256)


def raw_signature_looking_like_der(key: ec.EllipticCurvePrivateKey, digest: bytes) -> tuple[bytes, bytes]:
    """A signature whose raw form begins with 0x30, DER's first byte (about one signature in 256)."""
    while True:
        der = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if raw[0] == 0x30:
            return raw, der


def test_raw_r_beginning_with_0x30_is_read_as_raw_and_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"hoa don dien tu").digest()
    raw, der = raw_signature_looking_like_der(key, digest)
    assert der in ecdsa_der_readings(key.public_key(), raw)
    assert verified_signature(key.public_key(), raw, digest, P256_SHA256) == der
    assert verified_signature(key.public_key(), der, digest, P256_SHA256) == der
    # Not a signature over this digest in either form: refused.
    assert verified_signature(key.public_key(), raw, hashlib.sha256(b"other").digest(), P256_SHA256) is None
