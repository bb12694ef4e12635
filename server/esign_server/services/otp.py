"""RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits) with the matched time step reported.

Knowing which step matched is what makes a code single-use: the device keeps the last accepted step
and only a later one is accepted next time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from urllib.parse import quote, urlencode

from esign_server.crypto import equal

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20
"""160-bit secrets, the length RFC 4226 recommends."""


def new_secret() -> bytes:
    """A fresh 160-bit TOTP secret."""
    return os.urandom(SECRET_BYTES)


def b32(secret: bytes) -> str:
    """The base32 form authenticator apps (and ``oathtool -b``) take."""
    return base64.b32encode(secret).decode().rstrip("=")


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP value for ``counter``."""
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def current_step(now: float | None = None) -> int:
    """The TOTP time step of ``now`` (Unix seconds)."""
    return int((time.time() if now is None else now) // STEP_SECONDS)


def totp(secret: bytes, now: float | None = None) -> str:
    """The code of the current step."""
    return hotp(secret, current_step(now))


def match_step(secret: bytes, code: str, now: float | None = None, *, skew: int = 1) -> int | None:
    """The time step (within ±``skew``) whose code equals ``code``, or None. Every candidate is compared."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    step = current_step(now)
    found = None
    for candidate in range(step - skew, step + skew + 1):
        if equal(hotp(secret, candidate), code):
            found = candidate
    return found


def otpauth_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps import (Key URI Format)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {"secret": b32(secret), "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"
