"""esign.signers.remote.RemoteSigner against the real server over urllib: OTP, phone, batches, refusals."""

from __future__ import annotations

import hashlib

import pytest

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, KeyAccessError, SigningError
from esign.signers import verify_digest_signature
from esign.signers.remote import CscError, PendingConfirmation, RemoteSigner
from tests.clients.test_sdk import confirm_on_phone
from tests.server.conftest import Integrator, Person, oath


def test_otp_signature_verifies_with_the_credentials_certificate(
    server_url: str, rp: Integrator, person: Person
) -> None:
    signer = RemoteSigner.connect(
        server_url,
        person.credential_id,
        client_id=rp.client_id,
        client_secret=rp.client_secret,
        otp=lambda: oath(person.secret, step_offset=1),
    )
    assert "CCCD:001203012389" in signer.certificate.subject.rfc4514_string()
    assert len(signer.chain) == 2
    digest = hashlib.sha256(b"to khai").digest()
    signature = signer.sign_digest_sync(digest)
    assert verify_digest_signature(signer.public_key, signature, digest, signer.algorithm())


def test_phone_confirmation_shows_the_code_and_reports_progress(
    server_url: str, rp: Integrator, person: Person
) -> None:
    shown: list[PendingConfirmation] = []
    ticks: list[float] = []
    signer = RemoteSigner.connect(
        server_url,
        person.credential_id,
        access_token=rp.token,
        on_confirmation=shown.append,
        on_progress=lambda elapsed, total: ticks.append(elapsed),
        poll_interval=0.1,
    )
    digests = [hashlib.sha256(f"văn bản {i}".encode()).digest() for i in range(3)]
    phone = confirm_on_phone(server_url, person)
    signatures = signer.sign_digests_blocking(digests)
    phone.join()
    assert len(shown) == 1 and shown[0].hashes == 3 and len(shown[0].confirmation_code) == 7
    assert len(ticks) >= 2
    for signature, digest in zip(signatures, digests, strict=True):
        assert verify_digest_signature(signer.public_key, signature, digest, signer.algorithm())


def test_wrong_otp_surfaces_as_a_csc_error(server_url: str, rp: Integrator, person: Person) -> None:
    signer = RemoteSigner.connect(server_url, person.credential_id, access_token=rp.token, otp="000000")
    with pytest.raises(CscError) as refused:
        signer.sign_digest_sync(hashes := hashlib.sha256(b"x").digest())
    assert refused.value.code == "invalid_otp"
    assert isinstance(refused.value, SigningError) and hashes


def test_bad_client_secret_and_unknown_scheme_are_refused(server_url: str, rp: Integrator, person: Person) -> None:
    with pytest.raises(KeyAccessError):
        RemoteSigner.connect(server_url, person.credential_id, client_id=rp.client_id, client_secret="wrong" * 9)
    signer = RemoteSigner.connect(server_url, person.credential_id, access_token=rp.token, otp="123456")
    with pytest.raises(InvalidInput):
        signer.sign_digest_sync(b"\0" * 32, SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA256))
    with pytest.raises(InvalidInput):
        RemoteSigner.connect("ftp://example", person.credential_id, access_token="t")


def test_unreachable_service_is_a_signing_error(person: Person) -> None:
    from tests.server.csc.live import free_port

    with pytest.raises(SigningError, match="cannot reach"):
        RemoteSigner.connect(f"http://127.0.0.1:{free_port()}", person.credential_id, access_token="t")


async def test_sign_pdf_through_the_remote_signer(server_url: str, rp: Integrator, person: Person) -> None:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from esign.pdf.signing import async_sign_pdf
    from tests.server.csc.live import make_pdf

    signer = await RemoteSigner.aconnect(
        server_url, person.credential_id, access_token=rp.token, otp=oath(person.secret, step_offset=1)
    )
    signed = await async_sign_pdf(make_pdf(1, text="Hợp đồng"), None, signer)
    assert signed is not None
    assert len(PdfFileReader(io.BytesIO(signed)).embedded_signatures) == 1


def test_the_phone_sees_the_document_name_and_description_the_signer_sends(
    server_url: str, rp: Integrator, person: Person
) -> None:
    # Issue 21, item 16: a RemoteSigner's request showed "hash 1" on the phone.
    import threading
    import time

    import httpx

    seen: list[dict[str, object]] = []

    def phone() -> None:
        device = {"Authorization": f"Bearer {person.device_token}"}
        with httpx.Client(base_url=server_url) as http:
            for _ in range(400):
                pending = http.get("/api/mobile/sessions", headers=device).json()["sessions"]
                if pending:
                    seen.append(pending[0])
                    http.post(
                        f"/api/mobile/sessions/{pending[0]['id']}/confirm",
                        json={"code": oath(person.secret, step_offset=1)},
                        headers=device,
                    )
                    return
                time.sleep(0.05)

    signer = RemoteSigner.connect(
        server_url,
        person.credential_id,
        access_token=rp.token,
        poll_interval=0.1,
        description="Công văn 125/STP-HCTP",
        document_name="cong-van.pdf",
    )
    thread = threading.Thread(target=phone, daemon=True)
    thread.start()
    signer.sign_digest_sync(hashlib.sha256(b"cong van").digest())
    thread.join(30)
    [shown] = seen
    assert shown["documents"] == ["cong-van.pdf"] and shown["description"] == "Công văn 125/STP-HCTP"
