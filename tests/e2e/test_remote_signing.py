"""End to end on loopback: a relying system signs a PDF at B-LT and an e-invoice XML with a user's key
held by the server, the user confirming with an OTP from oathtool; pdfsig, xmlsec1 and our verifiers agree.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.services.pki import pki_base_url
from typer.testing import CliRunner

from esign.pdf.signing import sign_pdf
from esign.pdf.verify import verify_pdf
from esign.pki import create_dev_pki
from esign.report import Indication
from esign.signers.remote import RemoteSigner
from esign.xml.signing import sign_xml
from esign.xml.verification import verify_xml
from tests.server.conftest import Integrator, Person, enroll_person, make_settings, oath, register_client
from tests.server.csc.live import free_port, live_server, make_pdf

INVOICE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<HDon><DLHDon Id="data"><TTChung><PBan>2.0.0</PBan><THDon>Hóa đơn giá trị gia tăng</THDon>'
    "<KHHDon>C26TAA</KHHDon><SHDon>123</SHDon><NLap>2026-11-23</NLap></TTChung>"
    "<NDHDon><NBan><Ten>Công ty A</Ten><MST>0100109106</MST></NBan><NMua><Ten>Công ty B</Ten></NMua>"
    "<TToan><TgTTTBSo>16500000</TgTTTBSo></TToan></NDHDon></DLHDon>\n</HDon>\n"
).encode()


@dataclass
class Service:
    """A running server whose CA, OCSP and TSA URLs point at itself."""

    url: str
    pki_dir: Path
    ctx: ServerContext
    rp: Integrator
    person: Person

    @property
    def root_pem(self) -> Path:
        return self.pki_dir / "root.pem"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def pki_dir(port: int, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("e2e-pki") / "pki"
    create_dev_pki(directory, "esign-dev", base_url=pki_base_url(f"http://127.0.0.1:{port}"))
    return directory


@pytest.fixture
def service(database_url: str, pki_dir: Path, port: int, tmp_path: Path) -> Iterator[Service]:
    migrate(database_url)
    ctx = ServerContext(make_settings(database_url, pki_dir, tmp_path, public_url=f"http://127.0.0.1:{port}"))
    try:
        with live_server(ctx, port) as url:
            person = enroll_person(ctx, key_algorithm="rsa2048")
            yield Service(url, pki_dir, ctx, register_client(ctx, ["csc"], name="Cổng hóa đơn"), person)
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def nss_db(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "esign-e2e-root", "-t", "CT,C,C", "-i", str(pki_dir / "root.pem")],
        check=True,
    )
    return db


def signer_for(service: Service) -> RemoteSigner:
    return RemoteSigner.connect(
        service.url,
        service.person.credential_id,
        client_id=service.rp.client_id,
        client_secret=service.rp.client_secret,
        otp=lambda: oath(service.person.secret, step_offset=1),
    )


def test_pdf_signed_remotely_at_b_lt_verifies_with_pdfsig_and_esign(
    service: Service, nss_db: Path, tmp_path: Path
) -> None:
    signed = tmp_path / "cong-van.pdf"
    sign_pdf(
        make_pdf(1, text="Công văn số 12/UBND"),
        signed,
        signer_for(service),
        level="B-LT",
        tsa_url=f"{service.url}/pki/tsa",
        reason="Phê duyệt",
        trust=[service.root_pem],
    )
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_db}", str(signed)], capture_output=True, text=True, timeout=60
    )
    assert "Signature is Valid" in report.stdout, report.stdout + report.stderr
    assert "Certificate is Trusted" in report.stdout
    # B-LT adds the validation material in a later revision, so pdfsig says "Not total document signed".
    assert "document signed" in report.stdout
    [ours] = verify_pdf(signed, trust_anchors=[service.root_pem])
    assert ours.indication is Indication.TOTAL_PASSED, ours
    assert ours.level in ("B-LT", "PAdES-B-LT", "PAdES_BASELINE_LT") or "LT" in str(ours.level)


def test_einvoice_signed_remotely_verifies_with_xmlsec1_and_esign(service: Service, tmp_path: Path) -> None:
    signed = sign_xml(INVOICE, signer_for(service), profile="einvoice")
    path = tmp_path / "hoa-don.xml"
    path.write_bytes(signed)
    args = [
        "xmlsec1",
        "--verify",
        "--trusted-pem",
        str(service.root_pem),
        "--untrusted-pem",
        str(service.pki_dir / "issuing-ca.pem"),
        "--enabled-reference-uris",
        "empty,same-doc",
    ]
    for element in ("DLHDon", "Object", "SignedProperties", "Signature"):
        args += ["--id-attr:Id", element]
    result = subprocess.run([*args, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = verify_xml(signed, trust_anchors=str(service.root_pem), allow_fetching=True)
    first = report[0] if isinstance(report, list) else report
    assert first.indication is Indication.TOTAL_PASSED, first


def test_cli_signs_a_pdf_with_remote_and_otp(service: Service, tmp_path: Path) -> None:
    from esign.pdf.cli import app

    source = tmp_path / "in.pdf"
    source.write_bytes(make_pdf(1, text="Tờ trình"))
    out = tmp_path / "out.pdf"
    result = CliRunner().invoke(
        app,
        [
            "sign",
            str(source),
            "-o",
            str(out),
            "--remote",
            service.url,
            "--credential",
            service.person.credential_id,
            "--otp",
            oath(service.person.secret, step_offset=1),
        ],
        env={"ESIGN_CLIENT_ID": service.rp.client_id, "ESIGN_CLIENT_SECRET": service.rp.client_secret},
    )
    assert result.exit_code == 0, result.output
    [report] = verify_pdf(out, trust_anchors=[service.root_pem], allow_fetching=True)  # B-B: ask the service
    assert report.indication is Indication.TOTAL_PASSED
