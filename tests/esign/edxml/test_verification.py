"""Signing the envelope and verifying whole packages; xmlsec1 as the independent checker; attacks."""

from __future__ import annotations

import base64
import io
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree

from esign.edxml import (
    NAMESPACE,
    Package,
    StaticRegistry,
    add_trace,
    build_package,
    parse_package,
    sign_package,
    to_bytes,
    verify_envelope,
    verify_package,
)
from esign.edxml.packages import VIETNAM_TIME
from esign.pki import DevPKI
from esign.report import Indication
from esign.signers import FileSigner
from esign.xml import sign_xml

E = f"{{{NAMESPACE}}}"
DS = "http://www.w3.org/2000/09/xmldsig#"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=VIETNAM_TIME)
INVOICE = Path(__file__).resolve().parents[3] / "samples" / "hoa-don.xml"


@pytest.fixture(scope="module")
def organization(dev_pki: DevPKI) -> FileSigner:
    """The sending organization's credential (signs the envelope)."""
    return dev_pki.signer("org-rsa2048")


def _build(registry: StaticRegistry, files: list[tuple[str, bytes]], *, issued: date = date(2026, 11, 20),
           receivers: tuple[str, ...] = ("H49.01", "H49.02", "H49.03")) -> Package:  # fmt: skip
    return build_package(sender="H49.22", receivers=list(receivers), code_number="125", code_notation="STP-HCTP",
                         subject="Về việc triển khai chữ ký số", files=files, promulgation_date=issued,
                         registry=registry, at=AT)  # fmt: skip


@pytest.fixture(scope="module")
def signed_invoice(organization: FileSigner) -> bytes:
    return sign_xml(INVOICE.read_bytes(), organization, profile="einvoice")


@pytest.fixture(scope="module")
def signed_package(registry: StaticRegistry, signed_letter: bytes, signed_invoice: bytes,
                   organization: FileSigner) -> bytes:  # fmt: skip
    package = _build(registry, [("cong-van.pdf", signed_letter), ("hoa-don.xml", signed_invoice)])
    return sign_package(to_bytes(package), organization)


def test_signed_package_verifies_completely(signed_package: bytes, registry: StaticRegistry,
                                            verify_options: dict[str, object]) -> None:  # fmt: skip
    result = verify_package(signed_package, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_PASSED, result.reasons
    assert result.envelope.kind == "xmldsig" and result.envelope.indication is Indication.TOTAL_PASSED
    assert [(a.name, a.kind, a.indication) for a in result.attachments] == [
        ("cong-van.pdf", "pdf", Indication.TOTAL_PASSED),
        ("hoa-don.xml", "xml", Indication.TOTAL_PASSED),
    ]
    assert {o.code: o.outcome for o in result.organizations} == {
        "H49.22": "ok", "H49.01": "ok", "H49.02": "ok", "H49.03": "ok",
    }  # fmt: skip
    assert result.to_dict()["indication"] == "TOTAL-PASSED"


def test_the_signature_sits_in_the_header_and_xmlsec1_verifies_it(
    signed_package: bytes, dev_pki: DevPKI, tmp_path: Path
) -> None:
    root = etree.fromstring(signed_package)
    signature = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{{{DS}}}Signature")
    assert signature is not None
    assert signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference").get("URI") == ""  # type: ignore[union-attr]
    path = tmp_path / "signed.edxml"
    path.write_bytes(signed_package)
    checked = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(dev_pki.root_pem_path), "--enabled-reference-uris", "empty",
         str(path)], capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "SignedInfo References (ok/all): 1/1" in checked.stderr
    path.write_bytes(signed_package.replace(b"<edXML:CodeNumber>125<", b"<edXML:CodeNumber>126<"))
    tampered = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(dev_pki.root_pem_path), str(path)],
                              capture_output=True, text=True)  # fmt: skip
    assert tampered.returncode != 0


def _encoded_of(data: bytes) -> bytes:
    root = etree.fromstring(data)
    return (root.findtext(f"{E}AttachmentEncoded/{E}Attachment/{E}ContentTransferEncoded") or "").encode()


