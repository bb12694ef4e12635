"""Attack the verifier: each test builds a document whose visible content was not signed (or whose signer
was revoked) and checks that verify_pdf does not say TOTAL-PASSED. Poppler (pdftotext, pdftoppm) shows
that the attacked files really display the changed content."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography.hazmat.primitives.asymmetric import ec
from forgery import FORGED, body, content_number, hand_update, tails
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.pdf import sign_pdf, verify_pdf
from esign.pdf.signing import timestamper
from esign.pdf.verify import signed_revision
from esign.pki.ca import CertificateAuthority
from esign.pki.names import build_name
from esign.pki.revocation import OCSPResponder, Revocation, make_crl
from esign.report import Indication, RevocationStatus, SubIndication
from esign.signers import FileSigner
from samples import make_pdf

AMOUNT = "Amount 100"


def pdftotext(data: bytes, tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-q", str(path), "-"], capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def root_crl(dev_pki) -> bytes:  # type: ignore[no-untyped-def]
    """The root's CRL (covers the issuing CA), as a verifier would have it."""
    return (dev_pki.directory / "root-crl.der").read_bytes()


@pytest.fixture(scope="module")
def revinfo(dev_pki, root_crl) -> dict[str, list[bytes]]:  # type: ignore[no-untyped-def]
    """Fresh CRLs for the whole dev chain: what makes an untouched signature TOTAL-PASSED offline."""
    return {"crls": [dev_pki.crl(), root_crl]}


@pytest.fixture(scope="module")
def certified(dev_pki) -> bytes:  # type: ignore[no-untyped-def]
    data = sign_pdf(make_pdf(1, text=AMOUNT), None, dev_pki.signer("person-rsa2048"), certify=1)
    assert data is not None
    return data


@pytest.fixture(scope="module")
def approval(dev_pki) -> bytes:  # type: ignore[no-untyped-def]
    data = sign_pdf(make_pdf(1, text=AMOUNT), None, dev_pki.signer("person-p256"))
    assert data is not None
    return data


SHOWN_BY_POPPLER = {"startxref 0, no %%EOF", "startxref 0 and %%EOF", "more than 1 KB, no %%EOF"}
"""The tails that make Poppler rebuild the cross-reference table and display the forged content
(the others are shown by other repairing readers, or merely hide bytes: all must fail)."""


