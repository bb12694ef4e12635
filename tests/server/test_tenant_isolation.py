"""Attacks of one relying system on another's users, as regression tests (two relying systems, real HTTP).

A user authorises relying system A; relying system B (valid token, right scopes) is a stranger to that
user, or is authorised but malicious. Neither may read, flood or lock the user for the others.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.db import utcnow
from esign_server.services.devices import check_otp

from .conftest import Integrator, Person, add_device, enroll_person, oath, register_client

SHA256_OID = "2.16.840.1.101.3.4.2.1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def session_body(person: Person, text: str) -> dict[str, object]:
    return {"credential_id": person.credential_id, "items": [{"name": f"{text}.pdf", "digest": b64(_h(text))}]}


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def authorize_body(person: Person, text: str, code: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "credentialID": person.credential_id,
        "numSignatures": 1,
        "hashes": [b64(_h(text))],
        "hashAlgorithmOID": SHA256_OID,
    }
    if code is not None:
        body["authData"] = [{"id": "OTP", "value": code}]
    return body


async def pending_on_phone(http: httpx.AsyncClient, person: Person) -> list[dict[str, object]]:
    answer = await http.get("/api/mobile/sessions", headers={"Authorization": f"Bearer {person.device_token}"})
    assert answer.status_code == 200, answer.text
    sessions: list[dict[str, object]] = answer.json()["sessions"]
    return sessions


@pytest.fixture
def victim(ctx: ServerContext) -> Person:
    """A user who has authorised no relying system yet."""
    return enroll_person(ctx, cccd="001203099881", name="Trần Thị Bình", authorise_all=False)


async def test_a_relying_system_acts_only_for_users_who_authorised_it(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, victim: Person
) -> None:
    bank = register_client(ctx, ["sessions", "csc"], name="Ngân hàng", authorised_by_all=False)
    stranger = register_client(ctx, ["sessions", "csc"], name="Hệ thống lạ", authorised_by_all=False)
    granted = await http.post(
        f"/api/admin/users/{victim.user_id}/relying-systems", json={"client_id": bank.client_id}, headers=admin.headers
    )
    assert granted.status_code == 201, granted.text

    # The stranger: the user's credential and user id do not exist for it (sessions API) or are refused (CSC).
    made = await http.post("/api/sessions", json=session_body(victim, "x"), headers=stranger.headers)
    assert (made.status_code, made.json()["error"]) == (404, "credential_not_found")
    read = await http.get(f"/api/credentials/{victim.credential_id}", headers=stranger.headers)
    assert (read.status_code, read.json()["error"]) == (404, "credential_not_found")
    csc_calls = {
        "credentials/list": {"userID": victim.user_id, "credentialInfo": True, "certInfo": True},
        "credentials/info": {"credentialID": victim.credential_id, "certInfo": True},
        "credentials/authorize": authorize_body(victim, "x", oath(victim.secret, step_offset=1)),
        "credentials/getChallenge": {"credentialID": victim.credential_id},
        "credentials/sendOTP": {"credentialID": victim.credential_id},
    }
    for method, body in csc_calls.items():
        refused = await http.post(f"/csc/v2/{method}", json=body, headers=stranger.headers)
        assert (refused.status_code, refused.json()["error"]) == (403, "access_denied"), (method, refused.text)
        assert victim.credential_id not in refused.text
    assert await pending_on_phone(http, victim) == []  # nothing reached the user's phone

    # The bank, authorised, gets a SAD; the stranger cannot spend it; once the user withdraws the
    # authorisation, the bank cannot either.
    answer = await http.post(
        "/csc/v2/credentials/authorize",
        json=authorize_body(victim, "y", oath(victim.secret, step_offset=1)),
        headers=bank.headers,
    )
    assert answer.status_code == 200, answer.text
    sign = {
        "credentialID": victim.credential_id,
        "SAD": answer.json()["SAD"],
        "hashes": [b64(_h("y"))],
        "hashAlgorithmOID": SHA256_OID,
        "signAlgo": "1.2.840.10045.4.3.2",
    }
    stolen = await http.post("/csc/v2/signatures/signHash", json=sign, headers=stranger.headers)
    assert stolen.status_code == 400 and "signatures" not in stolen.json()
    revoked = await http.delete(
        f"/api/admin/users/{victim.user_id}/relying-systems/{bank.client_id}", headers=admin.headers
    )
    assert revoked.status_code == 204
    late = await http.post("/csc/v2/signatures/signHash", json=sign, headers=bank.headers)
    assert (late.status_code, late.json()["error"]) == (403, "access_denied")
    again = await http.post("/api/sessions", json=session_body(victim, "z"), headers=bank.headers)
    assert again.status_code == 404


async def test_wrong_codes_through_one_relying_system_do_not_lock_the_user_for_the_others(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    honest = register_client(ctx, ["sessions", "csc"], name="Bộ Tư pháp")
    rogue = register_client(ctx, ["csc"], name="Hệ thống đoán mã")
    answers = []
    for guess in range(8):
        r = await http.post(
            "/csc/v2/credentials/authorize", json=authorize_body(person, "g", f"{guess:06d}"), headers=rogue.headers
        )
        answers.append(r.status_code)
    assert answers == [400] * 5 + [423] * 3  # the rogue locked itself out, and only itself
    # No refused authorization is left waiting on the user's phone.
    assert await pending_on_phone(http, person) == []

    # The user's own relying system is unaffected: on the phone and through CSC alike.
    made = await http.post("/api/sessions", json=session_body(person, "hop-dong"), headers=honest.headers)
    assert made.status_code == 201, made.text
    confirmed = await http.post(
        f"/api/mobile/sessions/{made.json()['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers={"Authorization": f"Bearer {person.device_token}"},
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "signed", confirmed.text
    tablet = add_device(ctx, person)  # a fresh code (the phone's step of this window is spent)
    sad = await http.post(
        "/csc/v2/credentials/authorize",
        json=authorize_body(person, "h", oath(tablet.secret, step_offset=1)),
        headers=honest.headers,
    )
    assert sad.status_code == 200 and sad.json()["SAD"], sad.text


async def test_a_user_wide_ceiling_slows_guessing_by_several_relying_systems_without_locking(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    rogues = [register_client(ctx, ["csc"], name=f"Hệ thống {n}") for n in range(3)]
    statuses = []
    for rogue in rogues:
        for guess in range(ctx.settings.device_lock_threshold):
            r = await http.post(
                "/csc/v2/credentials/authorize",
                json=authorize_body(person, "g", f"{guess:06d}"),
                headers=rogue.headers,
            )
            statuses.append((r.status_code, r.headers.get("Retry-After")))
    ceiling = ctx.settings.otp_user_max_failures
    assert [s for s, _ in statuses[:ceiling]] == [400] * ceiling
    slowed = statuses[ceiling:]
    assert slowed and all(s == 429 and after is not None and 0 < int(after) <= 300 for s, after in slowed)
    # Slowed, not locked: when the window has passed, the right code works.
    later = utcnow() + timedelta(seconds=ctx.settings.otp_user_window_seconds + 1)
    with ctx.db.write() as session:
        result = check_otp(
            ctx, session, user_id=person.user_id, client_id=rogues[2].client_id, code=oath(person.secret, step_offset=1)
        )
    assert result.throttled_until is not None  # still inside the window now
    with ctx.db.write() as session:
        result = check_otp(
            ctx,
            session,
            user_id=person.user_id,
            client_id=rogues[2].client_id,
            code=oath(person.secret, step_offset=int((later - utcnow()).total_seconds() // 30)),
            now=later,
        )
    assert result.accepted


async def test_a_code_from_any_active_device_of_the_user_is_accepted(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    rp = register_client(ctx, ["csc"], name="Hệ thống hóa đơn")
    add_device(ctx, person)  # the newer phone; the code comes from the older one
    answer = await http.post(
        "/csc/v2/credentials/authorize",
        json=authorize_body(person, "a", oath(person.secret, step_offset=1)),
        headers=rp.headers,
    )
    assert answer.status_code == 200, answer.text


async def test_a_reused_code_says_it_was_already_used(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    rp = register_client(ctx, ["csc"], name="Hệ thống hóa đơn")
    code = oath(person.secret, step_offset=1)
    first = await http.post("/csc/v2/credentials/authorize", json=authorize_body(person, "a", code), headers=rp.headers)
    assert first.status_code == 200, first.text
    second = await http.post(
        "/csc/v2/credentials/authorize", json=authorize_body(person, "b", code), headers=rp.headers
    )
    assert second.status_code == 400
    assert second.json() == {
        "error": "invalid_otp",
        "error_description": "this code was already used; wait for the next code on your phone",
    }


async def test_pending_requests_are_limited_per_relying_system_and_user(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    ctx.settings.max_pending_per_client_user = 3
    flooder = register_client(ctx, ["sessions"], name="Hệ thống gửi ồ ạt")
    honest = register_client(ctx, ["sessions"], name="Bộ Tư pháp")
    for n in range(3):
        body = {**session_body(person, f"spam-{n}"), "ttl_seconds": 86_400}
        assert (await http.post("/api/sessions", json=body, headers=flooder.headers)).status_code == 201
    refused = await http.post("/api/sessions", json=session_body(person, "spam-x"), headers=flooder.headers)
    assert (refused.status_code, refused.json()["error"]) == (429, "too_many_pending")
    assert int(refused.headers["Retry-After"]) > 0
    real = await http.post("/api/sessions", json=session_body(person, "real"), headers=honest.headers)
    assert real.status_code == 201
    # The phone shows every pending request, grouped by relying system.
    answer = await http.get(
        "/api/mobile/sessions", params={"limit": 1}, headers={"Authorization": f"Bearer {person.device_token}"}
    )
    listed = answer.json()
    assert len(listed["sessions"]) == 4 and real.json()["id"] in {s["id"] for s in listed["sessions"]}
    groups = {g["relying_system"]["name"]: g for g in listed["groups"]}
    assert groups["Bộ Tư pháp"]["session_ids"] == [real.json()["id"]]
    assert groups["Hệ thống gửi ồ ạt"]["count"] == 3
    assert [s["id"] for s in listed["sessions"]] == [sid for g in listed["groups"] for sid in g["session_ids"]]


async def test_subjects_are_masked_for_relying_systems_and_revealed_only_to_admins(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person, admin: Integrator
) -> None:
    rp = register_client(ctx, ["sessions", "csc"], name="Ngân hàng")
    whole = "001203012389"
    read = await http.get(f"/api/credentials/{person.credential_id}", headers=rp.headers)
    assert read.status_code == 200
    assert read.json()["subject"] and whole not in read.json()["subject"] and "0012******89" in read.json()["subject"]
    refused = await http.get(f"/api/credentials/{person.credential_id}", params={"reveal": "true"}, headers=rp.headers)
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    listed = await http.post(
        "/csc/v2/credentials/list",
        json={"userID": person.user_id, "credentialInfo": True, "certInfo": True},
        headers=rp.headers,
    )
    infos = listed.json()["credentialInfos"]
    assert infos and all(whole not in info["cert"]["subjectDN"] for info in infos)
    info = await http.post(
        "/csc/v2/credentials/info", json={"credentialID": person.credential_id, "certInfo": True}, headers=rp.headers
    )
    assert whole not in info.json()["cert"]["subjectDN"]
    for path in (f"/api/admin/credentials/{person.credential_id}", f"/api/admin/users/{person.user_id}/credentials"):
        masked = await http.get(path, headers=admin.headers)
        assert whole not in masked.text
        revealed = await http.get(path, params={"reveal": "true"}, headers=admin.headers)
        assert whole in revealed.text
    phone = await http.get("/api/mobile/sessions", headers={"Authorization": f"Bearer {person.device_token}"})
    assert whole not in phone.text


@pytest.mark.timeout(60)
async def test_a_revoked_device_stream_ends_at_once(
    live_url: str, ctx: ServerContext, integrator: Integrator, person: Person, admin: Integrator
) -> None:
    events: list[str] = []
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as http:
        async with http.stream("GET", "/api/mobile/events", params={"access_token": person.device_token}) as stream:
            event = None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    events.append(event)
                    if event == "snapshot":
                        revoked = await http.post(
                            f"/api/admin/devices/{person.device_id}/revoke", headers=admin.headers
                        )
                        assert revoked.status_code == 200
                        # A request made after the revocation must not reach the revoked phone.
                        made = await http.post(
                            "/api/sessions", json=session_body(person, "after"), headers=integrator.headers
                        )
                        assert made.status_code == 409  # no active device is left to confirm with
            # The server ended the stream by itself: the loop above ran out.
    assert events == ["snapshot", "revoked"]
    assert "after.pdf" not in json.dumps(events)


async def test_requests_per_hour_are_limited_per_relying_system_and_user(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    ctx.settings.max_sessions_per_client_user_per_hour = 5
    flooder = register_client(ctx, ["sessions"], name="Hệ thống gửi ồ ạt")
    honest = register_client(ctx, ["sessions"], name="Bộ Tư pháp")
    for n in range(5):  # withdrawn at once: the pending limit is not what stops them
        made = await http.post("/api/sessions", json=session_body(person, f"spam-{n}"), headers=flooder.headers)
        assert made.status_code == 201
        await http.post(f"/api/sessions/{made.json()['id']}/cancel", headers=flooder.headers)
    refused = await http.post("/api/sessions", json=session_body(person, "spam-x"), headers=flooder.headers)
    assert (refused.status_code, refused.json()["error"]) == (429, "too_many_sessions")
    assert int(refused.headers["Retry-After"]) > 0
    assert (
        await http.post("/api/sessions", json=session_body(person, "ok"), headers=honest.headers)
    ).status_code == 201


async def test_the_user_sees_and_withdraws_authorisations_from_the_phone(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    bank = register_client(ctx, ["sessions"], name="Ngân hàng")
    phone = {"Authorization": f"Bearer {person.device_token}"}
    listed = await http.get("/api/mobile/relying-systems", headers=phone)
    assert bank.client_id in {g["client_id"] for g in listed.json()}
    # Another user's phone cannot withdraw this user's authorisation (it only sees its own user's).
    stranger = enroll_person(ctx, cccd="001099000777", name="Hồ Văn Nam", authorise_all=False)
    other_phone = {"Authorization": f"Bearer {stranger.device_token}"}
    meddled = await http.delete(f"/api/mobile/relying-systems/{bank.client_id}", headers=other_phone)
    assert meddled.status_code == 404
    assert (await http.post("/api/sessions", json=session_body(person, "a"), headers=bank.headers)).status_code == 201
    withdrawn = await http.delete(f"/api/mobile/relying-systems/{bank.client_id}", headers=phone)
    assert withdrawn.status_code == 204
    assert (await http.post("/api/sessions", json=session_body(person, "b"), headers=bank.headers)).status_code == 404
    listed = await http.get("/api/mobile/relying-systems", headers=phone)
    assert bank.client_id not in {g["client_id"] for g in listed.json()}
    assert (await http.get("/api/mobile/relying-systems")).status_code == 401
