"""Passkey confirmation over real HTTP (ASGI), on SQLite and PostgreSQL: a passkey registered by the
phone confirms exactly the request its challenge was made for, with user verification, once, and with
a signature counter that moves forward; everything else is refused and audited. An admin can require
passkeys for a credential, and a TOTP code is then refused."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from esign_server.context import ServerContext
from esign_server.models import AuditEvent, DevicePasskey, PasskeyChallenge
from sqlmodel import col, select

from .conftest import Integrator, Person, oath
from .webauthn_soft import SoftAuthenticator

ORIGIN = "http://localhost:8750"


@pytest.fixture
def phone_ctx(ctx: ServerContext) -> ServerContext:
    """The server context with the phone app served at http://localhost:8750 (rp id ``localhost``)."""
    ctx.settings.passkey_rp_id = "localhost"
    ctx.settings.passkey_origins = [ORIGIN]
    return ctx


def device_headers(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.device_token}"}


async def ask(http: httpx.AsyncClient, integrator: Integrator, person: Person, names: list[str]) -> dict[str, Any]:
    items = [{"name": n, "digest": base64.b64encode(hashlib.sha256(n.encode()).digest()).decode()} for n in names]
    answer = await http.post(
        "/api/sessions", json={"credential_id": person.credential_id, "items": items}, headers=integrator.headers
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def register(http: httpx.AsyncClient, person: Person) -> SoftAuthenticator:
    authenticator = SoftAuthenticator("localhost", ORIGIN)
    options = await http.post("/api/mobile/passkeys/options", headers=device_headers(person))
    assert options.status_code == 200, options.text
    public_key = options.json()["public_key"]
    assert public_key["authenticatorSelection"]["userVerification"] == "required"
    assert public_key["rp"]["id"] == "localhost"
    answer = await http.post(
        "/api/mobile/passkeys",
        headers=device_headers(person),
        json={"challenge_id": options.json()["challenge_id"], "credential": authenticator.register(options.json())},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] == authenticator.id
    return authenticator


async def options_for(http: httpx.AsyncClient, person: Person, session_id: str) -> dict[str, Any]:
    answer = await http.post(f"/api/mobile/sessions/{session_id}/passkey-options", headers=device_headers(person))
    assert answer.status_code == 200, answer.text
    options: dict[str, Any] = answer.json()
    assert options["public_key"]["userVerification"] == "required"
    return options


async def confirm(
    http: httpx.AsyncClient, person: Person, session_id: str, challenge_id: str, credential: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"/api/mobile/sessions/{session_id}/confirm-passkey",
        headers=device_headers(person),
        json={"challenge_id": challenge_id, "credential": credential},
    )


async def status_of(http: httpx.AsyncClient, integrator: Integrator, session_id: str) -> str:
    answer = await http.get(f"/api/sessions/{session_id}", headers=integrator.headers)
    status: str = answer.json()["status"]
    return status


def audit_actions(ctx: ServerContext, action: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))))