def _zip_b64(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return base64.b64encode(out.getvalue())


def test_swapped_attachment_fails(signed_package: bytes, registry: StaticRegistry,
                                  verify_options: dict[str, object]) -> None:  # fmt: skip
    forged = signed_package.replace(_encoded_of(signed_package), _zip_b64("cong-van.pdf", b"%PDF-1.7 forged"))
    result = verify_package(forged, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_FAILED
    assert result.envelope.indication is Indication.TOTAL_FAILED


def test_a_hop_added_after_signing_breaks_the_envelope_until_signed_again(
    signed_package: bytes, registry: StaticRegistry, verify_options: dict[str, object], organization: FileSigner
) -> None:
    hop = b"<edXML:TraceHeader><edXML:OrganId>H49</edXML:OrganId><edXML:Timestamp>2026/11/20 09:31:00</edXML:Timestamp></edXML:TraceHeader>"  # noqa: E501
    forged = signed_package.replace(b"<edXML:Bussiness>", hop + b"<edXML:Bussiness>")
    assert verify_package(forged, registry=registry, **verify_options).indication is Indication.TOTAL_FAILED  # type: ignore[arg-type]
    package = parse_package(signed_package)
    add_trace(package, "H49", at=datetime(2026, 11, 20, 9, 31, tzinfo=VIETNAM_TIME))
    resigned = sign_package(to_bytes(package), organization)
    result = verify_package(resigned, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_PASSED, result.reasons
    assert [t.organ_id for t in result.package.traces] == ["H49.22", "H49"]
    assert resigned.count(b"SignatureValue>") == 2  # one signature (open and close tags)


def test_signature_over_part_of_the_package_is_not_accepted(
    registry: StaticRegistry, signed_letter: bytes, organization: FileSigner, verify_options: dict[str, object]
) -> None:
    data = to_bytes(_build(registry, [("cong-van.pdf", signed_letter)]))
    data = data.replace(b"<edXML:MessageHeader>", b'<edXML:MessageHeader Id="header">', 1)
    signed = sign_xml(data, organization, reference_id="header", signature_parent="edXMLHeader")
    # The header alone is signed: the attachment can be swapped and that signature still holds.
    forged = signed.replace(_encoded_of(signed), _zip_b64("cong-van.pdf", b"%PDF-1.7 forged"))
    result = verify_package(forged, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_FAILED
    assert "not the whole package" in result.envelope.message


XPATH_TEMPLATE = """<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
  <SignedInfo>
    <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
    <Reference URI="">
      <Transforms>
        <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        {extra}
        <Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </Transforms>
      <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/>
    </Reference>
  </SignedInfo>
  <SignatureValue/>
  <KeyInfo><X509Data/></KeyInfo>
</Signature>"""
SUBTRACT_ATTACHMENTS = (
    '<Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">'
    '<XPath xmlns="http://www.w3.org/2002/06/xmldsig-filter2" xmlns:e="http://www.mic.gov.vn/TBT/QCVN_102_2016" '
    'Filter="subtract">/e:edXML/e:AttachmentEncoded</XPath></Transform>'
)


def _xmlsec1_sign(tmp_path: Path, dev_pki: DevPKI, package: bytes, extra: str = "") -> bytes:
    """Put an unsigned XMLDSig template (default namespace, as some deployed systems write it) in
    edXMLHeader and have xmlsec1 sign it."""
    template = package.replace(b"</edXML:edXMLHeader>", XPATH_TEMPLATE.format(extra=extra).encode()
                               + b"</edXML:edXMLHeader>")  # fmt: skip
    source, signed = tmp_path / "template.edxml", tmp_path / "signed.edxml"
    source.write_bytes(template)
    subprocess.run(["xmlsec1", "--sign", "--pkcs12", str(dev_pki.p12_path("org-rsa2048")), "--pwd", dev_pki.password,
                    "--output", str(signed), str(source)], check=True, capture_output=True)  # fmt: skip
    return signed.read_bytes()


def test_xmlsec1_signed_package_with_unprefixed_signature_verifies(
    tmp_path: Path, dev_pki: DevPKI, registry: StaticRegistry, signed_letter: bytes,
    verify_options: dict[str, object],
) -> None:  # fmt: skip
    signed = _xmlsec1_sign(tmp_path, dev_pki, to_bytes(_build(registry, [("cong-van.pdf", signed_letter)])))
    assert b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">' in signed
    result = verify_package(signed, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_PASSED, result.reasons


def test_xpath_filter_leaving_attachments_unsigned_is_refused(
    tmp_path: Path, dev_pki: DevPKI, registry: StaticRegistry, signed_letter: bytes,
    verify_options: dict[str, object],
) -> None:  # fmt: skip
    signed = _xmlsec1_sign(tmp_path, dev_pki, to_bytes(_build(registry, [("cong-van.pdf", signed_letter)])),
                           SUBTRACT_ATTACHMENTS)  # fmt: skip
    forged = signed.replace(_encoded_of(signed), _zip_b64("cong-van.pdf", b"%PDF-1.7 forged"))
    # xmlsec1 itself accepts the forgery: the filter took the attachments out of what was signed.
    path = tmp_path / "forged.edxml"
    path.write_bytes(forged)
    assert subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(dev_pki.root_pem_path), str(path)],
                          capture_output=True).returncode == 0  # fmt: skip
    result = verify_package(forged, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_FAILED
    assert "may leave parts unsigned" in result.envelope.message


def test_a_signature_outside_the_header_fails(signed_package: bytes, registry: StaticRegistry,
                                              verify_options: dict[str, object]) -> None:  # fmt: skip
    stray = signed_package.replace(b"<AttachmentEncoded>", b'<AttachmentEncoded><ds:Signature xmlns:ds="' + DS.encode()
                                   + b'"/>', 1)  # fmt: skip
    result = verify_package(stray, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_FAILED
    assert "outside edXMLHeader" in result.envelope.message


PLACEHOLDERS = {
    "placeholder": b"<edXML:DigitalSignature/>",
    "foreign": b"<Signature/>",  # in the edXML namespace: not an XMLDSig at all
    "ds-empty": b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/><SignatureValue/></Signature>',
}


@pytest.mark.parametrize("name", list(PLACEHOLDERS))
def test_placeholder_envelope_is_indeterminate_unless_the_caller_accepts_it(
    name: str, registry: StaticRegistry, signed_letter: bytes, verify_options: dict[str, object],
    organization: FileSigner,
) -> None:  # fmt: skip
    data = to_bytes(_build(registry, [("cong-van.pdf", signed_letter)]))
    data = data.replace(b"</edXML:edXMLHeader>", PLACEHOLDERS[name] + b"</edXML:edXMLHeader>")
    strict = verify_package(data, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert strict.indication is Indication.INDETERMINATE
    assert strict.envelope.kind == ("foreign" if name == "foreign" else "placeholder")
    lenient = verify_package(data, registry=registry, require_envelope_signature=False, **verify_options)  # type: ignore[arg-type]
    assert lenient.indication is Indication.TOTAL_PASSED, lenient.reasons
    # Signing replaces the placeholder: one signature, and it holds.
    signed = sign_package(data, organization)
    assert PLACEHOLDERS[name] not in signed
    assert verify_package(signed, registry=registry, **verify_options).passed  # type: ignore[arg-type]


def test_nothing_signed_is_never_passed(registry: StaticRegistry, verify_options: dict[str, object]) -> None:
    data = to_bytes(_build(registry, [("cong-van.pdf", INVOICE.parent.joinpath("cong-van.pdf").read_bytes())]))
    result = verify_package(data, registry=registry, require_envelope_signature=False, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.INDETERMINATE
    assert "no valid signature in the package" in result.reasons


def test_tampered_signed_letter_inside_a_valid_envelope_fails(
    registry: StaticRegistry, signed_letter: bytes, organization: FileSigner, verify_options: dict[str, object]
) -> None:
    tampered = signed_letter.replace(b"/Producer", b"/Pr0ducer", 1) if b"/Producer" in signed_letter else (
        signed_letter[:400] + bytes([signed_letter[400] ^ 1]) + signed_letter[401:])  # fmt: skip
    signed = sign_package(to_bytes(_build(registry, [("cong-van.pdf", tampered)])), organization)
    result = verify_package(signed, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.envelope.indication is Indication.TOTAL_PASSED  # the envelope is honest about what it carries
    assert result.attachments[0].indication is not Indication.TOTAL_PASSED
    assert result.indication is not Indication.TOTAL_PASSED


def test_untrusted_envelope_signer_is_not_passed(signed_package: bytes, registry: StaticRegistry,
                                                 dev_pki: DevPKI) -> None:  # fmt: skip
    other = dev_pki.signer("person-p256").certificate  # a leaf, not the root that issued the signers
    result = verify_package(signed_package, registry=registry, trust_anchors=[other])
    assert result.indication is not Indication.TOTAL_PASSED
    assert result.envelope.indication is not Indication.TOTAL_PASSED


def test_organizations_against_the_registry(
    registry: StaticRegistry, signed_letter: bytes, organization: FileSigner, verify_options: dict[str, object]
) -> None:
    unknown = sign_package(to_bytes(_build(registry, [("cong-van.pdf", signed_letter)],
                                           receivers=("H49.01", "H49.77"))), organization)  # fmt: skip
    result = verify_package(unknown, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_FAILED
    assert {o.code: o.outcome for o in result.organizations}["H49.77"] == "unknown"
    # H49.90 was closed on 2026-01-01: a letter of 2025 to it stands, a letter of 2026 does not.
    before = sign_package(to_bytes(_build(registry, [("cong-van.pdf", signed_letter)], issued=date(2025, 12, 1),
                                          receivers=("H49.90",))), organization)  # fmt: skip
    assert verify_package(before, registry=registry, **verify_options).passed  # type: ignore[arg-type]
    after = sign_package(to_bytes(_build(registry, [("cong-van.pdf", signed_letter)], receivers=("H49.90",))),
                         organization)  # fmt: skip
    closed = verify_package(after, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert closed.indication is Indication.TOTAL_FAILED
    assert [o.outcome for o in closed.organizations if o.code == "H49.90"] == ["closed"]
    unchecked = verify_package(after, registry=None, **verify_options)  # type: ignore[arg-type]
    assert unchecked.indication is Indication.INDETERMINATE


def test_registry_reads_the_servers_export(tmp_path: Path) -> None:
    csv_file = tmp_path / "orgs.csv"
    rows = "code,name,address,status,closed_reason,successor,details\nH49.22,Sở Tư pháp,,active,,,\n"
    csv_file.write_text(rows + "H49.90,Cũ,,closed,merged,H49.22,\n", encoding="utf-8")
    json_file = tmp_path / "orgs.json"
    json_file.write_text('[{"code": "000.00.22.H49", "name": "Sở Tư pháp", "status": "active"}]', encoding="utf-8")
    from esign.orgid import OrgIdentifier

    loaded = StaticRegistry.load(csv_file)
    entry = loaded.lookup(OrgIdentifier.parse("H49.90"))
    assert entry is not None and entry.status == "closed"
    assert StaticRegistry.load(json_file).lookup(OrgIdentifier.parse("H49.22")) is not None


def test_staged_and_async_signing_give_valid_envelopes(
    registry: StaticRegistry, signed_letter: bytes, organization: FileSigner, verify_options: dict[str, object]
) -> None:
    import asyncio

    from esign.edxml import async_sign_package, prepare_package
    from esign.xml import finish, signature_algorithm_of

    data = to_bytes(_build(registry, [("cong-van.pdf", signed_letter)]))
    data = data.replace(b"</edXML:edXMLHeader>", b"<edXML:DigitalSignature/></edXML:edXMLHeader>")
    # Stage one knows only the certificate (the key is on a phone); the digest travels, the signature returns.
    digest, state = prepare_package(data, organization.certificate, chain=organization.chain)
    value = asyncio.run(organization.sign_digest(digest, signature_algorithm_of(state)))
    staged = finish(state, value)
    asynchronous = asyncio.run(async_sign_package(data, organization))
    for signed in (staged, asynchronous):
        assert b"DigitalSignature" not in signed
        result = verify_package(signed, registry=registry, **verify_options)  # type: ignore[arg-type]
        assert result.indication is Indication.TOTAL_PASSED, result.reasons


def test_verify_envelope_judges_the_envelope_alone_as_verify_package_does(
    signed_package: bytes, registry: StaticRegistry, verify_options: dict[str, object], dev_pki: DevPKI
) -> None:
    whole = verify_package(signed_package, registry=registry, **verify_options)  # type: ignore[arg-type]
    alone = verify_envelope(signed_package, **verify_options)  # type: ignore[arg-type]
    assert (alone.kind, alone.indication) == (whole.envelope.kind, whole.envelope.indication)
    assert alone.indication is Indication.TOTAL_PASSED
    swapped = signed_package.replace(_encoded_of(signed_package), _zip_b64("cong-van.pdf", b"%PDF-1.7 forged"))
    assert verify_envelope(swapped, **verify_options).indication is Indication.TOTAL_FAILED  # type: ignore[arg-type]
    stray = signed_package.replace(b"<AttachmentEncoded>", b'<AttachmentEncoded><ds:Signature xmlns:ds="' + DS.encode()
                                   + b'"/>', 1)  # fmt: skip
    outside = verify_envelope(stray, **verify_options)  # type: ignore[arg-type]
    assert outside.indication is Indication.TOTAL_FAILED and "outside edXMLHeader" in outside.message
    untrusted = verify_envelope(signed_package, trust_anchors=[dev_pki.signer("person-p256").certificate])
    assert untrusted.indication is Indication.INDETERMINATE
    unsigned = verify_envelope(to_bytes(_build(registry, [("a.txt", b"x")])), **verify_options)  # type: ignore[arg-type]
    assert (unsigned.kind, unsigned.indication) == ("absent", None)