@pytest.mark.parametrize("case", list(tails(make_pdf(1))))
@pytest.mark.parametrize("kind", ["certified", "approval"])
def test_bytes_after_the_last_revision_fail(dev_pki, revinfo, certified, approval, tmp_path, kind, case):  # type: ignore[no-untyped-def]
    signed = certified if kind == "certified" else approval
    attacked = tails(signed)[case]
    if case in SHOWN_BY_POPPLER:  # what Poppler shows is not what was signed
        text = pdftotext(attacked, tmp_path)
        assert "Amount 999" in text and AMOUNT not in text
    reports = verify_pdf(attacked, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert reports, "the signature must still be found and judged"
    for report in reports:
        assert report.indication is Indication.TOTAL_FAILED, report.to_text()
        assert report.sub_indication is SubIndication.FORMAT_FAILURE
        assert any("byte(s) after" in e for e in report.errors), report.errors


def test_untouched_and_trailing_whitespace_pass(dev_pki, revinfo, certified, approval):  # type: ignore[no-untyped-def]
    for signed in (certified, approval):
        for data in (signed, signed + b"\r\n  \n\x00\t"):
            [report] = verify_pdf(data, trust_anchors=dev_pki.root_pem_path, **revinfo)
            assert report.passed, report.to_text()
            assert report.changes == ()


def test_unreferenced_body_inside_an_update_fails(dev_pki, revinfo, approval):  # type: ignore[no-untyped-def]
    n = content_number(approval)
    info = hand_update(approval, {50: b"<< /Producer (harmless) >>"})
    [clean] = verify_pdf(info, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert clean.indication is not Indication.TOTAL_FAILED or "belong to no object" not in " ".join(clean.errors)
    hidden = hand_update(approval, {50: b"<< /Producer (harmless) >>"}, hidden=body(n))
    [report] = verify_pdf(hidden, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.indication is Indication.TOTAL_FAILED
    assert any("belong to no object" in e for e in report.errors), report.errors


def test_redefined_content_in_a_proper_update_fails(dev_pki, revinfo, certified, approval, tmp_path):  # type: ignore[no-untyped-def]
    for signed in (certified, approval):
        n = content_number(signed)
        attacked = hand_update(signed, {n: b"<< /Length %d >>\nstream\n" % len(FORGED) + FORGED + b"\nendstream"})
        assert "Amount 999" in pdftotext(attacked, tmp_path)
        [report] = verify_pdf(attacked, trust_anchors=dev_pki.root_pem_path, **revinfo)
        assert report.indication is Indication.TOTAL_FAILED
        assert report.modifications_allowed is False


# --- revocation: decided, never assumed ------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_url_ca(dev_pki) -> CertificateAuthority:  # type: ignore[no-untyped-def]
    """The dev issuing CA, issuing certificates that name no CRL distribution point and no OCSP URL."""
    ca = dev_pki.issuing_ca
    return CertificateAuthority(ca.certificate, ca.private_key, ca.chain)


@pytest.fixture(scope="module")
def quiet_signer(dev_pki, no_url_ca) -> FileSigner:  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = no_url_ca.issue_signer(build_name([["C", "VN"], ["CN", "Lê Thị Thu"]]), key.public_key())
    return FileSigner(key, cert, [dev_pki.issuing_ca.certificate, dev_pki.root_cert])


def with_dss_crls(data: bytes, crls: list[bytes]) -> bytes:
    stream = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(stream)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=(), ocsps=(), crls=[asn1_crl.CertificateList.load(c) for c in crls]
    )
    writer.write_in_place()
    return stream.getvalue()


def test_revoked_signer_without_urls_fails_with_a_crl_in_the_dss(dev_pki, no_url_ca, quiet_signer, root_crl):  # type: ignore[no-untyped-def]
    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, quiet_signer)
    assert signed is not None
    revoked = make_crl(
        no_url_ca,
        [
            Revocation(
                quiet_signer.certificate.serial_number, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
            )
        ],
    )
    attacked = with_dss_crls(signed, [revoked, root_crl])
    [report] = verify_pdf(attacked, trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.TOTAL_FAILED, report.to_text()
    assert report.sub_indication is SubIndication.REVOKED
    assert report.revocation is not None and report.revocation.status is RevocationStatus.REVOKED
    assert report.revocation.kind == "crl" and report.revocation.this_update is not None
    assert any(c.kind == "dss" for c in report.changes)
    # the same CRL supplied by the caller, file untouched
    [supplied] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, crls=[revoked, root_crl])
    assert supplied.sub_indication is SubIndication.REVOKED


def test_no_revocation_data_is_try_later_never_good(dev_pki, no_url_ca, quiet_signer, root_crl):  # type: ignore[no-untyped-def]
    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, quiet_signer)
    [bare] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path)
    assert bare.indication is Indication.INDETERMINATE and bare.sub_indication is SubIndication.TRY_LATER
    assert bare.revocation is None or bare.revocation.status is not RevocationStatus.GOOD
    good = make_crl(no_url_ca, [])
    [ok] = verify_pdf(with_dss_crls(signed, [good, root_crl]), trust_anchors=dev_pki.root_pem_path)
    assert ok.passed, ok.to_text()
    assert ok.revocation is not None and ok.revocation.status is RevocationStatus.GOOD
    assert (ok.revocation.kind, ok.revocation.source) == ("crl", "embedded")
    assert ok.revocation.this_update is not None and ok.revocation.next_update is not None


