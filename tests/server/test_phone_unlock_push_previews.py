"""The phone's PIN (hashed, throttled, audited) that unlocks the app's own codes; document pages
rendered for the preview (capped, cached, with where the Decree 30 mark goes); and Web Push up to the
push service: a local endpoint receives the VAPID-signed, encrypted message, which http_ece decrypts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from esign_server.context import ServerContext
from esign_server.models import AuditEvent, DevicePin, PushSubscription
from esign_server.services import marks
from PIL import Image
from sqlmodel import col, select

from .conftest import Integrator, Person

ROOT = Path(__file__).resolve().parents[2]
LETTER = ROOT / "samples" / "cong-van.pdf"
SIGNATURE_PNG = ROOT / "samples" / "decree30" / "chu-ky.png"


def device_headers(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.device_token}"}


def actions(ctx: ServerContext, prefix: str) -> list[str]:
    with ctx.db.read() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    return [e.action for e in events if e.action.startswith(prefix)]


# ------------------------------------------------------------------------------- PIN


async def test_the_pin_unlocks_the_code_key_and_wrong_pins_lock_it(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    headers = device_headers(person)
    no_pin = await http.post("/api/mobile/unlock", headers=headers, json={"pin": "2468"})
    assert no_pin.status_code == 404 and no_pin.json()["error"] == "no_pin"
    assert (await http.post("/api/mobile/pin", headers=headers, json={"pin": "12ab"})).status_code in (400, 422)
    assert (await http.post("/api/mobile/pin", headers=headers, json={"pin": "2468"})).status_code == 204
    again = await http.post("/api/mobile/pin", headers=headers, json={"pin": "1357"})
    assert again.status_code == 409 and again.json()["error"] == "pin_exists"
    # Hashed at rest (argon2id), never stored as typed.
    with ctx.db.read() as session:
        stored = session.get(DevicePin, person.device_id)
    assert stored is not None and stored.pin_hash.startswith("$argon2id$") and "2468" not in stored.pin_hash

    unlocked = await http.post("/api/mobile/unlock", headers=headers, json={"pin": "2468"})
    assert unlocked.status_code == 200 and unlocked.json()["method"] == "pin"
    # The code key is HMAC-SHA256 of the device's TOTP secret: what the app encrypted its copy under.
    secret = base64.b32decode(person.secret + "=" * (-len(person.secret) % 8))
    expected = hmac.new(secret, b"esign-app-code-key", hashlib.sha256).digest()
    assert base64.b64decode(unlocked.json()["code_key"]) == expected

    for left in (4, 3, 2, 1):
        wrong = await http.post("/api/mobile/unlock", headers=headers, json={"pin": "0000"})
        assert wrong.status_code == 400 and wrong.json() == {
            "error": "invalid_pin",
            "message": "the PIN is wrong",
            "attempts_left": left,
        }
    locked = await http.post("/api/mobile/unlock", headers=headers, json={"pin": "0000"})
    assert locked.status_code == 423 and locked.json()["error"] == "pin_locked"
    assert int(locked.headers["retry-after"]) == 300
    # Locked: even the right PIN is not looked at.
    right = await http.post("/api/mobile/unlock", headers=headers, json={"pin": "2468"})
    assert right.status_code == 423
    assert actions(ctx, "device.pin") + actions(ctx, "device.unlocked") == [
        "device.pin_set",
        *["device.pin_failed"] * 5,
        "device.pin_locked",
        "device.pin_refused",
        "device.unlocked",
    ]
    other = await http.post("/api/mobile/unlock", headers={"Authorization": "Bearer nope"}, json={"pin": "2468"})
    assert other.status_code == 401


# ------------------------------------------------------------------------------- page previews


async def ask_letter(http: httpx.AsyncClient, integrator: Integrator, person: Person) -> dict[str, Any]:
    body = {
        "credential_id": person.credential_id,
        "documents": [
            {
                "name": "cong-van.pdf",
                "format": "pdf",
                "content": base64.b64encode(LETTER.read_bytes()).decode(),
                "options": {"preset": "decree30.person"},
            }
        ],
    }
    created = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


async def test_document_pages_are_rendered_capped_cached_with_the_mark_box(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person, integrator: Integrator, tmp_path: Path
) -> None:
    marks.put_mark(ctx, person.user_id, SIGNATURE_PNG.read_bytes(), actor="test")
    asked = await ask_letter(http, integrator, person)
    headers = device_headers(person)
    listed = await http.get(f"/api/mobile/sessions/{asked['id']}/documents", headers=headers)
    assert listed.status_code == 200, listed.text
    (document,) = listed.json()
    assert document["name"] == "cong-van.pdf" and document["format"] == "pdf"
    assert document["page_count"] >= 1 and 1 <= len(document["pages"]) <= ctx.settings.preview_max_pages
    mark = document["mark"]
    assert 1 <= mark["page"] <= document["page_count"]
    for key in ("left", "top", "width", "height"):
        assert 0 <= mark[key] <= 1
    assert mark["left"] + mark["width"] <= 1 and mark["top"] + mark["height"] <= 1

    url = f"/api/mobile/sessions/{asked['id']}/documents/0/pages/{mark['page']}.png"
    page = await http.get(url, headers=headers)
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(page.content))
    width, height = image.size
    assert width == ctx.settings.preview_width_px and height <= 2 * width
    assert len(page.content) <= ctx.settings.preview_max_bytes
    # The rendering shows the drawn signature inside the mark's box (blue ink where the box says).
    rgb = image.convert("RGB")
    box = (
        int(mark["left"] * width),
        int(mark["top"] * height),
        int((mark["left"] + mark["width"]) * width),
        int((mark["top"] + mark["height"]) * height),
    )
    inside = rgb.crop(box)
    pixels = [
        cast(tuple[int, int, int], inside.getpixel((x, y))) for x in range(inside.width) for y in range(inside.height)
    ]
    assert sum(1 for r, _g, b in pixels if b > 120 and r < 100 and b - r > 60) > 50
    # Cached on disk: the same bytes again, from one file.
    cached = list((ctx.settings.var_dir / "page-previews").rglob("*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == page.content
    assert (await http.get(url, headers=headers)).content == page.content

    # Caps: past the page limit, past the document, and a byte limit no size fits.
    over = await http.get(
        f"/api/mobile/sessions/{asked['id']}/documents/0/pages/{ctx.settings.preview_max_pages + 1}.png",
        headers=headers,
    )
    assert over.status_code == 404 and over.json()["error"] == "page_not_previewed"
    ctx.settings.preview_max_bytes = 60_000
    ctx.settings.preview_width_px = 1999
    smaller = await http.get(url, headers=headers)  # too many bytes at 1999 px: rendered narrower
    assert smaller.status_code == 200 and len(smaller.content) <= 60_000
    assert Image.open(io.BytesIO(smaller.content)).size[0] < 1999
    ctx.settings.preview_max_bytes = 1_000  # no width fits
    too_big = await http.get(url, headers=headers)
    assert too_big.status_code == 413 and too_big.json()["error"] == "preview_too_large"
    missing = await http.get(f"/api/mobile/sessions/{asked['id']}/documents/3/pages/1.png", headers=headers)
    assert missing.status_code == 404
    # Another user's device sees nothing of it.
    from .conftest import enroll_person

    stranger = enroll_person(ctx, cccd="001203012390", name="Trần Văn Bình")
    assert (await http.get(url, headers=device_headers(stranger))).status_code == 404


async def test_a_session_of_hashes_has_no_pages(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    item = {"name": "Tờ khai 05-KK.xml", "digest": base64.b64encode(hashlib.sha256(b"x").digest()).decode()}
    created = await http.post(
        "/api/sessions",
        headers=integrator.headers,
        json={"credential_id": person.credential_id, "items": [item], "description": "Quyết toán thuế"},
    )
    session_id = created.json()["id"]
    listed = await http.get(f"/api/mobile/sessions/{session_id}/documents", headers=device_headers(person))
    assert listed.status_code == 200 and listed.json() == []
    shown = (await http.get(f"/api/mobile/sessions/{session_id}", headers=device_headers(person))).json()
    assert shown["documents"] == ["Tờ khai 05-KK.xml"] and shown["description"] == "Quyết toán thuế"


# ------------------------------------------------------------------------------- Web Push


class PushService(BaseHTTPRequestHandler):
    """A stand-in for a browser vendor's push service: keeps what it receives, answers 201."""

    received: list[tuple[str, dict[str, str], bytes]]
    arrived: threading.Event
    status = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.path, dict(self.headers.items()), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def push_service() -> Iterator[tuple[str, type[PushService]]]:
    handler = type("Handler", (PushService,), {"received": [], "arrived": threading.Event(), "status": 201})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_a_new_request_is_pushed_signed_with_vapid_and_decrypts_with_the_subscription_key(
    http: httpx.AsyncClient,
    ctx: ServerContext,
    person: Person,
    integrator: Integrator,
    push_service: tuple[str, type[PushService]],
) -> None:
    base, service = push_service
    security = (await http.get("/api/mobile/security", headers=device_headers(person))).json()
    vapid_public = security["push_public_key"]
    assert security["has_pin"] is False and security["passkeys"] == []
    assert len(base64.urlsafe_b64decode(vapid_public + "==")) == 65  # dev mode made a P-256 key
    # The browser's side of the subscription: its P-256 key pair and auth secret.
    browser_key = ec.generate_private_key(ec.SECP256R1())
    p256dh = browser_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = b"0123456789abcdef"
    subscription = {
        "endpoint": f"{base}/push/abc",
        "keys": {"p256dh": b64url(p256dh), "auth": b64url(auth)},
        "lang": "en",
    }
    answer = await http.post("/api/mobile/push/subscriptions", headers=device_headers(person), json=subscription)
    assert answer.status_code == 201, answer.text
    bad = {**subscription, "endpoint": "ftp://example.vn/x"}
    assert (
        await http.post("/api/mobile/push/subscriptions", headers=device_headers(person), json=bad)
    ).status_code == 400

    item = {"name": "Hợp đồng.pdf", "digest": base64.b64encode(hashlib.sha256(b"h").digest()).decode()}
    created = await http.post(
        "/api/sessions", headers=integrator.headers, json={"credential_id": person.credential_id, "items": [item]}
    )
    assert created.status_code == 201
    assert service.arrived.wait(20), "the push service received nothing"
    path, headers, body = service.received[0]
    assert path == "/push/abc"
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-encoding"] == "aes128gcm" and headers["ttl"] == "300"
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == vapid_public
    # The VAPID JWT verifies under the server's public key and names this push service.
    header_b64, claims_b64, signature_b64 = fields["t"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=="))
    assert claims["aud"] == base and claims["sub"] == ctx.settings.vapid_subject
    vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), base64.urlsafe_b64decode(vapid_public + "==")
    )
    raw = base64.urlsafe_b64decode(signature_b64 + "==")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    vapid_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    # Only the subscriber can read it: decrypted with the browser's private key and auth secret.
    message = json.loads(http_ece.decrypt(body, private_key=browser_key, auth_secret=auth, version="aes128gcm"))
    assert message["session_id"] == created.json()["id"]
    assert message["title"] == "New signing request"
    assert created.json()["confirmation_code"] in message["body"] and "Cổng dịch vụ công" in message["body"]