async def test_a_registered_passkey_confirms_and_the_signature_verifies(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    names = ["Hợp đồng 01.pdf", "Phụ lục.pdf"]
    asked = await ask(http, integrator, person, names)
    options = await options_for(http, person, asked["id"])
    answer = await confirm(
        http, person, asked["id"], options["challenge_id"], authenticator.assertion(options["public_key"]["challenge"])
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "signed"
    done = (await http.get(f"/api/sessions/{asked['id']}", headers=integrator.headers)).json()
    certificate = (await http.get(f"/api/credentials/{person.credential_id}", headers=integrator.headers)).json()
    from cryptography import x509

    key = x509.load_pem_x509_certificate(certificate["certificate_pem"].encode()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    for name, signature in zip(names, done["signatures"], strict=True):
        digest = hashlib.sha256(name.encode()).digest()
        key.verify(base64.b64decode(signature), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # The audit log says how it was confirmed; the counter moved forward.
    (signed,) = audit_actions(phone_ctx, "session.signed")
    assert signed.details["method"] == "passkey" and signed.actor == f"device:{person.device_id}"
    with phone_ctx.db.read() as session:
        stored = session.get(DevicePasskey, authenticator.id)
    assert stored is not None and stored.sign_count == 1 and stored.device_id == person.device_id


async def test_an_assertion_for_one_request_cannot_confirm_another(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    first = await ask(http, integrator, person, ["Hoá đơn 1.xml"])
    second = await ask(http, integrator, person, ["Hoá đơn 2.xml"])
    for_first = await options_for(http, person, first["id"])
    for_second = await options_for(http, person, second["id"])
    assert for_first["public_key"]["challenge"] != for_second["public_key"]["challenge"]
    signed_for_first = authenticator.assertion(for_first["public_key"]["challenge"])
    # The second request's challenge id with an answer over the first request's challenge ...
    refused = await confirm(http, person, second["id"], for_second["challenge_id"], signed_for_first)
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_refused"
    # ... and the first request's challenge id presented on the second request: both refused.
    other = await options_for(http, person, first["id"])
    refused = await confirm(
        http, person, second["id"], other["challenge_id"], authenticator.assertion(other["public_key"]["challenge"])
    )
    assert refused.status_code == 400
    assert await status_of(http, integrator, second["id"]) == "pending"
    assert await status_of(http, integrator, first["id"]) == "pending"
    reasons = [e.details["reason"] for e in audit_actions(phone_ctx, "passkey.refused")]
    assert any("does not verify" in r for r in reasons) and "challenge issued for another session" in reasons


async def test_a_replayed_assertion_is_refused(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    asked = await ask(http, integrator, person, ["Tờ khai.xml"])
    # Unlocking: the same answer twice, and the old answer against a fresh challenge.
    options = (await http.post("/api/mobile/unlock/options", headers=device_headers(person))).json()
    answer = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.assertion(options["public_key"]["challenge"]),
    }
    first = await http.post("/api/mobile/unlock", headers=device_headers(person), json=answer)
    assert first.status_code == 200 and first.json()["method"] == "passkey"
    again = await http.post("/api/mobile/unlock", headers=device_headers(person), json=answer)
    assert again.status_code == 400 and again.json()["error"] == "passkey_refused"
    fresh = (await http.post("/api/mobile/unlock/options", headers=device_headers(person))).json()
    replayed = {"challenge_id": fresh["challenge_id"], "credential": answer["credential"]}
    assert (await http.post("/api/mobile/unlock", headers=device_headers(person), json=replayed)).status_code == 400
    # Confirming: a spent challenge does not confirm, even with a new assertion over it.
    options = await options_for(http, person, asked["id"])
    challenge = options["public_key"]["challenge"]
    wrong_origin = authenticator.assertion(challenge, origin="http://evil.example")
    assert (await confirm(http, person, asked["id"], options["challenge_id"], wrong_origin)).status_code == 400
    spent = await confirm(http, person, asked["id"], options["challenge_id"], authenticator.assertion(challenge))
    assert spent.status_code == 400
    assert await status_of(http, integrator, asked["id"]) == "pending"
    reasons = [e.details["reason"] for e in audit_actions(phone_ctx, "passkey.refused")]
    assert reasons.count("challenge already used") == 2


async def test_an_assertion_without_user_verification_is_refused(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    asked = await ask(http, integrator, person, ["Quyết định.pdf"])
    options = await options_for(http, person, asked["id"])
    no_uv = authenticator.assertion(options["public_key"]["challenge"], uv=False)
    refused = await confirm(http, person, asked["id"], options["challenge_id"], no_uv)
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_refused"
    assert await status_of(http, integrator, asked["id"]) == "pending"
    (event,) = audit_actions(phone_ctx, "passkey.refused")
    assert "verif" in event.details["reason"].lower() and event.target == f"session:{asked['id']}"
    # A registration without user verification is refused too.
    options = (await http.post("/api/mobile/passkeys/options", headers=device_headers(person))).json()
    other = SoftAuthenticator("localhost", ORIGIN)
    answer = await http.post(
        "/api/mobile/passkeys",
        headers=device_headers(person),
        json={"challenge_id": options["challenge_id"], "credential": other.register(options, uv=False)},
    )
    assert answer.status_code == 400


async def test_a_signature_counter_that_goes_back_is_refused(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    first = await ask(http, integrator, person, ["Hợp đồng A.pdf"])
    options = await options_for(http, person, first["id"])
    ok = await confirm(
        http,
        person,
        first["id"],
        options["challenge_id"],
        authenticator.assertion(options["public_key"]["challenge"], counter=7),
    )
    assert ok.status_code == 200, ok.text
    second = await ask(http, integrator, person, ["Hợp đồng B.pdf"])
    options = await options_for(http, person, second["id"])
    cloned = authenticator.assertion(options["public_key"]["challenge"], counter=7)  # a copied key's counter
    refused = await confirm(http, person, second["id"], options["challenge_id"], cloned)
    assert refused.status_code == 400
    assert await status_of(http, integrator, second["id"]) == "pending"
    with phone_ctx.db.read() as session:
        stored = session.get(DevicePasskey, authenticator.id)
    assert stored is not None and stored.sign_count == 7


async def test_an_expired_challenge_is_refused(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    authenticator = await register(http, person)
    asked = await ask(http, integrator, person, ["Biên bản.pdf"])
    options = await options_for(http, person, asked["id"])
    with phone_ctx.db.write() as session:  # the challenge's time has passed
        challenge = session.get(PasskeyChallenge, options["challenge_id"])
        assert challenge is not None
        challenge.expires_at = challenge.expires_at.replace(year=2000)
        session.add(challenge)
    answer = authenticator.assertion(options["public_key"]["challenge"])
    assert (await confirm(http, person, asked["id"], options["challenge_id"], answer)).status_code == 400
    assert [e.details["reason"] for e in audit_actions(phone_ctx, "passkey.refused")] == ["challenge expired"]


async def test_admin_requires_passkeys_and_a_totp_code_is_then_refused(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator, admin: Integrator
) -> None:
    url = f"/api/admin/credentials/{person.credential_id}/passkey-policy"
    assert (await http.get(url, headers=admin.headers)).json()["require_passkey"] is False
    assert (await http.put(url, json={"require_passkey": True}, headers=integrator.headers)).status_code == 403
    answer = await http.put(url, json={"require_passkey": True}, headers=admin.headers)
    assert answer.status_code == 200 and answer.json() == {
        "credential_id": person.credential_id,
        "require_passkey": True,
    }
    missing = await http.put(
        "/api/admin/credentials/nope/passkey-policy", json={"require_passkey": True}, headers=admin.headers
    )
    assert missing.status_code == 404

    asked = await ask(http, integrator, person, ["Hợp đồng vay.pdf"])
    refused = await http.post(
        f"/api/mobile/sessions/{asked['id']}/confirm",
        headers=device_headers(person),
        json={"code": oath(person.secret, step_offset=1)},
    )
    assert refused.status_code == 403 and refused.json()["error"] == "passkey_required"
    assert await status_of(http, integrator, asked["id"]) == "pending"
    assert [e.target for e in audit_actions(phone_ctx, "session.totp_refused")] == [f"session:{asked['id']}"]
    # The passkey confirms it.
    authenticator = await register(http, person)
    options = await options_for(http, person, asked["id"])
    done = await confirm(
        http, person, asked["id"], options["challenge_id"], authenticator.assertion(options["public_key"]["challenge"])
    )
    assert done.status_code == 200 and done.json()["status"] == "signed"
    # Lifted: codes work again.
    await http.put(url, json={"require_passkey": False}, headers=admin.headers)
    later = await ask(http, integrator, person, ["Phụ lục vay.pdf"])
    ok = await http.post(
        f"/api/mobile/sessions/{later['id']}/confirm",
        headers=device_headers(person),
        json={"code": oath(person.secret, step_offset=1)},
    )
    assert ok.status_code == 200, ok.text
    methods = [e.details["method"] for e in audit_actions(phone_ctx, "session.signed")]
    assert methods == ["passkey", "totp"]
    assert [e.details["require_passkey"] for e in audit_actions(phone_ctx, "credential.passkey_policy")] == [
        True,
        False,
    ]


async def test_a_passkey_of_another_device_does_not_answer(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    from .conftest import add_device

    tablet = add_device(phone_ctx, person)
    authenticator = await register(http, tablet)  # registered by the tablet
    options = (await http.post("/api/mobile/passkeys/options", headers=device_headers(person))).json()
    assert options["public_key"]["excludeCredentials"] == []  # the phone has none of its own
    asked = await ask(http, integrator, person, ["Giấy mời.pdf"])
    no_passkey = await http.post(f"/api/mobile/sessions/{asked['id']}/passkey-options", headers=device_headers(person))
    assert no_passkey.status_code == 404 and no_passkey.json()["error"] == "no_passkey"
    options = await options_for(http, tablet, asked["id"])
    # The phone presents the tablet's challenge and passkey: not its challenge, not its passkey.
    refused = await confirm(
        http, person, asked["id"], options["challenge_id"], authenticator.assertion(options["public_key"]["challenge"])
    )
    assert refused.status_code == 400
    assert await status_of(http, integrator, asked["id"]) == "pending"


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": 5},
        {"id": "AAAA", "response": "nope"},
        {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": "!!", "signature": 3}},
    ],
)
async def test_malformed_passkey_answers_get_a_4xx_never_a_500(
    http: httpx.AsyncClient, phone_ctx: ServerContext, person: Person, integrator: Integrator, credential: Any
) -> None:
    await register(http, person)
    asked = await ask(http, integrator, person, ["Đơn.pdf"])
    options = await options_for(http, person, asked["id"])
    answer = await confirm(http, person, asked["id"], options["challenge_id"], credential)
    assert answer.status_code == 400 and answer.json()["error"] == "passkey_refused"
    registration = (await http.post("/api/mobile/passkeys/options", headers=device_headers(person))).json()
    answer = await http.post(
        "/api/mobile/passkeys",
        headers=device_headers(person),
        json={"challenge_id": registration["challenge_id"], "credential": credential},
    )
    assert answer.status_code == 400
    unlock = await http.post(
        "/api/mobile/unlock", headers=device_headers(person), json={"challenge_id": "x", "credential": credential}
    )
    assert unlock.status_code == 400
    assert (await http.post("/api/mobile/unlock", headers=device_headers(person), json={})).status_code == 400
    assert await status_of(http, integrator, asked["id"]) == "pending"
