"""Verification reports for good, tampered, hostile and untrusted PDFs."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from esign.errors import InvalidInput
from esign.pdf import sign_pdf, verify_pdf
from esign.report import Indication, SubIndication


@pytest.fixture(scope="module")
def signed(dev_pki, one_page_pdf) -> bytes:  # type: ignore[no-untyped-def]
    data = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"))
    assert data is not None
    return data


def _incremental(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(stream)
    change(writer)
    writer.write_in_place()
    return stream.getvalue()


def test_untouched_signature_passes_and_masks_personal_numbers(dev_pki, signed):  # type: ignore[no-untyped-def]
    [report] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.passed
    assert report.signer is not None and report.signer.common_name == "Nguyễn Văn An"
    assert "001090012389" not in report.to_json()
    assert report.trust_path[-1] == "esign Dev Root CA"
    [revealed] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, reveal=True, allow_fetching=True)
    assert "001090012389" in revealed.to_json()


def test_byte_changed_in_signed_range_is_hash_failure(dev_pki, signed):  # type: ignore[no-untyped-def]
    tampered = signed.replace("Công văn số 1".encode("latin-1", "replace"), b"X", 1)
    if tampered == signed:
        tampered = bytearray(signed)
        tampered[signed.index(b"Tj")] = ord("T") + 1
    [report] = verify_pdf(bytes(tampered), trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is SubIndication.HASH_FAILURE


def test_content_added_after_signing_fails(dev_pki, signed):  # type: ignore[no-untyped-def]
    def add_text(writer: IncrementalPdfFileWriter) -> None:
        text = generic.StreamObject(stream_data=b"BT /F1 30 Tf 100 100 Td (Paid in full) Tj ET")
        writer.add_stream_to_page(0, writer.add_object(text))

    [report] = verify_pdf(_incremental(signed, add_text), trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.modifications_allowed is False


def test_shadow_attack_replacing_page_content_fails(dev_pki, signed):  # type: ignore[no-untyped-def]
    def replace_content(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        ref = page.raw_get("/Contents")
        stream = ref.get_object()
        stream._data = b"BT /F1 24 Tf 72 720 Td (Something else) Tj ET"  # the "hide-and-replace" variant
        stream._encoded_data = None
        writer.mark_update(ref)

    [report] = verify_pdf(_incremental(signed, replace_content), trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.modifications == "other"


def test_byte_range_shrunk_is_not_accepted(dev_pki, signed):  # type: ignore[no-untyped-def]
    match = re.search(rb"/ByteRange \[(\s*\d+)(\s*\d+)(\s*\d+)(\s*\d+)(\s*)\]", signed)
    assert match is not None
    last = match.group(4)
    shorter = str(int(last) - 100).encode().rjust(len(last))
    hacked = signed[: match.start(4)] + shorter + signed[match.end(4) :]
    reports = verify_pdf(hacked, trust_anchors=dev_pki.root_pem_path)
    assert reports and not reports[0].passed


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_file_never_passes_nor_crashes(dev_pki, signed, cut):  # type: ignore[no-untyped-def]
    try:
        reports = verify_pdf(signed[: int(len(signed) * cut)], trust_anchors=dev_pki.root_pem_path)
    except InvalidInput:
        return
    assert not any(r.passed for r in reports)


def test_bad_xref_never_crashes(dev_pki, signed):  # type: ignore[no-untyped-def]
    hacked = re.sub(rb"startxref\s+\d+\s+%%EOF\s*$", b"startxref\n99999999\n%%EOF\n", signed)
    try:
        reports = verify_pdf(hacked, trust_anchors=dev_pki.root_pem_path)
    except InvalidInput as exc:
        assert "PDF" in str(exc)
        return
    assert all(r.indication in Indication for r in reports)


def test_not_a_pdf_is_invalid_input(dev_pki):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        verify_pdf(b"%PDF-1.7\ngarbage", trust_anchors=dev_pki.root_pem_path)


def test_wrong_trust_anchor_is_indeterminate(dev_pki, signed, tmp_path):  # type: ignore[no-untyped-def]
    [report] = verify_pdf(signed, trust_anchors=dev_pki.directory / "tsa.pem")
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_expired_certificate_at_validation_time_does_not_pass(dev_pki, signed):  # type: ignore[no-untyped-def]
    later = dev_pki.certificate("person-rsa2048").not_valid_after_utc + timedelta(days=2)
    [report] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, at=later)
    assert not report.passed
    # expired, or no revocation data valid at that time: never passed
    assert report.sub_indication in (
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        SubIndication.EXPIRED,
        SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
        SubIndication.NO_POE,
        SubIndication.TRY_LATER,
    )


def test_revoked_signer_fails_with_revoked(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    data = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa3072"))
    dev_pki.revoke("person-rsa3072")
    [report] = verify_pdf(data, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is SubIndication.REVOKED
    assert report.revocation is not None and report.revocation.status.value == "revoked"


def test_validation_time_without_zone_is_refused(dev_pki, signed):  # type: ignore[no-untyped-def]
    from datetime import datetime

    with pytest.raises(InvalidInput, match="time zone"):
        verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, at=datetime(2030, 1, 1))


def test_content_rewritten_in_place_is_listed_as_a_visible_page_change(dev_pki, signed):  # type: ignore[no-untyped-def]
    def replace_content(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        ref = page.raw_get("/Contents")
        stream = ref.get_object()
        stream._data = b"BT /F1 24 Tf 72 720 Td (Something else) Tj ET"
        stream._encoded_data = None
        writer.mark_update(ref)

    [report] = verify_pdf(_incremental(signed, replace_content), trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.TOTAL_FAILED
    visible = [(c.kind, c.page) for c in report.changes if c.visible]
    assert visible == [("page_changed", 1)], report.changes
