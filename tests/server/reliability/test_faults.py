"""Faults: the server killed (SIGKILL) and restarted, the database cut, the PKCS#11 token removed.

After each: nothing half-done is visible (no session ``signed`` without its signatures, no
signature twice, the audit chain verifies), and clients got retryable answers (503 with
Retry-After, 409 with a clear code after a retry, connection refused while the server was down),
never a wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pkcs11
import pytest
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.models import SigningSession
from esign_server.models.csc import CscAuthorization
from esign_server.services import credentials, devices, identity, users
from sqlalchemy.engine import make_url
from sqlmodel import select

from bench.load import via_proxy
from bench.load_check import check_database, verify_signature
from bench.load_sandbox import build_sandbox
from bench.load_server import ServerProcess, TcpProxy, free_port, server_env
from esign.signers import pkcs11 as esign_pkcs11
from tests.conftest import _PG_KEY, _fresh_postgres_database
from tests.softhsm import make_softhsm_token, softhsm_home

from ..conftest import Integrator, grant_all, make_settings, oath, register_client
from .conftest import explain, short_run


def test_sigkill_at_random_moments_leaves_nothing_half_done(tmp_path: Path) -> None:
    # SQLite here (a crash mid-write must not corrupt the file or lose a commit); PostgreSQL with two
    # workers is killed in the idempotency test below and has its connections cut under load.
    result = short_run(f"sqlite:///{tmp_path / 'esign.db'}", tmp_path, kill_every=3.0, seed=7)
    assert result.kills >= 1, explain(result)
    assert result.stats.unexpected == [], explain(result)
    assert result.database.violations == [], explain(result)
    assert result.database.audit_ok, result.database.audit_output
    assert sum(result.stats.retryable.values()) > 0  # the clients did see the server go away
    assert result.database.sessions_by_state["signed"] >= len(result.stats.signed) > 0


def test_database_cuts_under_load_give_503_and_lose_nothing(postgres_url: str, tmp_path: Path) -> None:
    result = short_run(postgres_url, tmp_path, workers=2, cut_db_every=3.0, outage_seconds=1.5, seed=11)
    assert result.db_cuts >= 2, explain(result)
    assert result.stats.unexpected == [], explain(result)
    assert result.database.violations == [], explain(result)
    assert result.database.audit_ok, result.database.audit_output
    assert any(key.endswith(":503") for key in result.stats.retryable), explain(result)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database: cutting the connection is a PostgreSQL fault (SQLite is a local file)."""
    reason = request.config.stash.get(_PG_KEY, None)
    if reason:
        pytest.fail(f"PostgreSQL is unreachable ({reason}); set ESIGN_TEST_DATABASE_URL")
    yield from _fresh_postgres_database()


@pytest.fixture
def proxied_ctx(postgres_url: str, service_pki_dir: Path, tmp_path: Path) -> Iterator[tuple[ServerContext, TcpProxy]]:
    """A server context whose every database connection goes through a proxy that can cut them."""
    migrate(postgres_url)
    target = make_url(postgres_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    context = ServerContext(make_settings(via_proxy(postgres_url, proxy), service_pki_dir, tmp_path))
    yield context, proxy
    context.close()
    proxy.close()


async def test_database_cut_answers_503_with_retry_after_then_recovers(
    proxied_ctx: tuple[ServerContext, TcpProxy],
) -> None:
    # Regression: a lost database connection used to answer 500 internal_error (and uvicorn then
    # dropped the client's keep-alive connection); now 503 + Retry-After, and the next try works.
    ctx, proxy = proxied_ctx
    client = register_client(ctx, ["sessions", "csc"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx=ctx)), base_url="http://t") as http:
        assert (await http.get("/api/orgids/H49")).status_code in (200, 404)
        proxy.cut()
        for method, path, body in (
            ("GET", "/api/sessions", None),
            ("POST", "/csc/v2/credentials/list", {"userID": "nobody"}),
            ("GET", "/api/orgids?prefix=H49", None),
        ):
            refused = await http.request(method, path, json=body, headers=client.headers)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == "temporarily_unavailable"
            assert refused.json()["error_description"]
        proxy.restore()
        assert (await http.get("/api/sessions", headers=client.headers)).status_code == 200


