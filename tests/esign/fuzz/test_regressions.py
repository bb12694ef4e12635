"""Inputs the fuzzers found that once escaped as foreign exceptions, each now a clean refusal.

Every test names the run that found it (see docs/reliability.md, "Fuzzing") and builds the
smallest input that shows the defect.
"""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from esign.errors import InvalidInput
from esign.pki import DevPKI
from esign.xml import sign_xml, verify_xml
from esign.xml.constants import DS_NS, XADES_NS
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


def test_encapsulated_certificate_that_is_not_a_certificate_is_invalid_input(
    dev_pki: DevPKI, xades_lt: bytes
) -> None:
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
