"""Webhooks as an attacker would use them: to reach the service's own network (SSRF), to starve other
relying systems' deliveries, or to lose them in a restart. Real receivers on loopback, real HTTP."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.db import StepTransaction, utcnow
from esign_server.models import SigningSession, WebhookDelivery
from esign_server.services import sessions, webhooks
from sqlalchemy import update
from sqlmodel import col, select

from .conftest import Integrator, Person, make_settings, register_client


@dataclass
class Receiver:
    """A webhook receiver on loopback; ``gate`` holds every request until it is set."""

    url: str
    received: list[bytes] = field(default_factory=list)
    active: int = 0
    most_active: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[tuple[ThreadingHTTPServer, Receiver]] = []

    def make() -> Receiver:
        state = Receiver(url="")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with state.lock:
                    state.active += 1
                    state.most_active = max(state.most_active, state.active)
                state.gate.wait(20)
                with state.lock:
                    state.active -= 1
                    state.received.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        made.append((server, state))
        return state

    holder: list[Receiver] = []
    holder.append(make())
    holder.append(make())
    yield holder
    for server, state in made:
        state.gate.set()
        server.shutdown()


async def _ended_session(http: httpx.AsyncClient, rp: Integrator, person: Person, text: str, url: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    body = {"credential_id": person.credential_id, "callback_url": url, "items": [{"name": text, "digest": digest}]}
    created = await http.post("/api/sessions", json=body, headers=rp.headers)
    assert created.status_code == 201, created.text
    cancelled = await http.post(f"/api/sessions/{created.json()['id']}/cancel", headers=rp.headers)
    assert cancelled.status_code == 200
    return str(created.json()["id"])


def _wait(predicate: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _outbox(ctx: ServerContext) -> list[WebhookDelivery]:
    with ctx.db.read() as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))).all())


async def test_callback_urls_must_be_registered_https_and_public(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, integrator: Integrator, person: Person
) -> None:
    other = register_client(ctx, ["sessions"], name="Hệ thống khác")
    put = await http.put(
        f"/api/admin/clients/{other.client_id}/callback-urls",
        json={"urls": ["https://hooks.example.vn/esign"]},
        headers=admin.headers,
    )
    assert put.status_code == 200 and put.json() == {"urls": ["https://hooks.example.vn/esign"]}
    # Another relying system's registered URL, or an unregistered internal one, cannot be named.
    for url in ("https://hooks.example.vn/esign", "http://127.0.0.1:8750/api/admin/clients"):
        digest = base64.b64encode(b"\x01" * 32).decode()
        body = {"credential_id": person.credential_id, "callback_url": url, "items": [{"digest": digest}]}
        refused = await http.post("/api/sessions", json=body, headers=integrator.headers)
        assert (refused.status_code, refused.json()["error"]) == (400, "callback_not_registered"), refused.text
    # Registration refuses loopback, private, link-local (cloud metadata) and mapped addresses...
    for url in (
        "https://127.0.0.1/x",
        "https://10.0.0.5/x",
        "https://192.168.1.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://0.0.0.0/x",
        "https://user:pw@hooks.example.vn/x",
    ):
        bad = await http.put(
            f"/api/admin/clients/{other.client_id}/callback-urls", json={"urls": [url]}, headers=admin.headers
        )
        assert (bad.status_code, bad.json()["error"]) == (400, "callback_refused"), (url, bad.text)
    # ...and plain http outside dev mode.
    ctx.settings.dev_mode = False
    try:
        plain = await http.put(
            f"/api/admin/clients/{other.client_id}/callback-urls",
            json={"urls": ["http://hooks.example.vn/esign"]},
            headers=admin.headers,
        )
        assert (plain.status_code, plain.json()["error"]) == (400, "callback_refused")
    finally:
        ctx.settings.dev_mode = True


async def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    receiver.gate.set()
    sneaky = receiver.url.replace("127.0.0.1", "localhost")  # a name: allowed at registration
    webhooks.register_callback_urls(ctx, client_id=integrator.client_id, urls=[sneaky], actor="test")
    await _ended_session(http, integrator, person, "ssrf", sneaky)
    assert _wait(lambda: any(d.attempts for d in _outbox(ctx)))
    [delivery] = _outbox(ctx)
    assert delivery.status == "pending" and "forbidden address" in (delivery.last_error or "")
    assert delivery.next_attempt_at > utcnow()  # retried later (the name may resolve elsewhere by then)
    assert receiver.received == []


async def test_the_outbox_survives_a_restart(
    http: httpx.AsyncClient,
    ctx: ServerContext,
    integrator: Integrator,
    person: Person,
    receivers: list[Receiver],
    tmp_path: object,
) -> None:
    receiver = receivers[0]
    receiver.gate.set()
    down = "http://127.0.0.1:9/hooks"  # nothing listens on the discard port
    ctx.settings.webhook_allowed_networks = ["127.0.0.0/8"]
    webhooks.register_callback_urls(ctx, client_id=integrator.client_id, urls=[down, receiver.url], actor="test")
    await _ended_session(http, integrator, person, "restart", down)
    assert _wait(lambda: any(d.attempts for d in _outbox(ctx)))
    [delivery] = _outbox(ctx)
    assert delivery.status == "pending" and delivery.last_error
    # The process goes away; the receiver's address is fixed meanwhile; time passes.
    with ctx.db.write() as session:
        session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery.id)
            .values(url=receiver.url, next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    restarted = ServerContext(
        make_settings(
            ctx.settings.database_url,
            ctx.settings.resolved_pki_dir,
            ctx.settings.var_dir,
            webhook_allowed_networks=["127.0.0.0/8"],
        )
    )
    try:
        assert webhooks.dispatch_due(restarted) == 1
        assert _wait(lambda: _outbox(restarted)[0].status == "delivered")
        assert len(receiver.received) == 1 and b'"status":"rejected"' in receiver.received[0]
        assert _outbox(restarted)[0].attempts == 2
    finally:
        restarted.close()


async def test_one_relying_systems_slow_receiver_does_not_hold_anothers_webhooks(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person, receivers: list[Receiver]
) -> None:
    slow, fast = receivers
    other = register_client(ctx, ["sessions"], name="Hệ thống nhanh")
    ctx.settings.webhook_allowed_networks = ["127.0.0.0/8"]
    webhooks.register_callback_urls(ctx, client_id=integrator.client_id, urls=[slow.url], actor="test")
    webhooks.register_callback_urls(ctx, client_id=other.client_id, urls=[fast.url], actor="test")
    for n in range(12):  # slow's receiver holds every request until released
        await _ended_session(http, integrator, person, f"slow-{n}", slow.url)
    assert _wait(lambda: slow.active == ctx.settings.webhook_concurrency_per_client)
    fast.gate.set()
    await _ended_session(http, other, person, "fast", fast.url)
    # Delivered while all of slow's are still held: a slow receiver holds only its own share.
    assert _wait(lambda: len(fast.received) == 1)
    assert slow.received == [] and slow.most_active == ctx.settings.webhook_concurrency_per_client
    slow.gate.set()
    assert _wait(lambda: len(slow.received) == 12, 30)
    assert slow.most_active == ctx.settings.webhook_concurrency_per_client


async def _pending_session(http: httpx.AsyncClient, rp: Integrator, person: Person, text: str, url: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    body = {"credential_id": person.credential_id, "callback_url": url, "items": [{"name": text, "digest": digest}]}
    created = await http.post("/api/sessions", json=body, headers=rp.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _session(ctx: ServerContext, session_id: str) -> SigningSession:
    with ctx.db.read() as session:
        found = session.get(SigningSession, session_id)
    assert found is not None
    return found


def _deliveries_of(ctx: ServerContext, session_id: str) -> list[WebhookDelivery]:
    return [d for d in _outbox(ctx) if d.session_id == session_id]


class _Injected(Exception):
    """A failure after the session's state change, before its transaction commits."""


