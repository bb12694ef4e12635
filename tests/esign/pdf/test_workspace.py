"""Single-pass output: the original is copied while it is hashed, the update is written after it."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import pytest
from conftest import pdfsig
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from esign.errors import InvalidInput
from esign.pdf import finish, prepare, sign_pdf, verify_pdf
from esign.pdf.adapter import to_asn1
from esign.pdf.workspace import Workspace
from esign.report import Indication
from samples import make_pdf

BIG = 20_000_000


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 MB PDF (one large embedded file stream)."""
    path = tmp_path_factory.mktemp("big") / "big.pdf"
    path.write_bytes(make_pdf(1, blob_size=BIG))
    return path


def _pyhanko_accepts(path: Path, root) -> bool:  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        [sig] = PdfFileReader(f).embedded_signatures
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=[to_asn1(root)]))
        return bool(status.bottom_line and status.coverage is SignatureCoverageLevel.ENTIRE_FILE)


def _openssl_accepts(path: Path, root_pem: Path, work: Path) -> bool:
    data = path.read_bytes()
    [sig] = PdfFileReader(io.BytesIO(data)).embedded_signatures
    a, b, c, d = sig.sig_object["/ByteRange"]
    (work / "content.bin").write_bytes(data[a : a + b] + data[c : c + d])
    (work / "sig.der").write_bytes(sig.pkcs7_content)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(work / "sig.der"),
            "-content",
            str(work / "content.bin"),
            "-CAfile",
            str(root_pem),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode == 0 and "Verification successful" in result.stderr


def test_20_mb_file_signed_to_a_path_verifies_with_pdfsig_pyhanko_and_openssl(dev_pki, nss_db, big_pdf, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "big-signed.pdf"
    assert sign_pdf(big_pdf, out, dev_pki.signer("person-rsa2048")) is None
    assert [p.name for p in tmp_path.iterdir()] == ["big-signed.pdf"]  # no temporary file left
    report = pdfsig(out, nss_db)
    assert "Signature is Valid" in report
    assert "Total document signed" in report
    assert _pyhanko_accepts(out, dev_pki.root_cert)
    assert _openssl_accepts(out, dev_pki.root_pem_path, tmp_path)
    # read from the file, not loaded whole
    [ours] = verify_pdf(out, trust_anchors=dev_pki.root_cert, allow_fetching=True)
    assert ours.indication is Indication.TOTAL_PASSED and ours.coverage == "entire_file"
    with open(big_pdf, "rb") as a, open(out, "rb") as b:
        assert b.read(BIG) == a.read(BIG)  # the original bytes, untouched, first


def test_signing_a_file_onto_itself_replaces_it_with_the_signed_file(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "doc.pdf"
    path.write_bytes(one_page_pdf)
    sign_pdf(path, path, dev_pki.signer("person-p256"))
    data = path.read_bytes()
    assert data.startswith(one_page_pdf) and len(data) > len(one_page_pdf)
    [report] = verify_pdf(data, trust_anchors=dev_pki.root_cert, allow_fetching=True)
    assert report.indication is Indication.TOTAL_PASSED


def test_path_to_stream_and_bytes_to_path_give_the_same_valid_kind_of_file(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    source = tmp_path / "in.pdf"
    source.write_bytes(one_page_pdf)
    sink = io.BytesIO()
    sign_pdf(source, sink, dev_pki.signer("person-rsa2048"))
    sign_pdf(one_page_pdf, tmp_path / "from-bytes.pdf", dev_pki.signer("person-rsa2048"))
    for data in (sink.getvalue(), (tmp_path / "from-bytes.pdf").read_bytes()):
        assert data.startswith(one_page_pdf)
        [report] = verify_pdf(data, trust_anchors=dev_pki.root_cert, allow_fetching=True)
        assert report.indication is Indication.TOTAL_PASSED


def test_b_lt_on_a_path_target_keeps_every_revision(dev_pki, nss_db, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "lt.pdf"
    sign_pdf(one_page_pdf, out, dev_pki.signer("person-rsa2048"), level="B-LTA", tsa_url=dev_pki.tsa_url)
    assert "Signature is Valid" in pdfsig(out, nss_db)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_cert, allow_fetching=True)
    assert [r.indication for r in reports] == [Indication.TOTAL_PASSED] * 2
    assert reports[0].level == "B-LTA"


def test_staged_signing_of_a_big_file_between_paths(dev_pki, nss_db, big_pdf, tmp_path):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-p256")
    prepared, out = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    digest, state = prepare(big_pdf, signer.certificate, signer.chain, output=prepared)
    assert state.document is None
    assert state.document_sha256 == hashlib.sha256(prepared.read_bytes()).digest()
    finish(state, signer.sign_digest_sync(digest, state.algorithm), document=prepared, output=out)
    assert "Signature is Valid" in pdfsig(out, nss_db)
    assert _pyhanko_accepts(out, dev_pki.root_cert)


def test_a_failed_signature_leaves_neither_output_nor_temporary_file(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    source = tmp_path / "broken.pdf"
    source.write_bytes(b"%PDF-1.7\nnot really a pdf\n")
    out = tmp_path / "out.pdf"
    with pytest.raises(InvalidInput):
        sign_pdf(source, out, dev_pki.signer("person-rsa2048"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pdf"]


def test_a_missing_input_is_invalid_input(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="no such file"):
        sign_pdf(tmp_path / "absent.pdf", tmp_path / "out.pdf", dev_pki.signer("person-rsa2048"))
    assert list(tmp_path.iterdir()) == []


def test_workspace_stream_reads_writes_and_patches_like_a_file(tmp_path):  # type: ignore[no-untyped-def]
    original = os.urandom(3 * (1 << 20) + 17)
    source = tmp_path / "in.bin"
    source.write_bytes(original)
    out = tmp_path / "out.bin"
    work = Workspace(source, out, track_sha256=True)
    model = bytearray(original)
    stream = work.stream
    stream.seek(0, os.SEEK_END)
    stream.write(b"update" * 1000)
    model += b"update" * 1000
    stream.seek(10)
    stream.write(b"PATCH")  # before the copy reached it
    model[10:15] = b"PATCH"
    stream.seek(0)
    assert stream.read(1 << 20) == model[: 1 << 20]
    stream.seek(len(original) - 3)
    assert stream.read(10) == model[len(original) - 3 : len(original) + 7]  # across the boundary
    stream.seek(200)
    stream.write(b"LATE")  # after the copy passed it
    model[200:204] = b"LATE"
    stream.seek(0)
    assert stream.read() == model
    assert work.commit() is None
    assert out.read_bytes() == model
    assert work.document_sha256 == hashlib.sha256(model).digest()


def test_without_positional_io_or_kernel_copy_the_output_is_the_same(dev_pki, one_page_pdf, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # what Windows offers: no os.preadv / os.pwrite / os.copy_file_range / os.posix_fallocate
    for name in ("preadv", "pwrite", "copy_file_range", "posix_fallocate"):
        monkeypatch.delattr(os, name, raising=False)
    source, out = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes(one_page_pdf)
    sign_pdf(source, out, dev_pki.signer("person-p256"))
    data = out.read_bytes()
    assert data.startswith(one_page_pdf)
    [report] = verify_pdf(data, trust_anchors=dev_pki.root_cert, allow_fetching=True)
    assert report.indication is Indication.TOTAL_PASSED
