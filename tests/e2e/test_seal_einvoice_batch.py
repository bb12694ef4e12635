"""End to end over real HTTP: an e-invoice issuer signs 100 invoices with its organization seal, one
``credentials/authorize`` and one ``signatures/signHash`` for the whole batch, no person confirming;
``xmlsec1`` (not ours) verifies every invoice against the service CA.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from esign_client import CscClient
from esign_client.batch import sign_xml_batch
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.models import AuditEvent
from esign_server.services import credentials, users
from esign_server.services.pki import pki_base_url
from sqlmodel import select

from esign.pki import create_dev_pki
from esign.signers.remote import RemoteSigner
from tests.server.conftest import Integrator, make_settings, register_client, verify_in_person
from tests.server.csc.live import free_port, live_server

INVOICES = 100


def invoice(number: int) -> bytes:
    """A VAT e-invoice (TT 78/2021 layout) numbered ``number``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<HDon><DLHDon Id="data"><TTChung><PBan>2.0.0</PBan><THDon>Hóa đơn giá trị gia tăng</THDon>'
        f"<KHHDon>C26TAA</KHHDon><SHDon>{number}</SHDon><NLap>2026-12-06</NLap></TTChung>"
        "<NDHDon><NBan><Ten>Công ty TNHH Hóa đơn Xanh</Ten><MST>5700100256</MST></NBan>"
        f"<NMua><Ten>Khách hàng {number}</Ten></NMua><TToan><TgTTTBSo>{1000 * number}</TgTTTBSo></TToan>"
        "</NDHDon></DLHDon>\n</HDon>\n"
    ).encode()


@dataclass
class SealService:
    """A running server with an organization seal that one relying system may use."""

    url: str
    pki_dir: Path
    ctx: ServerContext
    rp: Integrator
    seal_id: str


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def pki_dir(port: int, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("seal-pki") / "pki"
    create_dev_pki(directory, "esign-dev", base_url=pki_base_url(f"http://127.0.0.1:{port}"))
    return directory


@pytest.fixture
def service(database_url: str, pki_dir: Path, port: int, tmp_path: Path) -> Iterator[SealService]:
    migrate(database_url)
    settings = make_settings(database_url, pki_dir, tmp_path, public_url=f"http://127.0.0.1:{port}")
    ctx = ServerContext(settings)
    try:
        with live_server(ctx, port) as url:
            admin = register_client(ctx, ["admin"], name="Quản trị")
            rp = register_client(ctx, ["csc"], name="Phần mềm hóa đơn")
            org = users.create_user(
                ctx, full_name="Công ty TNHH Hóa đơn Xanh", tax_code="5700100256", organization="Xanh", actor="t"
            )
            verify_in_person(ctx, org.id, "5700100256", kind="BRN")
            seal_id = credentials.issue_credential(ctx, user_id=org.id, key_algorithm="rsa2048", actor="t").id
            made = httpx.put(
                f"{url}/api/admin/credentials/{seal_id}/seal",
                json={"clients": [rp.client_id], "per_minute": 1000, "per_day": 50_000, "max_hashes_per_call": 100},
                headers=admin.headers,
            )
            assert made.status_code == 200, made.text
            yield SealService(url, pki_dir, ctx, rp, seal_id)
    finally:
        ctx.close()


def events(ctx: ServerContext, action: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def xmlsec1_verify(path: Path, pki_dir: Path) -> subprocess.CompletedProcess[str]:
    args = ["xmlsec1", "--verify", "--trusted-pem", str(pki_dir / "root.pem")]
    args += ["--untrusted-pem", str(pki_dir / "issuing-ca.pem"), "--enabled-reference-uris", "empty,same-doc"]
    for element in ("DLHDon", "Object", "SignedProperties", "Signature"):
        args += ["--id-attr:Id", element]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, check=False, timeout=60)


def test_100_einvoices_signed_with_one_authorization_verify_with_xmlsec1(service: SealService, tmp_path: Path) -> None:
    signer = RemoteSigner.connect(
        service.url, service.seal_id, client_id=service.rp.client_id, client_secret=service.rp.client_secret
    )
    assert signer.multisign == 100
    documents = [invoice(n) for n in range(1, INVOICES + 1)]
    signed = sign_xml_batch(documents, signer, profile="einvoice")
    assert len(signed) == INVOICES
    # One authorization and one signHash for the 100 invoices, each audited once for the batch.
    [authorized] = events(service.ctx, "seal.authorized")
    [batch] = events(service.ctx, "csc.signed")
    assert authorized.details["signatures"] == batch.details["signatures"] == INVOICES
    assert authorized.details["hashes_digest"] == batch.details["hashes_digest"]
    for n, document in enumerate(signed, start=1):
        assert f"<SHDon>{n}</SHDon>".encode() in document
        path = tmp_path / f"hoa-don-{n}.xml"
        path.write_bytes(document)
        result = xmlsec1_verify(path, service.pki_dir)
        assert result.returncode == 0, result.stderr[-2000:]
    # A changed amount no longer verifies.
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed[0].replace(b"<TgTTTBSo>1000</TgTTTBSo>", b"<TgTTTBSo>9000</TgTTTBSo>"))
    assert xmlsec1_verify(tampered, service.pki_dir).returncode != 0


def test_the_sdk_gets_a_seal_sad_at_once_for_a_batch(service: SealService) -> None:
    digests = [hashlib.sha256(invoice(n)).digest() for n in range(INVOICES)]
    with CscClient(service.url, client_id=service.rp.client_id, client_secret=service.rp.client_secret) as csc:
        info = csc.credentials_info(service.seal_id)
        assert info.scal == "1"
        authorization = csc.authorize(service.seal_id, digests)
        assert not authorization.pending
        assert authorization.sad is not None
        signatures = csc.sign_hash(service.seal_id, authorization.sad, digests, sign_algo=info.key_algorithms[0])
        # The same client is the transport of the library's RemoteSigner (one CSC client, two HTTP stacks).
        signer = RemoteSigner.over(csc, service.seal_id)
        signed = sign_xml_batch([invoice(1), invoice(2)], signer, profile="einvoice")
    assert len(signatures) == INVOICES
    assert all(len(s) == 256 for s in signatures)
    assert len(signed) == 2