async def test_the_webhook_is_queued_iff_the_sessions_end_commits(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    # Nothing listens on the discard port: every row stays in the outbox to be looked at.
    url = "http://127.0.0.1:9/hooks"
    ctx.settings.webhook_allowed_networks = ["127.0.0.0/8"]
    webhooks.register_callback_urls(ctx, client_id=integrator.client_id, urls=[url], actor="test")
    undone, kept, alone = [await _pending_session(http, integrator, person, n, url) for n in ("un", "kept", "alone")]

    def end_then(session_id: str, fail: bool) -> Callable[[StepTransaction], bool]:
        row = _session(ctx, session_id)

        def write(tx: StepTransaction) -> bool:
            assert sessions._finish(tx, row, sessions.REJECTED, now=utcnow(), reason="test")
            if fail:
                raise _Injected(session_id)  # a crash between the state change and the commit
            return True

        return write

    # A failure in the step's transaction rolls back the end and its webhook together.
    for failing in (alone, undone):
        with pytest.raises(_Injected), ctx.db.write() as tx:
            end_then(failing, fail=True)(tx)
        assert _session(ctx, failing).status == sessions.PENDING and _deliveries_of(ctx, failing) == []
    with ctx.db.write() as tx:
        assert end_then(kept, fail=False)(tx) is True
    assert _session(ctx, kept).status == sessions.REJECTED
    [delivery] = _deliveries_of(ctx, kept)
    assert delivery.event == "session.rejected" and b'"status":"rejected"' in delivery.body
    # Through the API: the end and its one outbox row were committed together, before the answer.
    for session_id in (undone, alone):
        cancelled = await http.post(f"/api/sessions/{session_id}/cancel", headers=integrator.headers)
        assert cancelled.status_code == 200
        [delivery] = _deliveries_of(ctx, session_id)
        assert delivery.url == url and delivery.event == "session.rejected"
    assert len(_outbox(ctx)) == 3
