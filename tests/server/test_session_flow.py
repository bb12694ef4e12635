"""Signing sessions on hashes, over HTTP: create, confirm on the phone with an oathtool code, fetch."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_server.context import ServerContext
from esign_server.services import audit
from esign_server.services.devices import OtpCheck

from .conftest import Integrator, Person, add_device, enroll_person, oath


def digest_of(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def create(http: httpx.AsyncClient, rp: Integrator, person: Person, *texts: str, **extra: object) -> dict:
    body = {
        "credential_id": person.credential_id,
        "items": [{"name": f"{t}.pdf", "digest": base64.b64encode(digest_of(t)).decode()} for t in texts],
        **extra,
    }
    response = await http.post("/api/sessions", json=body, headers=rp.headers)
    assert response.status_code == 201, response.text
    return response.json()


def device_headers(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.device_token}"}


async def certificate(http: httpx.AsyncClient, rp: Integrator, person: Person) -> x509.Certificate:
    response = await http.get(f"/api/credentials/{person.credential_id}", headers=rp.headers)
    assert response.status_code == 200
    return x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())


async def test_confirmed_session_returns_signatures_that_verify(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    created = await create(http, integrator, person, "hợp đồng", "phụ lục")
    assert created["status"] == "pending"
    assert len(created["confirmation_code"]) == 7

    pending = (await http.get("/api/mobile/sessions", headers=device_headers(person))).json()["sessions"]
    assert [s["id"] for s in pending] == [created["id"]]
    shown = pending[0]
    assert shown["relying_system"]["name"] == "Cổng dịch vụ công"
    assert shown["confirmation_code"] == created["confirmation_code"]
    assert shown["documents"] == ["hợp đồng.pdf", "phụ lục.pdf"]
    assert shown["item_count"] == 2
    assert "CCCD:0012******89" in shown["credential"]["subject"]
    assert shown["credential"]["identity"]["identifiers"][0]["uid"] == "CCCD:0012******89"

    confirmed = await http.post(
        f"/api/mobile/sessions/{created['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers=device_headers(person),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "signed"

    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "signed"
    public_key = (await certificate(http, integrator, person)).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    for text, signature in zip(["hợp đồng", "phụ lục"], fetched["signatures"], strict=True):
        public_key.verify(base64.b64decode(signature), digest_of(text), ec.ECDSA(Prehashed(hashes.SHA256())))


async def test_rsa_credential_signs_pkcs1_v15(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator
) -> None:
    person = enroll_person(ctx, cccd="079088001234", key_algorithm="rsa2048", name="Trần Thị Bình")
    created = await create(http, integrator, person, "tờ khai")
    assert created["signature_algorithm"] == "1.2.840.113549.1.1.11"
    code = oath(person.secret, step_offset=1)
    response = await http.post(
        f"/api/mobile/sessions/{created['id']}/confirm", json={"code": code}, headers=device_headers(person)
    )
    assert response.status_code == 200, response.text
    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    key = (await certificate(http, integrator, person)).public_key()
    key.verify(
        base64.b64decode(fetched["signatures"][0]),
        digest_of("tờ khai"),
        padding.PKCS1v15(),  # type: ignore[union-attr, call-arg]
        Prehashed(hashes.SHA256()),
    )


async def test_replayed_otp_is_refused_and_said_to_be_used(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    first = await create(http, integrator, person, "a")
    second = await create(http, integrator, person, "b")
    code = oath(person.secret, step_offset=1)
    ok = await http.post(
        f"/api/mobile/sessions/{first['id']}/confirm", json={"code": code}, headers=device_headers(person)
    )
    assert ok.status_code == 200
    replay = await http.post(
        f"/api/mobile/sessions/{second['id']}/confirm", json={"code": code}, headers=device_headers(person)
    )
    assert replay.status_code == 400
    assert replay.json() == {
        "error": "otp_already_used",
        "message": "this code was already used; wait for the next code on your phone",
    }
    fetched = (await http.get(f"/api/sessions/{second['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "pending"
    # A reused code is no guess: it does not count towards failing the session.
    for _ in range(6):
        again = await http.post(
            f"/api/mobile/sessions/{second['id']}/confirm", json={"code": code}, headers=device_headers(person)
        )
        assert again.json()["error"] == "otp_already_used"
    fetched = (await http.get(f"/api/sessions/{second['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "pending"


async def test_every_otp_failure_gives_the_same_answer(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    created = await create(http, integrator, person, "x")
    answers = []
    for code in ["000000", oath(person.secret, step_offset=-3), "12345a"]:
        r = await http.post(
            f"/api/mobile/sessions/{created['id']}/confirm", json={"code": code}, headers=device_headers(person)
        )
        answers.append((r.status_code, r.json()))
    assert all(a == (400, {"error": "invalid_otp", "message": "the code is invalid or expired"}) for a in answers)


async def test_five_wrong_codes_fail_the_session_and_lock_the_device(
    http: httpx.AsyncClient, integrator: Integrator, person: Person, ctx: ServerContext
) -> None:
    created = await create(http, integrator, person, "x")
    for _ in range(5):
        r = await http.post(
            f"/api/mobile/sessions/{created['id']}/confirm", json={"code": "000000"}, headers=device_headers(person)
        )
        assert r.json()["error"] == "invalid_otp"
    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "failed"
    assert fetched["signatures"] is None
    # The device is now locked: even the right code is not looked at.
    other = await create(http, integrator, person, "y")
    locked = await http.post(
        f"/api/mobile/sessions/{other['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers=device_headers(person),
    )
    assert locked.status_code == 423
    assert locked.json()["error"] == "device_locked"
    assert int(locked.headers["retry-after"]) > 0
    assert audit.verify_chain(ctx.db).ok


async def test_concurrent_confirms_sign_once(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    second = add_device(ctx, person)
    created = await create(http, integrator, person, "once")

    async def confirm(p: Person) -> httpx.Response:
        return await http.post(
            f"/api/mobile/sessions/{created['id']}/confirm",
            json={"code": oath(p.secret, step_offset=1)},
            headers=device_headers(p),
        )

    results = await asyncio.gather(confirm(person), confirm(second), confirm(person))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, [r.text for r in results]
    with ctx.db.read() as session:
        from esign_server.models import AuditEvent
        from sqlmodel import select

        signed = session.exec(select(AuditEvent).where(AuditEvent.action == "session.signed")).all()
    assert len(signed) == 1


async def test_rejected_session_has_no_signatures(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    created = await create(http, integrator, person, "x")
    r = await http.post(
        f"/api/mobile/sessions/{created['id']}/reject",
        json={"reason": "không phải tôi"},
        headers=device_headers(person),
    )
    assert r.status_code == 200
    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    assert (fetched["status"], fetched["reason"], fetched["signatures"]) == ("rejected", "không phải tôi", None)
    again = await http.post(
        f"/api/mobile/sessions/{created['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers=device_headers(person),
    )
    assert again.status_code == 409
    assert again.json()["error"] == "session_rejected"


async def test_idempotency_key_returns_the_same_session(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    body = {
        "credential_id": person.credential_id,
        "items": [{"name": "a", "digest": base64.b64encode(digest_of("a")).decode()}],
    }
    headers = {**integrator.headers, "Idempotency-Key": "order-42"}
    first = await http.post("/api/sessions", json=body, headers=headers)
    again = await http.post("/api/sessions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    body["description"] = "changed"
    conflict = await http.post("/api/sessions", json=body, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "idempotency_conflict"


async def test_relying_system_sees_only_its_own_sessions(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    from .conftest import register_client

    created = await create(http, integrator, person, "x")
    other = register_client(ctx, ["sessions"], name="Other")
    r = await http.get(f"/api/sessions/{created['id']}", headers=other.headers)
    assert r.status_code == 404
    assert r.json()["error"] == "session_not_found"


async def test_device_cannot_confirm_another_users_session(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    stranger = enroll_person(ctx, cccd="001099000111", name="Lê Văn Cường")
    created = await create(http, integrator, person, "x")
    r = await http.post(
        f"/api/mobile/sessions/{created['id']}/confirm",
        json={"code": oath(stranger.secret, step_offset=1)},
        headers=device_headers(stranger),
    )
    assert r.status_code == 404


async def test_revoked_or_unknown_device_token_cannot_confirm(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    from esign_server.services.devices import revoke_device

    created = await create(http, integrator, person, "x")
    url = f"/api/mobile/sessions/{created['id']}/confirm"
    code = oath(person.secret, step_offset=1)
    unknown = await http.post(url, json={"code": code}, headers={"Authorization": "Bearer not-a-device-token"})
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_device")
    revoke_device(ctx, device_id=person.device_id, actor="test")
    revoked = await http.post(url, json={"code": code}, headers=device_headers(person))
    assert (revoked.status_code, revoked.json()["error"]) == (401, "invalid_device")
    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "pending"
    assert fetched["signatures"] is None


async def test_long_poll_returns_when_the_phone_confirms(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    created = await create(http, integrator, person, "x")

    async def phone() -> None:
        await asyncio.sleep(0.3)
        await http.post(
            f"/api/mobile/sessions/{created['id']}/confirm",
            json={"code": oath(person.secret, step_offset=1)},
            headers=device_headers(person),
        )

    loop = asyncio.get_running_loop()
    start = loop.time()
    _, polled = await asyncio.gather(
        phone(), http.get(f"/api/sessions/{created['id']}", params={"wait": 20}, headers=integrator.headers)
    )
    assert polled.json()["status"] == "signed"
    assert loop.time() - start < 5


async def test_session_expires(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    from datetime import timedelta

    from esign_server.db import utcnow
    from esign_server.models import SigningSession
    from sqlalchemy import update

    created = await create(http, integrator, person, "x")
    with ctx.db.write() as session:
        session.execute(update(SigningSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    fetched = (await http.get(f"/api/sessions/{created['id']}", headers=integrator.headers)).json()
    assert fetched["status"] == "expired"
    late = await http.post(
        f"/api/mobile/sessions/{created['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers=device_headers(person),
    )
    assert late.status_code == 409


def test_relying_system_lockout_doubles_each_time_then_decays(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    from datetime import timedelta

    from esign_server.db import utcnow
    from esign_server.services.devices import check_otp

    def attempt(code: str, when: datetime) -> OtpCheck:
        with ctx.db.write() as session:
            return check_otp(ctx, session, user_id=person.user_id, client_id=integrator.client_id, code=code, now=when)

    now = utcnow()
    window = timedelta(seconds=ctx.settings.otp_user_window_seconds + 1)  # keep clear of the user-wide ceiling
    lock_lengths = []
    for _ in range(3):
        for _ in range(ctx.settings.device_lock_threshold):
            result = attempt("000000", now)
        assert result.locked_until is None  # the failing attempt itself answers "invalid", not "locked"
        locked = attempt(oath(person.secret), now)
        assert not locked.accepted and locked.locked_until is not None
        lock_lengths.append((locked.locked_until - now).total_seconds())
        now = max(locked.locked_until, now + window) + timedelta(seconds=1)
    base = ctx.settings.device_lock_base_seconds
    assert lock_lengths == [base, 2 * base, 4 * base]
    # A quiet day forgets the earlier lockouts: the next one is the first length again.
    now += timedelta(seconds=ctx.settings.otp_lock_decay_seconds + 1)
    for _ in range(ctx.settings.device_lock_threshold):
        attempt("000000", now)
    relocked = attempt("000000", now)
    assert relocked.locked_until is not None and (relocked.locked_until - now).total_seconds() == base


async def test_sessions_created_and_confirmed_at_once_each_get_their_own_outcome(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    # On SQLite the steps that reach the event loop together share one transaction (group commit):
    # each still gets its own answer, and what one of them records is kept apart from the others.
    phones = [person, add_device(ctx, person), add_device(ctx, person)]
    body = {
        "credential_id": person.credential_id,
        "items": [{"name": "lô-7.pdf", "digest": base64.b64encode(digest_of("lô 7")).decode()}],
    }
    keyed = {**integrator.headers, "Idempotency-Key": "lo-7"}
    made = await asyncio.gather(
        create(http, integrator, person, "một"),
        create(http, integrator, person, "hai"),
        create(http, integrator, person, "ba"),
        http.post("/api/sessions", json=body, headers=keyed),
        http.post("/api/sessions", json=body, headers=keyed),
    )
    twins = made[3:]
    assert sorted(r.status_code for r in twins) == [200, 201]  # one session for one idempotency key
    assert twins[0].json()["id"] == twins[1].json()["id"]

    codes = [oath(phones[0].secret, step_offset=1), "000000", oath(phones[2].secret, step_offset=1)]
    answers = await asyncio.gather(
        *(
            http.post(f"/api/mobile/sessions/{s['id']}/confirm", json={"code": c}, headers=device_headers(p))
            for s, c, p in zip(made[:3], codes, phones, strict=True)
        )
    )
    assert [a.status_code for a in answers] == [200, 400, 200]
    assert answers[1].json()["error"] == "invalid_otp"
    fetched = [(await http.get(f"/api/sessions/{s['id']}", headers=integrator.headers)).json() for s in made[:3]]
    assert [f["status"] for f in fetched] == ["signed", "pending", "signed"]
    public_key = (await certificate(http, integrator, person)).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    for f, text in ((fetched[0], "một"), (fetched[2], "ba")):
        public_key.verify(base64.b64decode(f["signatures"][0]), digest_of(text), ec.ECDSA(Prehashed(hashes.SHA256())))
    from esign_server.models import SigningSession

    with ctx.db.read() as session:
        wrong = session.get(SigningSession, made[1]["id"])
    assert wrong is not None and wrong.otp_failures == 1  # the refused code was counted, and kept
    assert audit.verify_chain(ctx.db).ok
