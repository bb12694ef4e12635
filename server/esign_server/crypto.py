"""Small cryptographic building blocks of the service: sealing secrets at rest, bearer tokens.

Secrets the service must read back (TOTP secrets, webhook keys, software private keys) are sealed
with AES-256-GCM under the master key; the associated data names what the blob belongs to, so a
sealed value copied onto another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from esign.errors import KeyAccessError

_VERSION = b"\x01"


class Sealer:
    """AES-256-GCM with a random 96-bit nonce: ``seal(data, aad)`` -> ``version || nonce || ciphertext``."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` bound to ``associated_data``."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        """Decrypt a :meth:`seal` result; raises :class:`KeyAccessError` when it was altered or moved."""
        if len(sealed) < 29 or sealed[:1] != _VERSION:
            raise KeyAccessError("sealed value is malformed")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], associated_data)
        except InvalidTag:
            raise KeyAccessError(
                "sealed value does not open: wrong master key, or the value was altered or moved"
            ) from None


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """SHA-256 hex of a high-entropy token or secret (what the database keeps instead of the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison."""
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AccessTokens:
    """Stateless bearer tokens for relying systems: ``base64(claims).base64(HMAC-SHA256)``.

    Stateless so that every worker can check them without a database round trip.
    """

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._key = hashlib.sha256(b"esign-access-token\x00" + secret.encode()).digest()
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, scopes: list[str], *, now: float | None = None) -> str:
        """A token for ``subject`` (a client id) carrying ``scopes``."""
        issued = int(time.time() if now is None else now)
        claims = {"sub": subject, "scp": scopes, "iat": issued, "exp": issued + self.ttl_seconds}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def check(self, token: str, *, now: float | None = None) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token; None otherwise."""
        body, _, mac = token.partition(".")
        if not body or not mac:
            return None
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not equal(expected, mac):
            return None
        try:
            claims: dict[str, Any] = json.loads(_unb64(body))
        except ValueError:
            return None
        if int(claims.get("exp", 0)) <= (time.time() if now is None else now):
            return None
        return claims