async def test_a_failing_push_service_never_breaks_a_request_and_a_gone_subscription_is_dropped(
    http: httpx.AsyncClient,
    ctx: ServerContext,
    person: Person,
    integrator: Integrator,
    push_service: tuple[str, type[PushService]],
) -> None:
    base, service = push_service
    service.status = 410  # the browser unsubscribed
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = b64url(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    for endpoint in (f"{base}/gone", "http://127.0.0.1:9/refused"):  # port 9: nothing listens
        subscription = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": b64url(bytes(16))}}
        answer = await http.post("/api/mobile/push/subscriptions", headers=device_headers(person), json=subscription)
        assert answer.status_code == 201
    item = {"name": "Báo cáo.pdf", "digest": base64.b64encode(hashlib.sha256(b"r").digest()).decode()}
    created = await http.post(
        "/api/sessions", headers=integrator.headers, json={"credential_id": person.credential_id, "items": [item]}
    )
    assert created.status_code == 201
    assert service.arrived.wait(20)
    from esign_server.services import push

    push.deliver(ctx, push_row(ctx, created.json()["id"]))  # once more, synchronously: the 410 was seen
    with ctx.db.read() as session:
        endpoints = [s.endpoint for s in session.exec(select(PushSubscription)).all()]
    assert endpoints == ["http://127.0.0.1:9/refused"]
    remove = await http.post(
        "/api/mobile/push/unsubscribe", headers=device_headers(person), json={"endpoint": endpoints[0]}
    )
    assert remove.status_code == 204
    with ctx.db.read() as session:
        assert session.exec(select(PushSubscription)).all() == []


def push_row(ctx: ServerContext, session_id: str) -> Any:
    from esign_server.models import SigningSession

    with ctx.db.read() as session:
        return session.get(SigningSession, session_id)