def test_revoked_after_a_time_stamp_is_revoked_no_poe(dev_pki, no_url_ca, quiet_signer, root_crl):  # type: ignore[no-untyped-def]
    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, quiet_signer, level="B-T", tsa_url=dev_pki.tsa_url)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    revoked = make_crl(no_url_ca, [Revocation(quiet_signer.certificate.serial_number, later)])
    [report] = verify_pdf(
        signed, trust_anchors=dev_pki.root_pem_path, crls=[revoked, root_crl], at=later + timedelta(seconds=5)
    )
    assert report.indication is Indication.INDETERMINATE, report.to_text()
    assert report.sub_indication is SubIndication.REVOKED_NO_POE
    before = later - timedelta(hours=1)
    revoked_before = make_crl(no_url_ca, [Revocation(quiet_signer.certificate.serial_number, before)])
    [failed] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, crls=[revoked_before, root_crl])
    assert failed.sub_indication is SubIndication.REVOKED


def add_annotation(writer: IncrementalPdfFileWriter, annot: generic.IndirectObject) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annots = list(page.get("/Annots") or []) if "/Annots" in page else []
    page["/Annots"] = generic.ArrayObject([*annots, annot])
    writer.update_container(page)


# --- document time-stamps and certification ---------------------------------------------------------------


def replace_content(data: bytes) -> bytes:
    stream = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(stream)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=FORGED))
    writer.update_container(page)
    writer.write_in_place()
    return stream.getvalue()


def test_change_after_a_document_time_stamp_fails(dev_pki, revinfo, tmp_path):  # type: ignore[no-untyped-def]
    out = io.BytesIO(make_pdf(1, text=AMOUNT))
    PdfTimeStamper(timestamper(dev_pki.tsa_url)).timestamp_pdf(IncrementalPdfFileWriter(out), "sha256", in_place=True)
    stamped = out.getvalue()
    attacked = replace_content(stamped)
    assert "Amount 999" in pdftotext(attacked, tmp_path)
    [report] = verify_pdf(attacked, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.indication is Indication.TOTAL_FAILED, report.to_text()
    assert report.sub_indication is SubIndication.FORMAT_FAILURE
    assert report.modifications_allowed is False


def test_certified_no_changes_fails_on_an_annotation(dev_pki, revinfo, certified):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(certified)
    writer = IncrementalPdfFileWriter(stream)
    annot = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (50, 50, 80, 80)]),
                generic.NameObject("/Contents"): generic.TextStringObject("Đã thanh toán"),
            }
        )
    )
    add_annotation(writer, annot)
    writer.write_in_place()
    [report] = verify_pdf(stream.getvalue(), trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.indication is Indication.TOTAL_FAILED
    assert any(c.kind == "annotation_added" and c.page == 1 for c in report.changes), report.changes


# --- what changed after signing is shown --------------------------------------------------------------------


def test_signed_revision_is_what_was_signed(dev_pki, revinfo, approval, tmp_path):  # type: ignore[no-untyped-def]
    attacked = tails(approval)["startxref 0 and %%EOF"]
    original = signed_revision(attacked, 1)
    assert original == approval
    assert AMOUNT in pdftotext(original, tmp_path)
    [report] = verify_pdf(original, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.passed


def test_annotation_after_approval_is_listed_and_looks_different(dev_pki, revinfo, approval):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(approval)
    writer = IncrementalPdfFileWriter(stream)
    annot = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Square"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (60, 700, 400, 760)]
                ),
                generic.NameObject("/IC"): generic.ArrayObject([generic.NumberObject(1)] * 3),
                generic.NameObject("/C"): generic.ArrayObject([generic.NumberObject(0)] * 3),
            }
        )
    )
    add_annotation(writer, annot)
    writer.write_in_place()
    [report] = verify_pdf(stream.getvalue(), trust_anchors=dev_pki.root_pem_path, visual=True, **revinfo)
    # pyHanko's policy explains form filling and signing after an approval signature, not free annotations
    assert report.indication is Indication.TOTAL_FAILED
    assert [c.page for c in report.changes if c.kind == "annotation_added"] == [1]
    assert [c.page for c in report.changes if c.kind == "rendering"] == [1]
    assert "annotation_added" in [c["kind"] for c in report.to_dict()["changes"]]


