"""Webhook callbacks to relying systems when a session ends, signed with HMAC-SHA256.

Header ``X-Esign-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``; the
receiver recomputes it with its webhook secret and rejects old timestamps (replay).

Where a webhook may go: only to a URL the admin registered for that relying system
(:func:`register_callback_urls`), ``https`` outside dev mode, and never to a loopback, private,
link-local or otherwise special address unless the operator allow-listed its network
(``ESIGN_WEBHOOK_ALLOWED_NETWORKS``). The host is resolved at each delivery, every address it
resolves to is checked, and the connection goes to the checked address (TLS still verifies the
host's name): a name that resolves elsewhere a moment later (DNS rebinding) gains nothing.
Redirects are not followed.

How it gets there: the transaction that ends a session also writes a row to the ``webhook_outbox``
table (:func:`enqueue_in`: committed iff the session's end is); a dispatcher in each
worker claims due rows (a lease, so a crashed worker's delivery is retried after it), sends them from
a small pool with at most ``webhook_concurrency_per_client`` in flight per relying system, and retries
with backoff (30 s doubling, at most an hour) up to ``webhook_max_attempts``. Rows survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import insert, update
from sqlmodel import col, select

from esign_server.db import StepTransaction, utcnow
from esign_server.models import RelyingSystem, SigningSession, WebhookDelivery
from esign_server.services import audit
from esign_server.services.clients import get_client, webhook_secret
from esign_server.services.errors import NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.config import Settings
    from esign_server.context import ServerContext

SIGNATURE_HEADER = "X-Esign-Signature"
MAX_CALLBACK_URLS = 20
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
log = logging.getLogger("esign_server.webhooks")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(ServiceError):
    """A callback URL that is not registered, not https outside dev mode, or points at a forbidden address."""

    code = "callback_refused"


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


# --- where a webhook may go -------------------------------------------------------------------------


def address_allowed(address: IpAddress, settings: Settings) -> bool:
    """Whether a webhook may connect to ``address``: a public unicast address, or one in an allow-listed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network in settings.webhook_allowed_networks:
        if address in ipaddress.ip_network(network, strict=False):
            return True
    return address.is_global and not address.is_multicast


