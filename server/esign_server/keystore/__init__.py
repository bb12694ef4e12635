"""Where credential keys live: the software keystore (AES-256-GCM wrapped) or a PKCS#11 token.

A keystore makes keys and signs digests with them; a private key never leaves it. The database
keeps only ``key_ref``: the wrapped key (software) or the key's id on the token (PKCS#11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from esign.algorithms import SignatureAlgorithm
from esign.errors import InvalidInput

KEY_ALGORITHMS = ("rsa2048", "rsa3072", "p256", "p384")


@dataclass(frozen=True)
class GeneratedKey:
    """A new key: its public half and the reference the database stores."""

    public_key: Any
    key_ref: bytes


class KeyStore(Protocol):
    """A key backend."""

    name: str

    def generate(self, key_id: str, algorithm: str) -> GeneratedKey:
        """Make a key pair for ``key_id`` (one of :data:`KEY_ALGORITHMS`)."""
        ...

    def sign_digest(self, key_id: str, key_ref: bytes, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign a precomputed digest; ECDSA signatures come back DER-encoded."""
        ...

    def sign_digests(
        self, key_id: str, key_ref: bytes, digests: Sequence[bytes], algorithm: SignatureAlgorithm
    ) -> list[bytes]:
        """Sign several digests with one key, in order (a batch: the key is looked up once)."""
        ...

    def destroy(self, key_id: str, key_ref: bytes) -> None:
        """Destroy the key (erasure): afterwards nothing signs with it."""
        ...


def check_key_algorithm(algorithm: str) -> str:
    """Validate a key algorithm name."""
    if algorithm not in KEY_ALGORITHMS:
        raise InvalidInput(f"unknown key algorithm {algorithm!r}; use one of {', '.join(KEY_ALGORITHMS)}")
    return algorithm


__all__ = ["KEY_ALGORITHMS", "GeneratedKey", "KeyStore", "check_key_algorithm"]
