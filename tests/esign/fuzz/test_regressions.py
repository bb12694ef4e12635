"""Inputs the fuzzers found that once escaped as foreign exceptions, each now a clean refusal.

Every test names the run that found it (see docs/reliability.md, "Fuzzing") and builds the
smallest input that shows the defect.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from esign.der_limits import LOOSE_OCTETS, MAX_TAG_OCTETS, check_der
from esign.errors import InvalidInput
from esign.pdf import PyHankoSigner, sign_pdf, verify_pdf
from esign.pki import DevPKI
from esign.xml import sign_xml, verify_xml
from esign.xml.constants import DS_NS, XADES_NS
from tests.esign.fuzz.mutations import shared_signature_fields
from tests.esign.pdf.samples import make_pdf
from tests.esign.xml.conftest import DOCUMENT

DS = f"{{{DS_NS}}}"
XA = f"{{{XADES_NS}}}"


def _set_text(document: bytes, tag: str, text: str) -> bytes:
    root = etree.fromstring(document)
    element = next(root.iter(tag))
    element.text = text
    return etree.tostring(root)


@pytest.fixture(scope="module")
def xades_lt(dev_pki: DevPKI) -> bytes:
    """XAdES B-LT: unsigned CertificateValues and RevocationValues anyone can edit."""
    return sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"), profile="xades-b-lt", tsa_url=dev_pki.tsa_url)


def test_keyinfo_certificate_with_a_broken_subject_is_invalid_input(dev_pki: DevPKI) -> None:
    # Found by the hypothesis XML run (flip inside X509Certificate): cryptography parses names
    # lazily, so the DER loaded fine and a ValueError came out of picking the leaf certificate.
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"))
    cert = dev_pki.certificate("person-rsa2048")
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    oid = der.index(bytes.fromhex("0603550406"))  # the countryName OID of the issuer
    der[oid + 2] = 0x80  # an OID arc may not start with 0x80
    with pytest.raises(ValueError):
        _ = x509.load_der_x509_certificate(bytes(der)).issuer  # the lazy failure itself
    hostile = _set_text(signed, DS + "X509Certificate", base64.b64encode(bytes(der)).decode())
    with pytest.raises(InvalidInput, match=r"X509Certificate in KeyInfo is not a readable X\.509 certificate"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


def test_encapsulated_certificate_that_is_not_a_certificate_is_invalid_input(dev_pki: DevPKI, xades_lt: bytes) -> None:
    # Found by the hypothesis XML run: x509.load_der_x509_certificate's ValueError escaped.
    not_a_certificate = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    hostile = _set_text(xades_lt, XA + "EncapsulatedX509Certificate", not_a_certificate)
    with pytest.raises(InvalidInput, match=r"EncapsulatedX509Certificate is not a readable X\.509"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


@pytest.mark.parametrize("text", ["QQ=", "QUFB\u00e9QUFB", "not base64!"])
def test_unsigned_revocation_value_that_is_not_base64_is_invalid_input(
    dev_pki: DevPKI, xades_lt: bytes, text: str
) -> None:
    # Found by the hypothesis XML run: binascii.Error ("Incorrect padding") and ValueError (non-ASCII
    # after an encoding declaration was changed) escaped from the unsigned validation data.
    hostile = _set_text(xades_lt, XA + "EncapsulatedOCSPValue", text)
    with pytest.raises(InvalidInput, match="EncapsulatedOCSPValue is not base64"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


def test_the_untouched_b_lt_sample_still_passes(dev_pki: DevPKI, xades_lt: bytes) -> None:
    assert verify_xml(xades_lt, trust_anchors=dev_pki.root_pem_path).passed


# A DER value whose tag number runs on for 300,000 octets: unbounded, asn1crypto spends ~40 s on it.
LONG_TAG = b"\x3f" + b"\xff" * 300_000 + b"\x01\x00"


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag, 0x83]) + len(body).to_bytes(3, "big") + body


# These regressions assert the guard's own refusal (its message), which only the bounded path gives;
# how long they take is measured in bench/ (bench/fuzz_*.py), never compared to the clock in a test.
# A CMS ContentInfo whose content type OID has a 300,000-octet arc: ~17 s unbounded, then a ValueError.
LONG_ARC = _der(0x30, _der(0x06, b"\x2a" + b"\xff" * 300_000 + b"\x7f") + b"\xa0\x02\x30\x00")
HOSTILE_DER = pytest.mark.parametrize("blob", [LONG_TAG, LONG_ARC], ids=["long tag", "long OID arc"])


def test_der_tag_numbers_and_oid_arcs_are_bounded_and_ordinary_ones_still_pass(dev_pki: DevPKI) -> None:
    with pytest.raises(ValueError, match="tag number longer than"):
        check_der(LONG_TAG)
    with pytest.raises(ValueError, match="OID arc longer than"):
        check_der(LONG_ARC)
    # The same inside an OCTET STRING (DER asn1crypto parses on demand: eContent, extension values)
    with pytest.raises(ValueError, match="tag number longer than"):
        check_der(_der(0x30, _der(0x04, LONG_TAG)))
    with pytest.raises(ValueError, match="OID arc longer than"):
        check_der(_der(0x30, _der(0x04, LONG_ARC)))
    deep = b"\x05\x00"
    for _ in range(70):  # BER indefinite lengths nested past any schema
        deep = b"\x30\x80" + deep + b"\x00\x00"
    with pytest.raises(ValueError, match="nested deeper than"):
        check_der(deep)
    longest = b"\x9f" + b"\x81" * (MAX_TAG_OCTETS - 1) + b"\x01\x00"
    check_der(longest)
    check_der(b"\x9f\x1f\x00")
    uuid_arc = "2.25.329800735698586629295641978511506172918"  # the longest arcs in use: 128-bit UUIDs
    check_der(core.ObjectIdentifier(uuid_arc).dump())
    # Opaque bytes inside a primitive value may look like a long tag by chance; only the loose bound applies
    check_der(_der(0x30, _der(0x04, b"\x1f" + b"\xff" * (LOOSE_OCTETS - 1) + b"\x01\x00")))
    cert = dev_pki.certificate("person-rsa2048").public_bytes(serialization.Encoding.DER)
    for der in (cert, dev_pki.crl(), dev_pki.root_crl()):
        check_der(der)


def test_importing_esign_leaves_pyhanko_and_asn1crypto_as_they_are() -> None:
    # Every module of the library, imported in a fresh process: their functions are still the originals.
    import subprocess
    import sys

    code = """