def check_callback_url(url: str, settings: Settings) -> str:
    """``url`` if a webhook may be registered for it (scheme, form, a literal address's kind).

    :raises CallbackRefused: otherwise, saying why.
    """
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if settings.dev_mode else ("https",)
    if parts.scheme not in allowed_schemes:
        raise CallbackRefused(f"callback URLs must be {' or '.join(allowed_schemes)}: {url[:100]}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise CallbackRefused(f"a callback URL needs a host and no credentials: {url[:100]}")
    try:
        _ = parts.port
    except ValueError:
        raise CallbackRefused(f"the callback URL's port is invalid: {url[:100]}") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url  # a name: its addresses are checked at every delivery
    if not address_allowed(literal, settings):
        raise CallbackRefused(f"callback URLs may not point at {literal} (loopback, private or link-local)")
    return url


def register_callback_urls(ctx: ServerContext, *, client_id: str, urls: list[str], actor: str) -> list[str]:
    """Set the webhook URLs a relying system may name in its sessions (replacing the earlier ones)."""
    if len(urls) > MAX_CALLBACK_URLS:
        raise CallbackRefused(f"at most {MAX_CALLBACK_URLS} callback URLs per relying system")
    checked = sorted({check_callback_url(u, ctx.settings) for u in urls})
    with ctx.db.write() as session:
        client = session.get(RelyingSystem, client_id)
        if client is None:
            raise NotFound(f"no relying system {client_id}", code="client_not_found")
        client.callback_urls = checked
        session.add(client)
        audit.record(
            session, actor=actor, action="client.callback_urls_set", target=f"client:{client_id}", urls=checked
        )
    return checked


def require_registered(ctx: ServerContext, *, client_id: str, url: str) -> None:
    """Refuse a session's ``callback_url`` that the admin did not register for this relying system."""
    with ctx.db.read() as session:
        client = session.get(RelyingSystem, client_id)
    if client is None or url not in (client.callback_urls or []):
        raise CallbackRefused(
            "callback_url is not registered for this relying system (the admin registers them)",
            code="callback_not_registered",
        )
    check_callback_url(url, ctx.settings)


def _resolve_checked(host: str, port: int, settings: Settings) -> IpAddress:
    """The address to connect to: every address ``host`` resolves to must be allowed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CallbackRefused(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    refused = [a for a in addresses if not address_allowed(a, settings)]
    if not addresses or refused:
        raise CallbackRefused(f"{host} resolves to a forbidden address ({refused[0] if refused else 'none'})")
    return addresses[0]


# --- the outbox ------------------------------------------------------------------------------------


_OUTBOX = WebhookDelivery.__table__  # type: ignore[attr-defined]
_OUTBOX_COLUMNS = (
    "id",
    "client_id",
    "session_id",
    "url",
    "event",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_INSERT_DELIVERY = insert(_OUTBOX)


def enqueue_in(session: StepTransaction, row: SigningSession) -> str | None:
    """Write the webhook of a session that has just ended to the outbox, in ``session``'s transaction:
    the one that moves the session to its final state, so the row is committed iff that state is (a
    crash between two commits would lose the webhook). Its id (None without a callback URL)."""
    if not row.callback_url:
        return None
    delivery_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(
        _INSERT_DELIVERY,
        {
            "id": delivery_id,
            "client_id": row.client_id,
            "session_id": row.id,
            "url": row.callback_url,
            "event": f"session.{row.status}",
            "body": payload(row),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    return delivery_id


def deliver_later(ctx: ServerContext) -> None:
    """Wake the dispatcher (off the caller's thread) once a session's end, and its outbox row, committed."""
    _dispatcher(ctx).pool.submit(_dispatch_logged, ctx)


def _dispatch_logged(ctx: ServerContext) -> None:
    try:
        dispatch_due(ctx)
    except Exception:
        log.exception("webhook dispatch failed")


def dispatch_due(ctx: ServerContext) -> int:
    """Claim and start the due deliveries this worker may take now; how many were started."""
    return _dispatcher(ctx).dispatch()


@dataclass(frozen=True)
class _Claimed:
    id: str
    client_id: str
    url: str
    event: str
    body: bytes
    attempts: int


class _Dispatcher:
    """Per server context: the delivery pool and the count of deliveries in flight per relying system."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = weakref.ref(ctx)
        self.pool = ThreadPoolExecutor(max_workers=ctx.settings.webhook_workers, thread_name_prefix="esign-webhook")
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()

    def dispatch(self) -> int:
        ctx = self._ctx()
        if ctx is None:
            return 0
        settings = ctx.settings
        now = utcnow()
        with ctx.db.read() as session:
            due = session.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(200)
            ).all()
        lease = now + timedelta(seconds=settings.webhook_timeout_seconds + 60)
        started = 0
        for row in due:
            with self._lock:
                if self._in_flight[row.client_id] >= settings.webhook_concurrency_per_client:
                    continue  # this relying system has its share in flight: the others go first
                self._in_flight[row.client_id] += 1
            claimed = False
            try:
                with ctx.db.write() as session:
                    # Compare-and-set on the due time: one worker takes it; the lease brings it back
                    # if that worker dies before it records the outcome.
                    result = session.execute(
                        update(WebhookDelivery)
                        .where(
                            col(WebhookDelivery.id) == row.id,
                            col(WebhookDelivery.status) == "pending",
                            col(WebhookDelivery.next_attempt_at) == row.next_attempt_at,
                        )
                        .values(next_attempt_at=lease)
                    )
                    claimed = result.rowcount == 1  # type: ignore[attr-defined]
            finally:
                if not claimed:
                    self._release(row.client_id)
            if claimed:
                job = _Claimed(row.id, row.client_id, row.url, row.event, row.body, row.attempts)
                self.pool.submit(self._attempt, job)
                started += 1
        return started

    def _release(self, client_id: str) -> None:
        with self._lock:
            self._in_flight[client_id] -= 1
            if self._in_flight[client_id] <= 0:
                del self._in_flight[client_id]

    def _attempt(self, job: _Claimed) -> None:
        ctx = self._ctx()
        if ctx is None:
            return
        try:
            error = _send(ctx, job)
            _record_outcome(ctx, job, error)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", job.id)
        finally:
            self._release(job.client_id)
        try:
            self.dispatch()  # this relying system's next delivery, if one waits
        except Exception:
            log.exception("webhook dispatch failed")


_dispatchers: weakref.WeakKeyDictionary[ServerContext, _Dispatcher] = weakref.WeakKeyDictionary()
_dispatchers_lock = threading.Lock()


def _dispatcher(ctx: ServerContext) -> _Dispatcher:
    with _dispatchers_lock:
        found = _dispatchers.get(ctx)
        if found is None:
            found = _dispatchers[ctx] = _Dispatcher(ctx)
        return found


def _send(ctx: ServerContext, job: _Claimed) -> str | None:
    """One attempt; None when the receiver answered 2xx, else what went wrong."""
    try:
        check_callback_url(job.url, ctx.settings)
        parts = urlsplit(job.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _resolve_checked(host, port, ctx.settings)
    except CallbackRefused as exc:
        return exc.message
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    secret = webhook_secret(ctx, get_client(ctx, job.client_id))
    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(secret, job.body, int(time.time())),
        "X-Esign-Event": job.event,
    }
    try:
        # Connected to the checked address; TLS verifies the certificate against the URL's host name.
        with httpx.Client(timeout=ctx.settings.webhook_timeout_seconds, follow_redirects=False) as client:
            request = client.build_request(
                "POST", pinned, content=job.body, headers=headers, extensions={"sni_hostname": host}
            )
            response = client.send(request)
    except httpx.HTTPError as exc:
        return exc.__class__.__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _record_outcome(ctx: ServerContext, job: _Claimed, error: str | None) -> None:
    attempts = job.attempts + 1
    now = utcnow()
    with ctx.db.write() as session:
        row = session.get(WebhookDelivery, job.id)
        if row is None:
            return
        row.attempts = attempts
        if error is None:
            row.status, row.delivered_at, row.last_error = "delivered", now, None
            audit.record(
                session,
                actor="system",
                action="webhook.delivered",
                target=f"session:{row.session_id}",
                attempts=attempts,
            )
        elif attempts >= ctx.settings.webhook_max_attempts:
            row.status, row.last_error = "failed", error[:300]
            audit.record(
                session,
                actor="system",
                action="webhook.failed",
                target=f"session:{row.session_id}",
                attempts=attempts,
                error=error[:200],
            )
        else:
            delay = min(BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
            row.next_attempt_at, row.last_error = now + timedelta(seconds=delay), error[:300]
        session.add(row)
    if error is not None:
        log.warning("webhook %s to %s failed (%s), attempt %d", job.id, job.client_id, error, attempts)
