"""Signing at every PAdES level, checked by pdfsig, openssl and our verifier (pyHanko underneath)."""

from __future__ import annotations

import subprocess

import pytest
from asn1crypto import cms
from conftest import pdfsig
from pyhanko.pdf_utils.reader import PdfFileReader

import esign
from esign.errors import InvalidInput
from esign.pdf import VisibleSignature, extend_pdf, sign_pdf, verify_pdf
from esign.report import Indication, RevocationStatus


def _signature(data: bytes, index: int = 0):  # type: ignore[no-untyped-def]
    import io

    return PdfFileReader(io.BytesIO(data)).embedded_signatures[index]


@pytest.mark.parametrize("name", ["person-rsa2048", "person-p256"])
def test_b_b_is_valid_for_pdfsig_and_whole_document_signed(dev_pki, nss_db, one_page_pdf, tmp_path, name):  # type: ignore[no-untyped-def]
    out = tmp_path / "signed.pdf"
    assert esign.sign_pdf(one_page_pdf, out, dev_pki.signer(name)) is None
    report = pdfsig(out, nss_db)
    assert "Signature is Valid" in report
    assert "Total document signed" in report
    assert "Certificate is Trusted" in report
    [result] = esign.verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.indication is Indication.TOTAL_PASSED
    assert result.level == "B-B"
    assert result.coverage == "entire_file"


def test_cms_verifies_with_openssl_over_the_byte_ranges(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    signed = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"))
    assert signed is not None
    sig = _signature(signed)
    a, b, c, d = sig.sig_object["/ByteRange"]
    (tmp_path / "content.bin").write_bytes(signed[a : a + b] + signed[c : c + d])
    (tmp_path / "sig.der").write_bytes(sig.pkcs7_content)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "sig.der"),
            "-content",
            str(tmp_path / "content.bin"),
            "-CAfile",
            str(dev_pki.root_pem_path),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


def test_b_t_time_stamp_verifies_with_openssl_ts(dev_pki, nss_db, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "bt.pdf"
    sign_pdf(one_page_pdf, out, dev_pki.signer("person-rsa2048"), level="B-T", tsa_url=dev_pki.tsa_url)
    assert "Signature is Valid" in pdfsig(out, nss_db)
    sig = _signature(out.read_bytes())
    signer_info = sig.signer_info
    token = next(
        a["values"][0] for a in signer_info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"
    )
    (tmp_path / "token.der").write_bytes(cms.ContentInfo.load(token.dump()).dump())
    (tmp_path / "sigvalue.bin").write_bytes(signer_info["signature"].native)
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(tmp_path / "token.der"),
            "-data",
            str(tmp_path / "sigvalue.bin"),
            "-CAfile",
            str(dev_pki.root_pem_path),
            "-untrusted",
            str(dev_pki.chain_pem_path),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    [report] = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.level == "B-T"
    assert [t.kind for t in report.timestamps] == ["signature"]


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_lt_levels_embed_revocation_and_are_reached(dev_pki, nss_db, one_page_pdf, tmp_path, level):  # type: ignore[no-untyped-def]
    out = tmp_path / "lt.pdf"
    sign_pdf(one_page_pdf, out, dev_pki.signer("person-p256"), level=level, tsa_url=dev_pki.tsa_url)
    assert "Signature is Valid" in pdfsig(out, nss_db)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path)
    assert all(r.passed for r in reports)
    assert reports[0].level == level
    assert reports[0].revocation is not None
    assert reports[0].revocation.status is RevocationStatus.GOOD
    assert reports[0].revocation.source == "embedded"
    assert reports[0].modifications_allowed is True


def test_extend_raises_a_b_t_file_to_b_lta(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    bt = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"), level="B-T", tsa_url=dev_pki.tsa_url)
    out = tmp_path / "lta.pdf"
    extend_pdf(bt, out, level="B-LTA", tsa_url=dev_pki.tsa_url, trust=dev_pki.root_pem_path)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path)
    assert reports[0].level == "B-LTA"
    assert all(r.passed for r in reports)


def test_second_signature_keeps_the_first_valid(dev_pki, nss_db, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    first = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"), reason="Soạn thảo")
    out = tmp_path / "two.pdf"
    sign_pdf(first, out, dev_pki.signer("org-rsa2048"), reason="Phê duyệt", visible=(1, (50, 50, 300, 130)))
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert [r.signature_id for r in reports] == ["Signature1", "Signature2"]
    assert all(r.passed for r in reports)
    assert reports[0].coverage == "entire_revision"
    assert reports[1].coverage == "entire_file"
    assert pdfsig(out, nss_db).count("Signature is Valid") == 2


def test_visible_signature_renders_vietnamese_text(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "visible.pdf"
    sign_pdf(
        one_page_pdf,
        out,
        dev_pki.signer("org-p256"),
        reason="Phê duyệt văn bản",
        location="Hạ Long",
        visible=VisibleSignature(1, (40, 600, 330, 700)),
    )
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True).stdout
    assert "Ký bởi:" in text
    assert "Phê duyệt văn bản" in text
    assert "Mã định danh:" in text
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", str(out), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page.png").stat().st_size > 1000


def test_certification_signature_reports_docmdp(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    signed = sign_pdf(one_page_pdf, None, dev_pki.signer("org-rsa2048"), certify=1)
    assert signed is not None
    assert _signature(signed).docmdp_level is not None
    with pytest.raises(esign.SigningError):
        sign_pdf(signed, None, dev_pki.signer("person-rsa2048"))  # DocMDP 1 forbids further signatures


def test_b_t_without_tsa_is_refused(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="time-stamping"):
        sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"), level="B-T")


def test_output_file_is_not_left_behind_when_signing_fails(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "out.pdf"
    with pytest.raises(InvalidInput):
        sign_pdf(b"not a pdf at all", out, dev_pki.signer("person-rsa2048"))
    assert list(tmp_path.iterdir()) == []


def test_signature_size_is_reserved_once_from_key_and_chain(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    signed = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"))
    assert signed is not None
    sig = _signature(signed)
    a, b, c, _ = sig.sig_object["/ByteRange"]
    reserved = (c - (a + b) - 2) // 2
    assert len(sig.pkcs7_content.rstrip(b"\0")) < reserved < 3 * len(sig.pkcs7_content.rstrip(b"\0"))
