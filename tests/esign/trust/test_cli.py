"""The verify commands' common options (trust store, --lang, --report, --at, exit codes) and ``esign trust``."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from typer.testing import CliRunner

from esign.pdf.cli import app as pdf_app
from esign.pki import DevPKI
from esign.trust.cli import app as trust_app
from esign.xml.cli import app as xml_app
from tests.esign.pdf.samples import make_pdf
from tests.esign.xml.conftest import INVOICE

runner = CliRunner()
FULL_CCCD = "001090012389"


@pytest.fixture(autouse=True)
def operator_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "operator-trust"
    monkeypatch.setenv("ESIGN_TRUST_DIR", str(directory))
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    return directory


@pytest.fixture
def signed_pdf(tmp_path: Path, dev_pki: DevPKI) -> Path:
    source, signed = tmp_path / "cong-van.pdf", tmp_path / "cong-van-signed.pdf"
    source.write_bytes(make_pdf(1, text="Công văn số 7"))
    result = runner.invoke(
        pdf_app,
        ["sign", str(source), "-o", str(signed), "--key", str(dev_pki.p12_path("person-p256")),
         "--password", dev_pki.password],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return signed


@pytest.fixture
def signed_xml(tmp_path: Path, dev_pki: DevPKI) -> Path:
    source, signed = tmp_path / "hoa-don.xml", tmp_path / "hoa-don-signed.xml"
    source.write_bytes(INVOICE)
    key = ["--key", str(dev_pki.p12_path("person-p256")), "--password", dev_pki.password]
    result = runner.invoke(xml_app, ["sign", str(source), "-o", str(signed), *key, "-p", "einvoice"])
    assert result.exit_code == 0, result.output
    return signed


def _pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_verify_needs_no_trust_option_and_a_foreign_root_is_indeterminate(signed_pdf: Path, signed_xml: Path) -> None:
    # The dev root is not in the bundled Vietnamese store: no path, exit 3 (not 1, not 2)
    pdf = runner.invoke(pdf_app, ["verify", str(signed_pdf), "--json"])
    assert pdf.exit_code == 3, pdf.output
    assert json.loads(pdf.output)["signatures"][0]["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    xml = runner.invoke(xml_app, ["verify", str(signed_xml), "--json"])
    assert xml.exit_code == 3, xml.output
    assert json.loads(xml.output)["signatures"][0]["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_an_operator_anchor_is_trusted_listed_and_removable(signed_pdf: Path, dev_pki: DevPKI) -> None:
    added = runner.invoke(trust_app, ["add", str(dev_pki.root_pem_path)])
    assert added.exit_code == 0, added.output
    listing = json.loads(runner.invoke(trust_app, ["list", "--json"]).output)
    sources = {a["name"]: a["source"] for a in listing["anchors"]}
    assert sources["esign Dev Root CA"] == "operator" and sources["Vietnam National Root CA"] == "bundled"
    assert sources["RootCA chuyên dùng Chính phủ G2"] == "bundled"
    assert {i["subject"].split("CN=")[-1].split(",")[0] for i in listing["intermediates"]} >= {"VNPT-CA SHA2"}
    assert runner.invoke(pdf_app, ["verify", str(signed_pdf), "--fetch"]).exit_code == 0

    pin = dev_pki.root_ca.certificate.fingerprint(hashes.SHA256()).hex()
    removed = runner.invoke(trust_app, ["remove", pin])
    assert removed.exit_code == 0 and "esign Dev Root CA" in removed.output
    assert runner.invoke(pdf_app, ["verify", str(signed_pdf), "--fetch"]).exit_code == 3
    assert runner.invoke(trust_app, ["remove", "00" * 32]).exit_code == 2


def test_trust_adds_and_trust_only_replaces(signed_pdf: Path, dev_pki: DevPKI) -> None:
    root = str(dev_pki.root_pem_path)
    assert runner.invoke(pdf_app, ["verify", str(signed_pdf), "--trust", root, "--fetch"]).exit_code == 0
    assert runner.invoke(pdf_app, ["verify", str(signed_pdf), "--trust-only", root, "--fetch"]).exit_code == 0
    other = str(dev_pki.directory / "tsa.pem")
    assert runner.invoke(pdf_app, ["verify", str(signed_pdf), "--trust-only", other, "--fetch"]).exit_code == 3
    listing = json.loads(runner.invoke(trust_app, ["list", "--json", "--trust-only", root]).output)
    assert [(a["name"], a["source"]) for a in listing["anchors"]] == [("esign Dev Root CA", "caller")]


def test_lang_vi_reports_in_vietnamese(signed_pdf: Path, signed_xml: Path, dev_pki: DevPKI) -> None:
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch", "--lang", "vi"]
    for app, path in ((pdf_app, signed_pdf), (xml_app, signed_xml)):
        result = runner.invoke(app, ["verify", str(path), *trust])
        assert result.exit_code == 0, result.output
        for text in ("Người ký:", "Nguyễn Văn An", "Tình trạng thu hồi:", "Kết quả: TOTAL-PASSED", "chữ ký hợp lệ"):
            assert text in result.output
        assert FULL_CCCD not in result.output
        english = runner.invoke(app, ["verify", str(path), "--trust", str(dev_pki.root_pem_path), "--fetch"])
        assert "Result: TOTAL-PASSED" in english.output  # the locale (C.UTF-8) is not Vietnamese


def test_the_locale_chooses_vietnamese(signed_pdf: Path, dev_pki: DevPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    result = runner.invoke(pdf_app, ["verify", str(signed_pdf), "--trust", str(dev_pki.root_pem_path), "--fetch"])
    assert "Kết quả: TOTAL-PASSED" in result.output


def test_printable_report_has_one_page_per_signature_and_masks_identity(
    signed_pdf: Path, signed_xml: Path, dev_pki: DevPKI, tmp_path: Path
) -> None:
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch"]
    for app, path in ((pdf_app, signed_pdf), (xml_app, signed_xml)):
        report = tmp_path / f"{path.stem}-report.pdf"
        result = runner.invoke(app, ["verify", str(path), *trust, "--lang", "vi", "--report", str(report)])
        assert result.exit_code == 0, result.output
        text = _pdftotext(report)
        assert "BÁO CÁO KIỂM TRA CHỮ KÝ SỐ" in text
        assert path.name in text
        assert hashlib.sha256(path.read_bytes()).hexdigest() in text
        for line in (
            "Người ký:",
            "Nguyễn Văn An",
            "Đường dẫn tin cậy:",
            "Tình trạng thu hồi:",
            "Kết luận: TOTAL-PASSED",
        ):
            assert line in text
        assert "CCCD:0010******89" in text and FULL_CCCD not in text
        assert "VN-TT15-2025" in text
        assert _pages(report) == 1
    english = tmp_path / "en.pdf"
    runner.invoke(pdf_app, ["verify", str(signed_pdf), *trust, "--lang", "en", "--report", str(english)])
    assert "SIGNATURE VALIDATION REPORT" in _pdftotext(english)


def test_exit_codes_failed_refused_and_at(signed_xml: Path, signed_pdf: Path, dev_pki: DevPKI, tmp_path: Path) -> None:
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch"]
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed_xml.read_bytes().replace(b"16500000", b"99500000"))
    assert tampered.read_bytes() != signed_xml.read_bytes()
    assert runner.invoke(xml_app, ["verify", str(tampered), *trust]).exit_code == 1
    assert runner.invoke(xml_app, ["verify", str(tmp_path / "missing.xml"), *trust]).exit_code == 2
    assert runner.invoke(pdf_app, ["verify", str(tmp_path / "missing.pdf"), *trust]).exit_code == 2
    for app, path in ((pdf_app, signed_pdf), (xml_app, signed_xml)):
        assert runner.invoke(app, ["verify", str(path), *trust, "--lang", "fr"]).exit_code == 2
        assert runner.invoke(app, ["verify", str(path), *trust, "--at", "2030-01-01"]).exit_code == 2  # no zone
        # before the certificates existed: never TOTAL-PASSED
        past = runner.invoke(app, ["verify", str(path), *trust, "--at", "2001-01-01T00:00:00Z", "--json"])
        assert past.exit_code == 3, past.output


def test_trust_and_trust_only_together_are_refused(signed_pdf: Path, dev_pki: DevPKI) -> None:
    root = str(dev_pki.root_pem_path)
    result = runner.invoke(pdf_app, ["verify", str(signed_pdf), "--trust", root, "--trust-only", root])
    assert result.exit_code == 2 and "not both" in result.output
