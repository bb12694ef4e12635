"""Check the signature of a webhook the server sends when a session ends.

The server signs ``"<t>." + body`` with HMAC-SHA256 under the relying system's webhook secret and
sends ``X-Esign-Signature: t=<unix time>,v1=<hex>``::

    from esign_client import verify_webhook
    if not verify_webhook(WEBHOOK_SECRET, request.body, request.headers["X-Esign-Signature"]):
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Esign-Signature"


def verify_webhook(
    secret: str | bytes, body: bytes, header: str, *, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` is the server's signature of ``body`` made within ``tolerance_seconds``."""
    key = secret.encode() if isinstance(secret, str) else secret
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
