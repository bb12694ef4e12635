"""Admin API, phone enrollment and pairing, SSE, errors and the audit chain."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from esign_server.context import ServerContext
from esign_server.services import audit
from sqlalchemy import text

from .conftest import Integrator, Person, authorise_over_http, oath, verify_over_http


async def test_admin_creates_user_credential_and_pairs_a_phone_through_the_mobile_api(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, integrator: Integrator
) -> None:
    user = await http.post(
        "/api/admin/users",
        headers=admin.headers,
        json={"full_name": "Phạm Thu Hà", "cccd": "001303004567", "email": "ha@example.vn", "phone": "0912345678"},
    )
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    await verify_over_http(http, admin, user_id, "CCCD", "001303004567")
    cred = await http.post(
        f"/api/admin/users/{user_id}/credentials",
        headers=admin.headers,
        json={"key_algorithm": "p384", "label": "ký số cá nhân"},
    )
    assert cred.status_code == 201, cred.text
    cert = x509.load_pem_x509_certificate(cred.json()["certificate_pem"].encode())
    assert "UID=CCCD:001303004567" in cert.subject.rfc4514_string()
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment

    enrollment = await http.post(
        f"/api/admin/users/{user_id}/enrollments", headers=admin.headers, json={"device_name": "iPhone"}
    )
    assert enrollment.status_code == 201
    e = enrollment.json()
    assert len(base64.b32decode(e["secret"] + "=" * (-len(e["secret"]) % 8))) == 20  # 160 bits
    assert e["otpauth_uri"].startswith("otpauth://totp/") and "period=30" in e["otpauth_uri"]
    assert base64.b64decode(e["qr_png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in e["qr_svg"]

    # Until the user authorises the relying system, their credential does not exist for it.
    body = {"credential_id": cred.json()["id"], "items": [{"digest": base64.b64encode(b"\x01" * 32).decode()}]}
    unauthorised = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert unauthorised.status_code == 404 and unauthorised.json()["error"] == "credential_not_found"
    await authorise_over_http(http, admin, user_id, integrator)
    listed = await http.get(f"/api/admin/users/{user_id}/relying-systems", headers=admin.headers)
    assert [g["client_id"] for g in listed.json()] == [integrator.client_id]

    # Not active yet: no session can be created for this user.
    early = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert early.status_code == 409 and early.json()["error"] == "no_active_device"

    info = await http.post("/api/mobile/pair/start", json={"enrollment_token": e["enrollment_token"]})
    assert info.json()["user_name"] == "Phạm Thu Hà"
    wrong = await http.post("/api/mobile/pair", json={"enrollment_token": e["enrollment_token"], "code": "000000"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_otp"
    paired = await http.post(
        "/api/mobile/pair",
        json={"enrollment_token": e["enrollment_token"], "code": oath(e["secret"]), "device_name": "iPhone 15"},
    )
    assert paired.status_code == 200, paired.text
    token = paired.json()["device_token"]
    reused = await http.post(
        "/api/mobile/pair", json={"enrollment_token": e["enrollment_token"], "code": oath(e["secret"])}
    )
    assert reused.status_code == 401  # the link works once
    me = await http.get("/api/mobile/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["device_name"] == "iPhone 15"

    created = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert created.status_code == 201
    assert created.json()["signature_algorithm"] == "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256 on P-384 too
    done = await http.post(
        f"/api/mobile/sessions/{created.json()['id']}/confirm",
        headers={"Authorization": f"Bearer {token}"},
        json={"code": oath(e["secret"], step_offset=1)},
    )
    assert done.status_code == 200
    history = await http.get(
        "/api/mobile/sessions", params={"state": "history"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert [s["status"] for s in history.json()["sessions"]] == ["signed"]


async def test_external_ca_gets_a_csr_signed_by_the_keystore(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, person: Person
) -> None:
    cred = await http.post(
        f"/api/admin/users/{person.user_id}/credentials",
        headers=admin.headers,
        json={"key_algorithm": "rsa2048", "external_ca": True},
    )
    assert cred.json()["status"] == "awaiting_certificate"
    csr = x509.load_pem_x509_csr(cred.json()["csr_pem"].encode())
    assert csr.is_signature_valid
    assert "CCCD:001203012389" in csr.subject.rfc4514_string()
    # An "external" CA (here: a throw-away one) answers; the certificate is installed.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name.from_rfc4514_string("CN=External CA,C=VN")
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    pem = leaf.public_bytes(serialization.Encoding.PEM).decode()
    installed = await http.put(
        f"/api/admin/credentials/{cred.json()['id']}/certificate", headers=admin.headers, json={"certificate_pem": pem}
    )
    assert installed.status_code == 200, installed.text
    assert installed.json()["status"] == "active"
    other_key = ec.generate_private_key(ec.SECP256R1())
    stray = leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_name)
        .public_key(other_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    again = await http.put(
        f"/api/admin/credentials/{cred.json()['id']}/certificate",
        headers=admin.headers,
        json={"certificate_pem": stray.public_bytes(serialization.Encoding.PEM).decode()},
    )
    assert again.status_code == 409


async def test_admin_routes_need_the_admin_scope(http: httpx.AsyncClient, integrator: Integrator) -> None:
    r = await http.get("/api/admin/users", headers=integrator.headers)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    r = await http.get("/api/admin/users")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_token_endpoint_accepts_form_and_basic_and_refuses_bad_secrets_alike(
    http: httpx.AsyncClient, integrator: Integrator
) -> None:
    form = await http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": integrator.client_id,
            "client_secret": integrator.client_secret,
        },
    )
    assert form.status_code == 200 and form.json()["token_type"] == "Bearer"
    basic = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(integrator.client_id, integrator.client_secret),
    )
    assert basic.status_code == 200 and basic.json()["scope"] == "sessions"
    wrong = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": integrator.client_id, "client_secret": "nope"},
    )
    unknown = await http.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "rs_nobody", "client_secret": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    scope = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(integrator.client_id, integrator.client_secret),
    )
    assert scope.status_code == 403 and scope.json()["error"] == "invalid_scope"


async def test_bad_input_gets_json_4xx_never_500(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    h = integrator.headers
    cases = [
        await http.post(
            "/api/sessions",
            headers=h,
            content=b"{not json",
        ),
        await http.post("/api/sessions", headers=h, json={"credential_id": person.credential_id, "items": []}),
        await http.post(
            "/api/sessions", headers=h, json={"credential_id": person.credential_id, "items": [{"digest": "%%%"}]}
        ),
        await http.post(
            "/api/sessions", headers=h, json={"credential_id": person.credential_id, "items": [{"digest": "AAAA"}]}
        ),
        await http.post(
            "/api/sessions",
            headers=h,
            json={
                "credential_id": person.credential_id,
                "digest_algorithm": "md5",
                "items": [{"digest": "A" * 22 + "=="}],
            },
        ),
        await http.post(
            "/api/sessions", headers=h, json={"credential_id": "nope", "items": [{"digest": "A" * 43 + "="}]}
        ),
        await http.post(
            "/api/sessions",
            headers=h,
            json={"credential_id": person.credential_id, "unknown": 1, "items": [{"digest": "A" * 43 + "="}]},
        ),
        await http.get("/api/sessions/does-not-exist", headers=h),
        await http.get("/no/such/route"),
        await http.post("/api/mobile/sessions/x/confirm", json={"code": "1"}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        body = response.json()
        assert set(body) >= {"error", "message"}, body
    big = await http.post(
        "/api/sessions",
        headers={**h, "Content-Type": "application/json"},
        content=b"[" + b"0," * (ctx.settings.max_body_bytes // 2) + b"0]",
    )
    assert big.status_code == 413 and big.json()["error"] == "payload_too_large"


async def test_openapi_and_health(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    for path in ("/api/sessions", "/api/mobile/sessions/{session_id}/confirm", "/pki/ocsp", "/oauth2/token"):
        assert path in spec["paths"]
    assert (await http.get("/docs")).status_code == 200
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "pki": "ok"}


@pytest.mark.timeout(60)
async def test_sse_stream_sends_snapshot_then_session_events(
    live_url: str, integrator: Integrator, person: Person
) -> None:
    body = {"credential_id": person.credential_id, "items": [{"name": "a.xml", "digest": "A" * 43 + "="}]}
    events: list[tuple[str, dict]] = []
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as http:
        first = (await http.post("/api/sessions", headers=integrator.headers, json=body)).json()
        async with http.stream("GET", "/api/mobile/events", params={"access_token": person.device_token}) as stream:
            event = None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    events.append((event, json.loads(line[6:])))
                    if event == "snapshot":
                        await http.post(
                            f"/api/mobile/sessions/{first['id']}/reject",
                            headers={"Authorization": f"Bearer {person.device_token}"},
                            json={},
                        )
                    if event == "session":
                        break
    assert events[0][0] == "snapshot"
    assert [s["id"] for s in events[0][1]["sessions"]] == [first["id"]]
    assert events[1][0] == "session" and events[1][1]["status"] == "rejected"


async def test_audit_chain_verifies_and_names_the_first_altered_event(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator, person: Person
) -> None:
    check = (await http.get("/api/admin/audit/verify", headers=admin.headers)).json()
    assert check["ok"] and check["events"] >= 5
    actions = [e["action"] for e in (await http.get("/api/admin/audit/events", headers=admin.headers)).json()]
    assert {"user.created", "credential.issued", "device.activated", "client.created"} <= set(actions)
    # The database refuses edits; someone with DDL rights drops the guard and edits event 3.
    with ctx.db.engine.begin() as conn:
        if ctx.db.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3"))
    result = audit.verify_chain(ctx.db)
    assert (result.ok, result.first_broken_seq) == (False, 3)


async def test_audit_log_refuses_updates(ctx: ServerContext, person: Person) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError), ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
