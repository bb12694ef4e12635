"""Where the signing certificate may be: KeyInfo, or only xades:CertificateValues (named by the signed
SigningCertificateV2 digest), or KeyInfo elsewhere through a KeyInfoReference."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from lxml import etree

from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
from esign.xml.constants import DS_NS, XADES_NS

DS, XA = f"{{{DS_NS}}}", f"{{{XADES_NS}}}"
DOC = b"<doc><a>1</a></doc>"


def _der_b64(cert: object) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()  # type: ignore[attr-defined]


def test_signing_certificate_only_in_certificate_values(dev_pki: DevPKI, signers: dict[str, FileSigner]) -> None:
    signer = signers["org-p256"]
    root = etree.fromstring(sign_xml(DOC, signer, profile="xades-b-b"))
    key_info = root.find(f".//{DS}KeyInfo")
    qualifying = root.find(f".//{XA}QualifyingProperties")
    assert key_info is not None and qualifying is not None
    key_info.getparent().remove(key_info)  # type: ignore[union-attr]
    unsigned = etree.SubElement(qualifying, XA + "UnsignedProperties")
    values = etree.SubElement(etree.SubElement(unsigned, XA + "UnsignedSignatureProperties"), XA + "CertificateValues")
    for cert in (*signer.chain, signer.certificate):  # the signer's certificate last: found by its digest
        etree.SubElement(values, XA + "EncapsulatedX509Certificate").text = _der_b64(cert)
    result = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    report = result.reports[0]
    assert report.passed, report.to_text()
    assert report.signer is not None and report.signer.serial_number == format(signer.certificate.serial_number, "x")


def test_key_info_reference(dev_pki: DevPKI, signers: dict[str, FileSigner]) -> None:
    signer = signers["org-rsa2048"]
    root = etree.fromstring(sign_xml(b"<doc><a Id='x'>1</a></doc>", signer, reference_id="x"))
    key_info = root.find(f".//{DS}KeyInfo")
    assert key_info is not None
    moved = etree.SubElement(root, DS + "KeyInfo", Id="keys")
    for child in list(key_info):
        moved.append(child)
    etree.SubElement(key_info, "{http://www.w3.org/2009/xmldsig11#}KeyInfoReference", URI="#keys")
    report = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.passed, report.to_text()


def test_x509_digest_names_the_signer_among_given_certificates(dev_pki: DevPKI, signers: dict[str, FileSigner]) -> None:
    import hashlib

    signer = signers["org-rsa2048"]
    root = etree.fromstring(sign_xml(b"<doc><a Id='x'>1</a></doc>", signer, reference_id="x"))
    x509_data = root.find(f".//{DS}X509Data")
    assert x509_data is not None
    for child in list(x509_data):
        x509_data.remove(child)
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    digest = etree.SubElement(x509_data, "{http://www.w3.org/2009/xmldsig11#}X509Digest",
                              Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")  # fmt: skip
    digest.text = base64.b64encode(hashlib.sha256(der).digest()).decode()
    given = [signer.certificate, *signer.chain]
    result = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True,
                        intermediates=given)  # fmt: skip
    assert result.passed, result.reports[0].to_text()
    without = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path).reports[0]
    assert without.sub_indication is not None and without.sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"