import asn1crypto.core, asn1crypto.parser, pyhanko.pdf_utils.generic as generic
before = {
    "parser._parse": asn1crypto.parser._parse,
    "core._parse": asn1crypto.core._parse,
    "ObjectIdentifier.dotted": asn1crypto.core.ObjectIdentifier.__dict__["dotted"],
    "read_hex_string_from_stream": generic.read_hex_string_from_stream,
    "read_object": generic.read_object,
}
import importlib, pkgutil, esign
for module in pkgutil.walk_packages(esign.__path__, "esign."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
import esign.pdf, esign.xml, esign.trust
esign.pdf.verify_pdf, esign.xml.verify_xml, esign.trust.validate_path
after = {
    "parser._parse": asn1crypto.parser._parse,
    "core._parse": asn1crypto.core._parse,
    "ObjectIdentifier.dotted": asn1crypto.core.ObjectIdentifier.__dict__["dotted"],
    "read_hex_string_from_stream": generic.read_hex_string_from_stream,
    "read_object": generic.read_object,
}
changed = [name for name in before if before[name] is not after[name]]
assert not changed, changed
print("unchanged", len(before))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "unchanged 5" in result.stdout


@HOSTILE_DER
def test_time_stamp_token_with_endless_der_is_refused_at_once(dev_pki: DevPKI, blob: bytes) -> None:
    # Found by the random XML run (EncapsulatedTimeStamp -> 3,000,000 base64 "/" characters): a
    # 20 s hang per call, hours for the whole input, in asn1crypto's tag parser.
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"), profile="xades-b-t", tsa_url=dev_pki.tsa_url)
    hostile = _set_text(signed, XA + "EncapsulatedTimeStamp", base64.b64encode(blob).decode())
    with pytest.raises(InvalidInput, match="time-stamp token is not valid DER"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


@HOSTILE_DER
def test_pdf_signature_contents_with_endless_der_is_refused_at_once(dev_pki: DevPKI, blob: bytes) -> None:
    # The same asn1crypto flaws reached through a PDF: the CMS in /Contents is parsed as soon as the
    # signatures are listed. A signer that reserves room (in hex digits) for a big /Contents makes the carrier.
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf(1)))
    meta = signers.PdfSignatureMetadata(field_name="Signature1")
    signer = PyHankoSigner(dev_pki.signer("person-rsa2048"))
    signed = signers.sign_pdf(writer, meta, signer=signer, bytes_reserved=2 * len(blob) + 32).getvalue()
    match = re.search(rb"/Contents\s*<([0-9A-Fa-f]+)>", signed)
    assert match is not None
    hostile_hex = blob.hex().encode().ljust(len(match.group(1)), b"0")
    hostile = signed[: match.start(1)] + hostile_hex + signed[match.end(1) :]
    try:
        reports = verify_pdf(hostile, trust_anchors=dev_pki.root_pem_path)
    except InvalidInput as exc:
        assert "longer than 20 octets" in str(exc)
    else:
        assert reports and not any(r.passed for r in reports)
        assert all("longer than 20 octets" in " ".join(r.errors) for r in reports)


