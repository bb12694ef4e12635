"""Security properties not covered elsewhere (docs/reliability.md maps each property to its tests).

Already covered and not repeated here: five wrong codes fail a session and lock the device, lockout
doubling (tests/server/test_session_flow.py); replayed OTP (sessions and CSC); a SAD that is used
up or for another hash (tests/server/csc/test_csc_api.py, and every CSC round of bench/load.py);
security headers of the mobile app (tests/e2e/test_mobile_app.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from esign_client import verify_webhook
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.services import credentials
from sqlalchemy import event
from sqlalchemy.engine import make_url

from ..conftest import Integrator, Person, enroll_person, oath, register_client, register_loopback_hook

SHA256_OID = "2.16.840.1.101.3.4.2.1"


async def _create(http: httpx.AsyncClient, rp: Integrator, person: Person, key: str | None = None) -> dict[str, str]:
    headers = {**rp.headers, **({"Idempotency-Key": key} if key else {})}
    digest = base64.b64encode(hashlib.sha256(key.encode() if key else b"doc").digest()).decode()
    r = await http.post(
        "/api/sessions",
        json={"credential_id": person.credential_id, "items": [{"name": "hồ sơ", "digest": digest}]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_csc_otp_brute_force_across_authorizations_is_stopped_by_the_relying_system_lock(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    # Each credentials/authorize call is a new session, so the per-session limit alone would allow
    # 5 guesses per call; the consecutive-failure lock of this relying system and user stops the
    # guessing across calls (answered 423 with Retry-After, as documented).
    rp = register_client(ctx, ["csc"], name="Hệ thống đoán mã")
    body = {
        "credentialID": person.credential_id,
        "numSignatures": 1,
        "hashes": [base64.b64encode(hashlib.sha256(b"x").digest()).decode()],
        "hashAlgorithmOID": SHA256_OID,
    }
    answers = []
    for guess in range(8):
        r = await http.post(
            "/csc/v2/credentials/authorize",
            json={**body, "authData": [{"id": "OTP", "value": f"{guess:06d}"}]},
            headers=rp.headers,
        )
        answers.append((r.status_code, r.json()["error"]))
    assert answers[:5] == [(400, "invalid_otp")] * 5
    assert all(answer == (423, "access_denied") for answer in answers[5:]), answers  # locked: not even checked
    right = await http.post(
        "/csc/v2/credentials/authorize",
        json={**body, "authData": [{"id": "OTP", "value": oath(person.secret, step_offset=1)}]},
        headers=rp.headers,
    )
    assert right.status_code == 423 and right.json()["error"] == "access_denied"
    assert int(right.headers["Retry-After"]) > 0
    assert "SAD" not in right.json()


async def test_one_relying_system_cannot_see_or_act_on_anothers_sessions(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    mine = await _create(http, integrator, person, key="order-1")
    other = register_client(ctx, ["sessions"], name="Hệ thống khác")
    sid = mine["id"]
    for method, path in (
        ("GET", f"/api/sessions/{sid}"),
        ("GET", f"/api/sessions/{sid}?wait=1"),
        ("POST", f"/api/sessions/{sid}/cancel"),
        ("GET", f"/api/sessions/{sid}/documents/0"),
    ):
        r = await http.request(method, path, headers=other.headers)
        assert r.status_code == 404 and r.json()["error"] == "session_not_found", (method, path, r.text)
    assert sid not in {s["id"] for s in (await http.get("/api/sessions", headers=other.headers)).json()["sessions"]}
    # Idempotency keys are per relying system: the same key elsewhere is a new session, not a window on ours.
    theirs = await _create(http, other, person, key="order-1")
    assert theirs["id"] != sid
    still = (await http.get(f"/api/sessions/{sid}", headers=integrator.headers)).json()
    assert still["status"] == "pending"


async def test_a_device_cannot_see_reject_or_confirm_another_users_session(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    stranger = enroll_person(ctx, cccd="001099000222", name="Phạm Thị Lan")
    sid = (await _create(http, integrator, person))["id"]
    phone = {"Authorization": f"Bearer {stranger.device_token}"}
    assert (await http.get(f"/api/mobile/sessions/{sid}", headers=phone)).status_code == 404
    assert (await http.post(f"/api/mobile/sessions/{sid}/reject", json={}, headers=phone)).status_code == 404
    listed = (await http.get("/api/mobile/sessions", headers=phone)).json()["sessions"]
    assert sid not in {s["id"] for s in listed}
    r = await http.post(
        f"/api/mobile/sessions/{sid}/confirm", json={"code": oath(stranger.secret, step_offset=1)}, headers=phone
    )
    assert r.status_code == 404
    assert (await http.get(f"/api/sessions/{sid}", headers=integrator.headers)).json()["status"] == "pending"


async def test_every_admin_route_refuses_other_roles(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    csc_rp = register_client(ctx, ["csc"], name="CSC")
    callers = {
        "no token": ({}, 401),
        "sessions scope": (integrator.headers, 403),
        "csc scope": (csc_rp.headers, 403),
        "a device token": ({"Authorization": f"Bearer {person.device_token}"}, 401),
        "a forged token": ({"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzY3AiOlsiYWRtaW4iXX0."}, 401),
    }
    paths = create_app(ctx=ctx).openapi()["paths"]
    # Every /api/admin operation, and the organization registry's writes (issue, amend, close, import).
    admin_routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith("/api/admin") or (path.startswith("/api/orgids") and method in ("post", "patch"))
    ]
    assert len(admin_routes) > 15
    for method, template in admin_routes:
        path = template.replace("{", "").replace("}", "")
        for who, (headers, status) in callers.items():
            r = await http.request(method, path, json={}, headers=headers)
            assert r.status_code == status, (who, method, template, r.status_code, r.text[:200])


def _key_material(ctx: ServerContext, person: Person) -> dict[str, bytes]:
    """Every form the credential's private key (and the phone's TOTP secret) could be stored in."""
    cred = credentials.get_credential(ctx, person.credential_id)
    key = ctx.keystore("software")._key(cred.id, cred.key_ref)  # type: ignore[attr-defined]
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    traditional = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    secret = base64.b32decode(person.secret + "=" * (-len(person.secret) % 8))
    forms = {
        "PKCS#8 DER": der,
        "SEC1 DER": traditional,
        "PEM body": b"".join(pem.splitlines()[1:-1])[:64],
        "base64 DER": base64.b64encode(der)[:64],
        "urlsafe base64 DER": base64.urlsafe_b64encode(der)[:64],
        "hex private scalar": scalar.hex().encode(),
        "private scalar": scalar,
        "TOTP secret": secret,
        "TOTP secret base32": person.secret.encode(),
        "TOTP secret base64": base64.b64encode(secret),
    }
    return forms


def _absent(haystack: bytes, forms: dict[str, bytes]) -> list[str]:
    return [name for name, needle in forms.items() if needle in haystack or needle.lower() in haystack.lower()]


async def test_keys_and_otp_secrets_at_rest_are_encrypted(
    ctx: ServerContext, person: Person, http: httpx.AsyncClient, integrator: Integrator
) -> None:
    sid = (await _create(http, integrator, person))["id"]  # a signature made: the key was used
    code = oath(person.secret, step_offset=1)
    r = await http.post(
        f"/api/mobile/sessions/{sid}/confirm",
        json={"code": code},
        headers={"Authorization": f"Bearer {person.device_token}"},
    )
    assert r.status_code == 200
    forms = _key_material(ctx, person)
    url = ctx.db.url
    if ctx.db.is_sqlite:
        ctx.db.dispose()
        path = Path(url.split("///", 1)[1])
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
        stored = b"".join(p.read_bytes() for p in files)
        assert len(stored) > 50_000
        assert _absent(stored, forms) == []
    else:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            logical = b""
            for table in tables:  # every row of every table, as PostgreSQL's binary COPY gives it
                with conn.cursor().copy(f'COPY "{table}" TO STDOUT (FORMAT binary)') as copy:
                    logical += b"".join(bytes(chunk) for chunk in copy)
            physical = b""
            for table in ("credentials", "devices"):  # the relation files on disk
                filepath = conn.execute("SELECT pg_relation_filepath(%s)", (table,)).fetchone()[0]  # type: ignore[index]
                physical += bytes(conn.execute("SELECT pg_read_binary_file(%s)", (filepath,)).fetchone()[0])  # type: ignore[index]
        assert b"credentials" in b"".join(t.encode() for t in tables) and len(physical) > 8192
        assert _absent(logical, forms) == []
        assert _absent(physical, forms) == []


async def test_token_endpoint_does_the_same_work_whether_or_not_a_client_exists(
    http: httpx.AsyncClient, integrator: Integrator, ctx: ServerContext
) -> None:
    # What an attacker could time is the work done: the same statements run for an unknown client id
    # and a known one with a wrong secret (the hash is computed and compared against a dummy too;
    # services.clients). Wall-clock medians are measured in bench/token_timing.py, as a ratio.
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(" ".join(statement.split()))

    # The first audit event of a process reads the chain's head; later ones compare-and-set the head
    # they last wrote (services.audit): one refusal first, so every compared request is a later one.
    warm = {"grant_type": "client_credentials", "client_id": "rs_unknown_0000", "client_secret": "wrong-secret"}
    assert (await http.post("/oauth2/token", data=warm)).status_code == 401
    engines = {id(e): e for e in (ctx.db.engine, ctx.db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        seen = []
        for client_id in ("rs_unknown_0001", integrator.client_id, "rs_unknown_0001", integrator.client_id):
            statements.clear()
            r = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong-secret"},
            )
            assert r.status_code == 401 and r.json()["error"] == "invalid_client"
            seen.append(list(statements))
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    # A name's first failure in a window is audited, its next ones folded into its next event
    # (services.clients): the same for a client that exists and one that does not.
    assert seen[0] and seen[0] == seen[1] and seen[2] == seen[3]


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hooks.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hook_url() -> Iterator[str]:
    """A webhook receiver on loopback."""
    _Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/esign"
    server.shutdown()


async def test_webhooks_verify_with_the_sdk_and_not_when_tampered(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person, hook_url: str
) -> None:
    register_loopback_hook(ctx, integrator, hook_url)
    digest = base64.b64encode(hashlib.sha256(b"hook").digest()).decode()
    created = (
        await http.post(
            "/api/sessions",
            json={
                "credential_id": person.credential_id,
                "callback_url": hook_url,
                "items": [{"name": "a", "digest": digest}],
            },
            headers=integrator.headers,
        )
    ).json()
    await http.post(
        f"/api/mobile/sessions/{created['id']}/reject",
        json={},
        headers={"Authorization": f"Bearer {person.device_token}"},
    )
    deadline = time.monotonic() + 10
    while not _Hooks.received and time.monotonic() < deadline:  # noqa: ASYNC110 - another thread fills it
        await asyncio.sleep(0.05)
    headers, body = _Hooks.received[0]
    header = next(v for k, v in headers.items() if "signature" in k)
    assert json.loads(body)["status"] == "rejected"
    assert verify_webhook(integrator.webhook_secret, body, header)
    assert not verify_webhook(integrator.webhook_secret, body.replace(b"rejected", b"signed__"), header)
    assert not verify_webhook("another system's secret", body, header)
    assert not verify_webhook(integrator.webhook_secret, body, header, now=time.time() + 3600)  # replayed later


async def test_token_answers_are_never_cached(http: httpx.AsyncClient, integrator: Integrator) -> None:
    for path in ("/oauth2/token", "/csc/v2/oauth2/token"):
        answer = await http.post(
            path,
            data={"grant_type": "client_credentials", "scope": "sessions"},
            auth=(integrator.client_id, integrator.client_secret),
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
