"""Webhook callbacks to relying systems when a session ends, signed with HMAC-SHA256.

Header ``X-Esign-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``; the
receiver recomputes it with its webhook secret and rejects old timestamps (replay). Delivery runs
in a small thread pool with a few retries, so no request waits for the receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx

from esign_server.models import SigningSession
from esign_server.services import audit
from esign_server.services.clients import get_client, webhook_secret

if TYPE_CHECKING:
    from esign_server.context import ServerContext

SIGNATURE_HEADER = "X-Esign-Signature"
log = logging.getLogger("esign_server.webhooks")
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="esign-webhook")


def sign_payload(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: bytes, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Check a webhook signature header (for receivers and tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign_payload(secret, body, timestamp)
    return hmac.compare_digest(expected, header)


def payload(row: SigningSession) -> bytes:
    """The JSON body announcing a session's end."""
    return json.dumps(
        {
            "event": f"session.{row.status}",
            "session_id": row.id,
            "status": row.status,
            "credential_id": row.credential_id,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        },
        separators=(",", ":"),
    ).encode()


def deliver(ctx: ServerContext, row: SigningSession, *, attempts: int = 3) -> bool:
    """POST the event to the session's callback URL; True when the receiver answered 2xx."""
    if not row.callback_url:
        return False
    secret = webhook_secret(ctx, get_client(ctx, row.client_id))
    body = payload(row)
    for attempt in range(attempts):
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_payload(secret, body, int(time.time())),
            "X-Esign-Event": f"session.{row.status}",
        }
        try:
            response = httpx.post(
                row.callback_url, content=body, headers=headers, timeout=ctx.settings.webhook_timeout_seconds
            )
            if 200 <= response.status_code < 300:
                _audit(ctx, row, delivered=True, status_code=response.status_code)
                return True
            outcome = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            outcome = exc.__class__.__name__
        log.warning("webhook for session %s failed (%s), attempt %d", row.id, outcome, attempt + 1)
        time.sleep(0.5 * 2**attempt)
    _audit(ctx, row, delivered=False, status_code=None)
    return False


def _audit(ctx: ServerContext, row: SigningSession, *, delivered: bool, status_code: int | None) -> None:
    with ctx.db.write() as session:
        audit.record(
            session,
            actor="system",
            action="webhook.delivered" if delivered else "webhook.failed",
            target=f"session:{row.id}",
            status_code=status_code,
        )


def deliver_later(ctx: ServerContext, row: SigningSession) -> None:
    """Queue :func:`deliver` on the webhook thread pool."""
    _pool.submit(deliver, ctx, row)