@pytest.fixture(scope="module")
def xades_t(dev_pki: DevPKI) -> bytes:
    """XAdES B-T: an unsigned EncapsulatedTimeStamp anyone can edit without touching the signature."""
    return sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"), profile="xades-b-t", tsa_url=dev_pki.tsa_url)


def _with_token(document: bytes, change: Callable[[bytes], bytes]) -> bytes:
    root = etree.fromstring(document)
    stamp = next(root.iter(XA + "EncapsulatedTimeStamp"))
    token = change(base64.b64decode(stamp.text or ""))
    stamp.text = base64.b64encode(token).decode()
    return etree.tostring(root)


def test_time_stamp_certificate_with_a_broken_name_is_invalid_input(dev_pki: DevPKI, xades_t: bytes) -> None:
    # Found by the atheris XML run: the TSA certificate loaded (lazily) and failed in path building.
    tsa_der = dev_pki.tsa.certificate.public_bytes(serialization.Encoding.DER)

    def break_tsa_name(token: bytes) -> bytes:
        assert tsa_der in token
        der = bytearray(tsa_der)
        der[der.index(bytes.fromhex("0603550406")) + 2] = 0x80
        return token.replace(tsa_der, bytes(der))

    with pytest.raises(InvalidInput, match="certificate in the time-stamp token is not a readable"):
        verify_xml(_with_token(xades_t, break_tsa_name), trust_anchors=dev_pki.root_pem_path)


def test_time_stamp_with_damaged_signed_attributes_is_invalid_input(dev_pki: DevPKI, xades_t: bytes) -> None:
    # Found by the atheris XML run: "CMSAttributeType - tag should have been 6, but 10 was found"
    # came out of the signer info, which asn1crypto parses only when it is read.
    message_digest_oid = bytes.fromhex("06092a864886f70d010904")

    def retag(token: bytes) -> bytes:
        assert message_digest_oid in token
        return token.replace(message_digest_oid, b"\x0a" + message_digest_oid[1:])

    with pytest.raises(InvalidInput, match="time-stamp token is not valid DER CMS"):
        verify_xml(_with_token(xades_t, retag), trust_anchors=dev_pki.root_pem_path)


def test_relative_namespace_uri_is_invalid_input(dev_pki: DevPKI) -> None:
    # Found by the atheris XML run: libxml2's C14NError ("C14N failed") escaped canonicalization.
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"), reference_id="item-1")
    hostile = signed.replace(b'<item Id="item-1">', b'<item xmlns:rel="a/b" Id="item-1">', 1)
    assert hostile != signed
    with pytest.raises(InvalidInput, match="cannot be canonicalized"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


def test_copies_of_a_signature_cannot_make_verification_quadratic(dev_pki: DevPKI) -> None:
    # Found after the first runs by duplicating Signature elements (now the xml_copy_signatures
    # mutator): every copy canonicalized the whole document again, so 200 copies (1.1 MB) took 8 s
    # and 2,000 would take ~15 minutes. The references of a document now have a work budget.
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-rsa2048"))
    start, end = signed.index(b"<ds:Signature"), signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    hostile = signed[:end] + signed[start:end] * 400 + signed[end:]
    with pytest.raises(InvalidInput, match="denial-of-service"):
        verify_xml(hostile, trust_anchors=dev_pki.root_pem_path)


def test_a_seller_and_buyer_invoice_is_far_within_the_budget(dev_pki: DevPKI) -> None:
    from tests.esign.xml.conftest import INVOICE

    seller = sign_xml(INVOICE, dev_pki.signer("person-rsa2048"), profile="einvoice")
    both = sign_xml(seller, dev_pki.signer("org-p256"), profile="einvoice", signature_parent="NMua")
    assert verify_xml(both, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_pdf_with_hundreds_of_fields_sharing_a_signature_is_refused_at_once(dev_pki: DevPKI) -> None:
    # Found after the XML case, by the same idea (now the pdf_many_signatures mutator): each field
    # was validated on its own, with difference analysis: 200 fields (36 KB) took 13 s, 5,000 a
    # few minutes. More than MAX_SIGNATURES are refused, counted before pyHanko builds anything.
    signed = sign_pdf(make_pdf(1), None, dev_pki.signer("person-rsa2048"))
    assert signed is not None
    hostile = shared_signature_fields(signed, 2_000)
    with pytest.raises(InvalidInput, match="more than 50 signatures"):
        verify_pdf(hostile, trust_anchors=dev_pki.root_pem_path)
    # Fewer fields still cost a validation each (49 of them: 20 s on a loaded machine): no signer
    # ever lets two fields share one signature dictionary, so that is refused too.
    with pytest.raises(InvalidInput, match="share one signature dictionary"):
        verify_pdf(shared_signature_fields(signed, 49), trust_anchors=dev_pki.root_pem_path)
    [report] = verify_pdf(shared_signature_fields(signed, 1), trust_anchors=dev_pki.root_pem_path)
    assert not report.passed  # its field was replaced after signing
