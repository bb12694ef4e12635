"""The software keystore's batch signing and its cache of opened keys (issue 23, seal batches)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_server.keystore.software import SoftwareKeyStore

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import KeyAccessError


def test_sign_digests_verify_in_order_with_each_key_type() -> None:
    store = SoftwareKeyStore(os.urandom(32))
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(5)]
    for algorithm, scheme in (("p256", SignatureScheme.ECDSA), ("rsa2048", SignatureScheme.RSA_PKCS1V15)):
        made = store.generate("cred-" + algorithm, algorithm)
        sig_alg = SignatureAlgorithm(scheme, DigestAlgorithm.SHA256)
        signatures = store.sign_digests("cred-" + algorithm, made.key_ref, digests, sig_alg)
        assert len(signatures) == len(digests)
        for digest, signature in zip(digests, signatures, strict=True):
            if scheme is SignatureScheme.ECDSA:
                made.public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                made.public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def test_cached_key_is_used_only_for_the_wrapped_key_it_was_opened_from() -> None:
    store = SoftwareKeyStore(os.urandom(32))
    first = store.generate("cred-1", "p256")
    algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, DigestAlgorithm.SHA256)
    digest = hashlib.sha256(b"invoice").digest()
    store.sign_digest("cred-1", first.key_ref, digest, algorithm)  # opened and cached
    # Another process replaced the credential's key: the cached key must not sign for the new one.
    second = store.generate("cred-1", "p256")
    signature = store.sign_digest("cred-1", second.key_ref, digest, algorithm)
    second.public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_cached_key_expires_after_its_ttl() -> None:
    store = SoftwareKeyStore(os.urandom(32), cache_ttl=0.0)
    made = store.generate("cred-2", "p256")
    algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, DigestAlgorithm.SHA256)
    digest = hashlib.sha256(b"x").digest()
    store.sign_digest("cred-2", made.key_ref, digest, algorithm)
    # With a TTL of zero every use opens the wrapped key again: a wrong wrapped key now fails to open.
    broken = bytes(made.key_ref[:-1]) + bytes([made.key_ref[-1] ^ 1])
    with pytest.raises(KeyAccessError, match="does not open"):
        store.sign_digest("cred-2", broken, digest, algorithm)
