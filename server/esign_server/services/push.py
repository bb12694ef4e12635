"""Web Push to the phone when a request arrives and the app is closed (RFC 8030 + VAPID, RFC 8292).

The operator configures a VAPID key (``ESIGN_VAPID_PRIVATE_KEY``); dev mode makes one and keeps it in
``<var_dir>/vapid-private.pem``. Each device stores its browser's subscription (push service endpoint
and keys); a new session sends each of the user's subscriptions a small encrypted message
(``aes128gcm``, by pywebpush) in the background: push failures never touch the session. A
subscription the push service says is gone (404, 410) is forgotten.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush
from sqlalchemy import delete
from sqlmodel import col, select

from esign_server.models import Device, PushSubscription, RelyingSystem, SigningSession
from esign_server.services import audit
from esign_server.services.errors import ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

log = logging.getLogger("esign_server.push")
PUSH_TTL_SECONDS = 300
"""How long a push service keeps a message for a phone that is off (a request lasts minutes)."""
PUSH_TIMEOUT_SECONDS = 10.0
MAX_SUBSCRIPTIONS_PER_DEVICE = 3
TEXTS = {
    "vi": ("Yêu cầu ký mới", "{name} đề nghị bạn ký {count} tài liệu. Mã đối chiếu {code}."),
    "en": ("New signing request", "{name} asks you to sign {count} document(s). Confirmation code {code}."),
}
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="esign-push")
_keys: dict[str, ec.EllipticCurvePrivateKey] = {}
_keys_lock = threading.Lock()


def _load_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the VAPID key must be a P-256 private key")
    return key


def vapid_key(ctx: ServerContext) -> ec.EllipticCurvePrivateKey | None:
    """The VAPID private key: configured, made once in dev mode, or None (push is off)."""
    settings = ctx.settings
    if settings.vapid_private_key:
        return _load_key(settings.vapid_private_key)
    if not settings.dev_mode:
        return None
    path = settings.var_dir / "vapid-private.pem"
    with _keys_lock:
        cached = _keys.get(str(path))
        if cached is not None:
            return cached
        if path.is_file():
            key = _load_key(path.read_text())
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.write_bytes(pem)
            path.chmod(0o600)
        _keys[str(path)] = key
    return key


def public_key(ctx: ServerContext) -> str | None:
    """The VAPID public key as browsers take it (``applicationServerKey``: base64url, uncompressed point)."""
    key = vapid_key(ctx)
    if key is None:
        return None
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).decode().rstrip("=")


def _check_endpoint(ctx: ServerContext, endpoint: str) -> None:
    url = urlsplit(endpoint)
    # Push services speak HTTPS; plain HTTP only in dev mode (a local endpoint in tests).
    allowed = ("https",) if not ctx.settings.dev_mode else ("https", "http")
    if url.scheme not in allowed or not url.hostname or len(endpoint) > 2000:
        raise ServiceError("the push endpoint must be an https URL of a push service", code="invalid_subscription")


def _check_key(text: str, size: int | None, what: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raw = b""
    if not raw or (size is not None and len(raw) != size):
        raise ServiceError(f"the subscription's {what} key is malformed", code="invalid_subscription")


def subscribe(
    ctx: ServerContext, *, device: Device, endpoint: str, p256dh: str, auth: str, lang: str = "vi"
) -> PushSubscription:
    """Keep (or refresh) a device's push subscription.

    :raises ServiceError: push is off, or the endpoint or keys are malformed.
    """
    if vapid_key(ctx) is None:
        raise ServiceError("push notifications are not configured on this server", code="push_off", status=404)
    _check_endpoint(ctx, endpoint)
    _check_key(p256dh, 65, "p256dh")
    _check_key(auth, 16, "auth")
    with ctx.db.write() as session:
        found = session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
        if found is not None and found.device_id != device.id:
            session.delete(found)  # the browser moved to another pairing
            session.flush()
            found = None
        if found is None:
            count = len(session.exec(select(PushSubscription.id).where(PushSubscription.device_id == device.id)).all())
            if count >= MAX_SUBSCRIPTIONS_PER_DEVICE:
                oldest = session.exec(
                    select(PushSubscription)
                    .where(PushSubscription.device_id == device.id)
                    .order_by(col(PushSubscription.created_at))
                ).first()
                if oldest is not None:
                    session.delete(oldest)
            found = PushSubscription(
                id=str(uuid.uuid4()), device_id=device.id, user_id=device.user_id, endpoint=endpoint, p256dh="", auth=""
            )
        found.p256dh, found.auth, found.lang = p256dh, auth, lang if lang in TEXTS else "vi"
        session.add(found)
        audit.record(session, actor=f"device:{device.id}", action="push.subscribed", target=f"device:{device.id}")
    return found


def unsubscribe(ctx: ServerContext, *, device: Device, endpoint: str) -> bool:
    """Forget a device's subscription; whether there was one."""
    with ctx.db.write() as session:
        found = session.exec(
            select(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.device_id == device.id
            )
        ).first()
        if found is None:
            return False
        session.delete(found)
        audit.record(session, actor=f"device:{device.id}", action="push.unsubscribed", target=f"device:{device.id}")
    return True


def announce(ctx: ServerContext, row: SigningSession) -> None:
    """Queue Web Push messages about a new session; returns at once and never raises."""
    try:
        if ctx.settings.vapid_private_key or ctx.settings.dev_mode:
            _executor.submit(_deliver_logged, ctx, row)
    except Exception:  # a full or closed executor must not fail the session
        log.exception("push: could not queue the messages of session %s", row.id)


def _deliver_logged(ctx: ServerContext, row: SigningSession) -> None:
    try:
        deliver(ctx, row)
    except Exception:
        log.exception("push: delivering session %s failed", row.id)


def deliver(ctx: ServerContext, row: SigningSession) -> int:
    """Send each subscription of ``row``'s user (on active devices) a message; how many push services took it."""
    key = vapid_key(ctx)
    if key is None:
        return 0
    with ctx.db.read() as session:
        subscriptions = session.exec(
            select(PushSubscription)
            .join(Device, col(Device.id) == col(PushSubscription.device_id))
            .where(PushSubscription.user_id == row.user_id, Device.status == "active")
        ).all()
        system = session.get(RelyingSystem, row.client_id)
    vapid = Vapid02(private_key=key)
    sent = 0
    gone: list[str] = []
    for sub in subscriptions:
        title, body = TEXTS.get(sub.lang, TEXTS["vi"])
        payload = {
            "type": "session",
            "session_id": row.id,
            "title": title,
            "body": body.format(
                name=system.name if system else row.client_id, count=len(row.items), code=row.confirmation_code
            ),
        }
        origin = urlsplit(sub.endpoint)
        try:
            webpush(
                subscription_info={"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=json.dumps(payload, ensure_ascii=False),
                vapid_private_key=vapid,
                vapid_claims={"sub": ctx.settings.vapid_subject, "aud": f"{origin.scheme}://{origin.netloc}"},
                ttl=PUSH_TTL_SECONDS,
                timeout=PUSH_TIMEOUT_SECONDS,
            )
            sent += 1
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (404, 410):
                gone.append(sub.id)
            log.warning("push: %s refused the message of session %s (%s)", origin.netloc, row.id, status)
        except Exception as exc:  # an unreachable push service: the live stream still tells an open app
            log.warning("push: cannot reach %s for session %s: %s", origin.netloc, row.id, exc)
    if gone:
        with ctx.db.write() as session:
            session.execute(delete(PushSubscription).where(col(PushSubscription.id).in_(gone)))
    return sent