def text_field(writer: IncrementalPdfFileWriter, value: str) -> generic.IndirectObject:
    """A text field ``amount`` showing ``value`` near the page's text (its appearance covers it)."""
    font = writer.root["/Pages"]["/Kids"][0].get_object()["/Resources"]["/Font"].raw_get("/F1")
    return writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
                generic.NameObject("/FT"): generic.NameObject("/Tx"),
                generic.NameObject("/T"): generic.TextStringObject("amount"),
                generic.NameObject("/V"): generic.TextStringObject(value),
                generic.NameObject("/F"): generic.NumberObject(4),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (60, 600, 400, 640)]
                ),
                generic.NameObject("/AP"): generic.DictionaryObject(
                    {generic.NameObject("/N"): appearance(writer, value, font)}
                ),
            }
        )
    )


def appearance(writer: IncrementalPdfFileWriter, value: str, font: generic.IndirectObject) -> generic.IndirectObject:
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 340, 40)]),
            generic.NameObject("/Resources"): generic.DictionaryObject(
                {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): font})}
            ),
        },
        stream_data=b"BT /F1 24 Tf 4 10 Td (%s) Tj ET" % value.encode(),
    )
    return writer.add_object(stream)


def test_form_filling_after_approval_passes_with_old_and_new_value_and_a_warning(dev_pki, revinfo, tmp_path):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(make_pdf(1, text="Invoice"))
    writer = IncrementalPdfFileWriter(stream)
    field = text_field(writer, AMOUNT)
    add_annotation(writer, field)
    writer.root["/AcroForm"] = generic.DictionaryObject({generic.NameObject("/Fields"): generic.ArrayObject([field])})
    writer.update_root()
    writer.write_in_place()
    signed = sign_pdf(stream.getvalue(), None, dev_pki.signer("person-p256"))
    assert signed is not None
    filled = io.BytesIO(signed)
    writer = IncrementalPdfFileWriter(filled)
    widget = writer.root["/AcroForm"]["/Fields"][0].get_object()
    font = writer.root["/Pages"]["/Kids"][0].get_object()["/Resources"]["/Font"].raw_get("/F1")
    widget["/V"] = generic.TextStringObject("Amount 999")
    widget["/AP"] = generic.DictionaryObject({generic.NameObject("/N"): appearance(writer, "Amount 999", font)})
    writer.update_container(widget)
    writer.write_in_place()
    attacked = filled.getvalue()
    assert "Amount 999" in pdftotext(attacked, tmp_path)
    [report] = verify_pdf(attacked, trust_anchors=dev_pki.root_pem_path, visual=True, **revinfo)
    assert report.passed, report.to_text()  # PAdES allows form filling after an approval signature ...
    [change] = [c for c in report.changes if c.kind == "form_field"]
    assert (change.name, change.old, change.new, change.visible) == ("amount", AMOUNT, "Amount 999", True)
    assert [c.page for c in report.changes if c.kind == "rendering"] == [1]
    assert "WARNING" in report.to_text()  # ... but the reader is told, and can open what was signed
    assert "Amount 999" not in pdftotext(signed_revision(attacked, 1), tmp_path)


