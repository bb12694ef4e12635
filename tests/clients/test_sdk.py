"""The SDK against the real server: sessions (sync and async), CSC, webhook signatures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_client import (
    ApiError,
    AsyncCscClient,
    AsyncEsignClient,
    ConfirmationTimeout,
    CscClient,
    EsignClient,
    verify_webhook,
)

from tests.server.conftest import Integrator, Person, oath


def confirm_on_phone(url: str, person: Person, *, delay: float = 0.3) -> threading.Thread:
    """The user's phone, in a thread: waits for the request, confirms with an oathtool code."""

    def run() -> None:
        device = {"Authorization": f"Bearer {person.device_token}"}
        with httpx.Client(base_url=url) as phone:
            for _ in range(200):
                pending = phone.get("/api/mobile/sessions", headers=device).json()["sessions"]
                if pending:
                    time.sleep(delay)
                    phone.post(
                        f"/api/mobile/sessions/{pending[0]['id']}/confirm",
                        json={"code": oath(person.secret, step_offset=1)},
                        headers=device,
                    )
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def verifies(cert_key: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes) -> bool:
    cert_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return True


def test_sync_session_create_wait_fetch(server_url: str, integrator: Integrator, person: Person) -> None:
    digest = hashlib.sha256(b"quyet dinh").digest()
    with EsignClient(server_url, client_id=integrator.client_id, client_secret=integrator.client_secret) as api:
        session = api.create_session(person.credential_id, [("quyết định.pdf", digest)])
        assert session.status == "pending" and len(session.confirmation_code) == 7
        phone = confirm_on_phone(server_url, person)
        done = api.wait(session.id, timeout=20, poll=5)
        phone.join()
        assert done.status == "signed"
        [signature] = api.fetch_signatures(session.id)
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(api.credential(person.credential_id)["certificate_pem"].encode())
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert verifies(key, signature, digest)


async def test_async_session_cancel_and_errors(server_url: str, integrator: Integrator, person: Person) -> None:
    async with AsyncEsignClient(
        server_url, client_id=integrator.client_id, client_secret=integrator.client_secret
    ) as api:
        session = await api.create_session(person.credential_id, [hashlib.sha256(b"x").digest()])
        cancelled = await api.cancel(session.id)
        assert cancelled.status == "rejected"
        with pytest.raises(ApiError) as refused:
            await api.fetch_signatures(session.id)
        assert refused.value.code == "session_rejected"
        with pytest.raises(ApiError) as missing:
            await api.get_session("00000000-0000-0000-0000-000000000000")
        assert missing.value.status == 404


async def test_async_wait_times_out_while_the_phone_is_silent(
    server_url: str, integrator: Integrator, person: Person
) -> None:
    async with AsyncEsignClient(
        server_url, client_id=integrator.client_id, client_secret=integrator.client_secret
    ) as api:
        session = await api.create_session(person.credential_id, [hashlib.sha256(b"y").digest()])
        with pytest.raises(ConfirmationTimeout):
            await api.wait(session.id, timeout=0.5, poll=0.2)


def test_expired_token_is_renewed_once(server_url: str, integrator: Integrator, person: Person) -> None:
    api = EsignClient(server_url, client_id=integrator.client_id, client_secret=integrator.client_secret)
    api.auth.access_token = "not-a-token"
    session = api.create_session(person.credential_id, [hashlib.sha256(b"z").digest()])
    assert session.status == "pending"
    api.close()


def test_csc_client_phone_flow_signs(server_url: str, rp: Integrator, person: Person) -> None:
    digests = [hashlib.sha256(f"hóa đơn {i}".encode()).digest() for i in range(2)]
    progress: list[float] = []
    with CscClient(server_url, client_id=rp.client_id, client_secret=rp.client_secret) as csc:
        info = csc.credentials_info(person.credential_id)
        assert info.scal == "2" and info.key_algorithms[0] == "1.2.840.10045.4.3.2"
        assert csc.credentials_list(person.user_id) == [person.credential_id]
        pending = csc.authorize(person.credential_id, digests)
        assert pending.pending and pending.confirmation_code
        phone = confirm_on_phone(server_url, person)
        authorized = csc.wait_authorized(
            pending, timeout=20, poll_interval=0.1, on_progress=lambda e, t: progress.append(e)
        )
        phone.join()
        assert authorized.sad and progress
        signatures = csc.sign_hash(person.credential_id, authorized.sad, digests, sign_algo=info.key_algorithms[0])
        key = info.certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert all(verifies(key, s, d) for s, d in zip(signatures, digests, strict=True))
        token = csc.timestamp(digests[0])
        assert len(token) > 500