def test_repeated_create_with_the_same_idempotency_key_after_a_crash_does_not_sign_twice(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(database_url, tmp_path / "var", port)
    sandbox = build_sandbox(env, systems=1, users=1, phones_per_user=1, rsa_every=0)
    party, holder = sandbox.systems[0], sandbox.holders[0]
    phone = holder.phones[0]
    server = ServerProcess(env, workers=1 if database_url.startswith("sqlite") else 2)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            party.token = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": party.client_id,
                    "client_secret": party.client_secret,
                },
            ).json()["access_token"]
            digest = hashlib.sha256(b"to-khai-thue.xml").digest()
            body = {
                "credential_id": holder.credential_id,
                "items": [{"name": "tờ khai", "digest": base64.b64encode(digest).decode()}],
            }
            headers = {**party.headers, "Idempotency-Key": "order-2026-0001"}
            created = http.post("/api/sessions", json=body, headers=headers)
            assert created.status_code == 201
            sid = created.json()["id"]
            step = phone.last_step + 1
            confirm = {"code": phone.code(step)}
            phone_headers = {"Authorization": f"Bearer {phone.token}"}
            assert (
                http.post(f"/api/mobile/sessions/{sid}/confirm", json=confirm, headers=phone_headers).status_code == 200
            )
            signatures = http.get(f"/api/sessions/{sid}", headers=party.headers).json()["signatures"]

            server.kill()  # the relying system never heard back, say; it retries after the restart
            server.start()

            again = http.post("/api/sessions", json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.json()["id"] == sid and again.json()["status"] == "signed"
            assert again.json()["signatures"] == signatures
            # The phone's retry of the same confirmation is refused with a clear code, not signed again.
            retried = http.post(f"/api/mobile/sessions/{sid}/confirm", json=confirm, headers=phone_headers)
            assert retried.status_code == 409 and retried.json()["error"] == "session_signed"
            assert verify_signature(
                holder.public_key, base64.b64decode(signatures[0]), digest, again.json()["signature_algorithm"]
            )
            # Another body under the same key is a conflict, not a new session.
            other = {**body, "items": [{"name": "khác", "digest": base64.b64encode(bytes(32)).decode()}]}
            conflict = http.post("/api/sessions", json=other, headers=headers)
            assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_conflict"
    finally:
        server.stop()
    report = check_database(database_url, env=env)
    assert report.violations == [] and report.audit_ok, report
    assert report.sessions_by_state == {"signed": 1}


# --- the PKCS#11 token removed ------------------------------------------------------------------


def _token_dir(label: str) -> Path:
    """The SoftHSM2 directory of the token labelled ``label``."""
    for candidate in (softhsm_home() / "tokens").iterdir():
        if label.encode() in (candidate / "token.object").read_bytes():
            return candidate
    raise AssertionError(f"no SoftHSM2 directory for {label}")


def _reload_pkcs11(ctx: ServerContext, lib_path: str) -> None:
    """What a server restart does for the PKCS#11 library (SoftHSM2 sees a token again only then)."""
    ctx.keystore("pkcs11").close()  # type: ignore[attr-defined]
    pkcs11.lib(lib_path).reinitialize()
    esign_pkcs11._logins.clear()


async def test_removed_token_answers_503_and_the_session_stays_pending(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, tmp_path: Path
) -> None:
    # Regression: a key store out of reach during a confirmation used to end the session as
    # ``failed`` (the user's confirmation spent, a 502 to the phone). Now the step is rolled
    # back: 503 + Retry-After, the session stays pending and the same code works once it is back.
    token = make_softhsm_token(tmp_path, None)
    ctx.settings.pkcs11_module, ctx.settings.pkcs11_token_label = token.lib_path, token.label
    ctx.settings.pkcs11_pin = token.user_pin
    user = users.create_user(ctx, full_name="Đặng Thu Hà", cccd="079190000321", actor="test")
    identity.record_verification(
        ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", "079190000321"), actor="t"
    )
    cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm="p256", keystore="pkcs11", actor="t")
    grant_all(ctx, user_id=user.id)
    pairings = []
    for _ in range(2):  # the phone that confirms the session; the one whose OTP the CSC call carries (newest)
        enrollment = devices.start_enrollment(ctx, user_id=user.id, actor="test")
        _device, device_token = devices.activate(
            ctx, enrollment_token=enrollment.enrollment_token, code=oath(enrollment.secret_b32), actor="test"
        )
        pairings.append((enrollment.secret_b32, device_token))
    (secret, device_token), (csc_secret, _) = pairings
    phone = {"Authorization": f"Bearer {device_token}"}
    csc_rp = register_client(ctx, ["csc"], name="Hệ thống hóa đơn")
    digest = hashlib.sha256(b"hoa-don-0001.xml").digest()
    created = await http.post(
        "/api/sessions",
        json={"credential_id": cred.id, "items": [{"name": "hóa đơn", "digest": base64.b64encode(digest).decode()}]},
        headers=integrator.headers,
    )
    sid = created.json()["id"]
    # A CSC authorization confirmed before the token goes: its SAD must survive the outage unspent.
    b64 = base64.b64encode(hashlib.sha256(b"csc").digest()).decode()
    authorized = await http.post(
        "/csc/v2/credentials/authorize",
        json={
            "credentialID": cred.id,
            "numSignatures": 1,
            "hashes": [b64],
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "authData": [{"id": "OTP", "value": oath(csc_secret, step_offset=1)}],
        },
        headers=csc_rp.headers,
    )
    assert authorized.status_code == 200, authorized.text
    sign_hash = {
        "credentialID": cred.id,
        "SAD": authorized.json()["SAD"],
        "hashes": [b64],
        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "signAlgo": "1.2.840.10045.4.3.2",
    }

    directory = _token_dir(token.label)
    away = directory.with_name(directory.name + ".removed")
    shutil.move(directory, away)
    try:
        code = oath(secret, step_offset=1)
        refused = await http.post(f"/api/mobile/sessions/{sid}/confirm", json={"code": code}, headers=phone)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) > 0
        refused_csc = await http.post("/csc/v2/signatures/signHash", json=sign_hash, headers=csc_rp.headers)
        assert refused_csc.status_code == 503, refused_csc.text
        assert refused_csc.json()["error"] == "temporarily_unavailable" and "retry-after" in refused_csc.headers
        with ctx.db.read() as session:
            row = session.get(SigningSession, sid)
            assert row is not None and row.status == "pending" and row.signatures is None and row.otp_failures == 0
            spent = session.exec(select(CscAuthorization.signatures_used)).one()
            assert spent == 0
    finally:
        shutil.move(away, directory)
    _reload_pkcs11(ctx, token.lib_path)
    confirmed = await http.post(f"/api/mobile/sessions/{sid}/confirm", json={"code": code}, headers=phone)
    assert confirmed.status_code == 200, confirmed.text
    got = (await http.get(f"/api/sessions/{sid}", headers=integrator.headers)).json()
    public_key = credentials.certificate_of(credentials.get_credential(ctx, cred.id)).public_key()  # type: ignore[union-attr]
    assert got["status"] == "signed"
    assert verify_signature(public_key, base64.b64decode(got["signatures"][0]), digest, got["signature_algorithm"])
    signed = await http.post("/csc/v2/signatures/signHash", json=sign_hash, headers=csc_rp.headers)
    assert signed.status_code == 200, signed.text
    assert (await http.post("/csc/v2/signatures/signHash", json=sign_hash, headers=csc_rp.headers)).status_code == 400