# --- no false alarms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("certify", [False, 2])
def test_metadata_update_and_new_signature_field_after_signing_pass(dev_pki, revinfo, certify):  # type: ignore[no-untyped-def]
    from pyhanko.sign import fields

    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, dev_pki.signer("person-p256"), certify=certify)
    assert signed is not None
    stream = io.BytesIO(signed)
    writer = IncrementalPdfFileWriter(stream)
    writer.document_meta.title = "Công văn đã duyệt"
    fields.append_signature_field(writer, fields.SigFieldSpec("Approver2"))
    writer.write_in_place()
    [report] = verify_pdf(stream.getvalue(), trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.passed, report.to_text()
    kinds = {c.kind for c in report.changes}
    assert {"form_field_added", "metadata"} <= kinds
    assert not any(c.visible for c in report.changes)  # an invisible field, metadata: no WARNING
    assert "WARNING" not in report.to_text()


def test_xref_stream_files_signed_twice_and_to_b_lta_pass(dev_pki):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    out = io.BytesIO()
    copy_into_new_writer(PdfFileReader(io.BytesIO(make_pdf(2, text=AMOUNT))), {"stream_xrefs": True}).write(out)
    assert b"/XRef" in out.getvalue()
    data = sign_pdf(out.getvalue(), None, dev_pki.signer("person-p256"), level="B-LTA", tsa_url=dev_pki.tsa_url)
    data = sign_pdf(data, None, dev_pki.signer("org-rsa2048"))
    reports = verify_pdf(data, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert len(reports) == 3 and all(r.passed for r in reports), [r.to_text() for r in reports]


def test_a_forged_ocsp_answer_in_the_dss_is_not_named_as_evidence(dev_pki, no_url_ca, quiet_signer, root_crl):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = CertificateAuthority.create_root(build_name([["CN", "Rogue responder"]]), key)
    forged = OCSPResponder(dev_pki.issuing_ca.certificate, rogue_ca.certificate, key, lambda serial: None)
    answer = forged.response_for(quiet_signer.certificate.serial_number)
    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, quiet_signer)
    stream = io.BytesIO(with_dss_crls(signed, [make_crl(no_url_ca, []), root_crl]))
    writer = IncrementalPdfFileWriter(stream)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=(), crls=(), ocsps=[asn1_ocsp.OCSPResponse.load(answer)]
    )
    writer.write_in_place()
    [report] = verify_pdf(stream.getvalue(), trust_anchors=dev_pki.root_pem_path)
    assert report.passed, report.to_text()  # the genuine CRL decides
    assert report.revocation is not None and report.revocation.kind == "crl"


def test_lt_file_after_its_data_expired_is_judged_at_the_time_stamp(dev_pki, no_url_ca, quiet_signer, root_crl):  # type: ignore[no-untyped-def]
    """Past signature validation: the file's CRLs (valid one day) are stale three days later; the
    signature time-stamp proves when it was signed, so it is judged at that time with them — and a CRL
    in the file that dates the revocation before that time still fails it."""
    signed = sign_pdf(make_pdf(1, text=AMOUNT), None, quiet_signer, level="B-T", tsa_url=dev_pki.tsa_url)
    later = datetime.now(UTC) + timedelta(days=3)
    good = with_dss_crls(signed, [make_crl(no_url_ca, []), root_crl])
    [report] = verify_pdf(good, trust_anchors=dev_pki.root_pem_path, at=later)
    assert report.passed, report.to_text()
    assert any("signature time-stamp's time" in w for w in report.warnings)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    revoked = make_crl(no_url_ca, [Revocation(quiet_signer.certificate.serial_number, before)])
    [failed] = verify_pdf(with_dss_crls(signed, [revoked, root_crl]), trust_anchors=dev_pki.root_pem_path, at=later)
    assert failed.indication is Indication.TOTAL_FAILED, failed.to_text()
    assert failed.sub_indication is SubIndication.REVOKED


def test_an_update_whose_xref_is_off_by_whitespace_fails(dev_pki, revinfo, approval):  # type: ignore[no-untyped-def]
    """pyHanko forgives an offset that points at whitespace before the object; a reader that finds the
    table wrong rebuilds it by scanning for bodies: the file must be exact after signing."""
    updated = hand_update(approval, {50: b"<< /Producer (x) >>"})
    at = updated.rindex(b"50 0 obj")
    entry = b"%010d 00000 n " % at
    assert updated.count(entry) == 1
    off_by_one = updated.replace(entry, b"%010d 00000 n " % (at - 1))  # the newline before the header
    [clean] = verify_pdf(updated, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert not any("not where its cross-reference entry says" in e for e in clean.errors)
    [report] = verify_pdf(off_by_one, trust_anchors=dev_pki.root_pem_path, **revinfo)
    assert report.indication is Indication.TOTAL_FAILED
    assert any("not where its cross-reference entry says" in e for e in report.errors), report.errors