async def test_async_csc_client_with_otp(server_url: str, rp: Integrator, person: Person) -> None:
    digest = hashlib.sha256(b"otp").digest()
    async with AsyncCscClient(server_url, access_token=rp.token) as csc:
        info = await csc.credentials_info(person.credential_id)
        auth = await csc.authorize(person.credential_id, [digest], otp=oath(person.secret, step_offset=1))
        assert auth.sad is not None
        await csc.sign_hash(person.credential_id, auth.sad, [digest], sign_algo=info.key_algorithms[0])
        with pytest.raises(ApiError) as spent:
            await csc.sign_hash(person.credential_id, auth.sad, [digest], sign_algo=info.key_algorithms[0])
        assert spent.value.code == "invalid_request" and spent.value.status == 400
        with pytest.raises(ApiError) as bad_otp:
            await csc.authorize(person.credential_id, [digest], otp="000000")
        assert bad_otp.value.code == "invalid_otp"
    await asyncio.sleep(0)


def test_webhook_signature_check_accepts_the_servers_and_refuses_tampering() -> None:
    secret = "whsec-test"
    body = json.dumps({"event": "session.signed"}).encode()
    now = int(time.time())
    header = f"t={now},v1=" + hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_webhook(secret, body, header)
    assert not verify_webhook(secret, body + b" ", header)
    assert not verify_webhook("other", body, header)
    assert not verify_webhook(secret, body, header, now=now + 3600)
    assert not verify_webhook(secret, body, "garbage")


def test_webhook_check_matches_the_server_signer() -> None:
    from esign_server.services.webhooks import sign_payload

    body = b'{"event":"session.signed"}'
    assert verify_webhook(b"k" * 32, body, sign_payload(b"k" * 32, body, int(time.time())))


def test_remote_cli_lists_credentials_and_signs_a_file(
    server_url: str, rp: Integrator, person: Person, tmp_path: object
) -> None:
    from pathlib import Path

    from esign_client.cli import app
    from typer.testing import CliRunner

    env = {"ESIGN_URL": server_url, "ESIGN_CLIENT_ID": rp.client_id, "ESIGN_CLIENT_SECRET": rp.client_secret}
    listed = CliRunner().invoke(app, ["credentials", person.user_id], env=env)
    assert listed.exit_code == 0, listed.output
    assert person.credential_id in listed.output and "CCCD:001203012389" in listed.output
    document = Path(str(tmp_path)) / "to-trinh.txt"
    document.write_text("tờ trình")
    signed = CliRunner().invoke(
        app,
        ["sign-file", str(document), "--credential", person.credential_id, "--otp", oath(person.secret, step_offset=1)],
        env=env,
    )
    assert signed.exit_code == 0, signed.output
    assert len(signed.output.strip().splitlines()[-1]) > 80  # base64 ECDSA signature


def test_whole_document_session_signs_the_sample_letter_on_the_server(
    server_url: str, integrator: Integrator, person: Person, tmp_path: Path
) -> None:
    # documents in POST /api/sessions through the SDK (issue 21, item 21): the phone confirms the
    # document's name, the server signs the PDF, the relying system fetches it; pdfsig checks it.
    from esign_client import Document

    letter = (Path(__file__).resolve().parents[2] / "samples" / "cong-van.pdf").read_bytes()
    with EsignClient(server_url, client_id=integrator.client_id, client_secret=integrator.client_secret) as api:
        session = api.create_session(
            person.credential_id,
            documents=[Document("cong-van.pdf", "pdf", letter, {"reason": "Phê duyệt"})],
            description="Công văn 125/STP-HCTP",
        )
        assert [d["name"] for d in session.raw["documents"]] == ["cong-van.pdf"]
        phone = confirm_on_phone(server_url, person)
        assert api.wait(session.id, timeout=20, poll=5).status == "signed"
        phone.join()
        signed = api.fetch_document(session.id, 0)
    assert signed.startswith(letter[:1024]) and len(signed) > len(letter)
    (tmp_path / "signed.pdf").write_bytes(signed)
    checked = subprocess.run(["pdfsig", str(tmp_path / "signed.pdf")], capture_output=True, text=True, timeout=60)
    assert "Signature Validation: Signature is Valid." in checked.stdout, checked.stdout
