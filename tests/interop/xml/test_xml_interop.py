"""Checked by tools we did not write: xmlsec1, signxml, openssl ts; and public interop vectors."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
from esign.xml.c14n import canonicalize
from esign.xml.constants import DS_NS, XADES_NS
from tests.esign.xml.conftest import DOCUMENT, INVOICE

DATA = Path(__file__).parent / "data"
DS = f"{{{DS_NS}}}"
PLAIN = b'<doc xmlns="urn:example:doc" xmlns:x="urn:x">\n  <item Id="item-1">first</item>\n  <x:b>2</x:b>\n</doc>\n'
ID_ELEMENTS = ("item", "DLHDon", "Object", "SignedProperties", "Signature")


def xmlsec1_verify(path: Path, pki: DevPKI) -> subprocess.CompletedProcess[str]:
    args = [
        "xmlsec1",
        "--verify",
        "--trusted-pem",
        str(pki.root_pem_path),
        "--untrusted-pem",
        str(pki.directory / "issuing-ca.pem"),
        "--enabled-reference-uris",
        "empty,same-doc",
    ]
    for element in ID_ELEMENTS:
        args += ["--id-attr:Id", element]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, check=False)


CASES = [
    ("person-rsa2048", "xmldsig-enveloped", {}),
    ("person-rsa2048", "xmldsig-enveloped", {"c14n": "inclusive", "digest": "sha512"}),
    ("person-p256", "xmldsig-enveloped", {"reference_id": "item-1", "c14n": "inclusive"}),
    ("person-p256", "xmldsig-enveloping", {}),
    ("org-rsa2048", "xades-b-b", {}),
    ("org-p256", "xades-b-b", {"c14n": "inclusive"}),
    ("person-rsa3072", "einvoice", {}),
]


@pytest.mark.parametrize(("key", "profile", "options"), CASES)
def test_xmlsec1_accepts_our_signatures(
    tmp_path: Path, dev_pki: DevPKI, signers: dict[str, FileSigner], key: str, profile: str, options: dict[str, str]
) -> None:
    data = INVOICE if profile == "einvoice" else DOCUMENT
    path = tmp_path / "signed.xml"
    path.write_bytes(sign_xml(data, signers[key], profile=profile, **options))
    result = xmlsec1_verify(path, dev_pki)
    assert result.returncode == 0, result.stderr[-2000:]


def test_xmlsec1_accepts_the_xmldsig_core_of_xades_b_t(tmp_path: Path, dev_pki: DevPKI, rsa: FileSigner) -> None:
    path = tmp_path / "signed.xml"
    path.write_bytes(sign_xml(DOCUMENT, rsa, profile="xades-b-t", tsa_url=dev_pki.tsa_url))
    assert xmlsec1_verify(path, dev_pki).returncode == 0


def test_xmlsec1_accepts_the_buyer_signature_too(
    tmp_path: Path, dev_pki: DevPKI, signers: dict[str, FileSigner]
) -> None:
    seller = sign_xml(INVOICE, signers["org-rsa2048"], profile="einvoice")
    both = sign_xml(seller, signers["person-p256"], profile="einvoice", signature_parent="NMua")
    # xmlsec1 checks the first Signature it finds: cut the seller's out to make it check the buyer's.
    root = etree.fromstring(both)
    nban = root.find("DSCKS/NBan")
    assert nban is not None
    nban.getparent().remove(nban)  # type: ignore[union-attr]
    path = tmp_path / "buyer.xml"
    path.write_bytes(etree.tostring(root))
    assert xmlsec1_verify(path, dev_pki).returncode == 0


TEMPLATE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="urn:envelope">
  <Data>Hello, xmlsec1</Data>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#SIGALG"/>
      <Reference URI="">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
    <KeyInfo><X509Data/></KeyInfo>
  </Signature>
</Envelope>
"""


@pytest.mark.parametrize(("key", "algorithm"), [("person-rsa2048", "rsa-sha256"), ("person-p256", "ecdsa-sha256")])
def test_we_accept_documents_signed_by_xmlsec1(tmp_path: Path, dev_pki: DevPKI, key: str, algorithm: str) -> None:
    template = tmp_path / "template.xml"
    template.write_bytes(TEMPLATE.replace(b"SIGALG", algorithm.encode()))
    signed = tmp_path / "signed.xml"
    subprocess.run(
        [
            "xmlsec1",
            "--sign",
            "--pkcs12",
            str(dev_pki.p12_path(key)),
            "--pwd",
            dev_pki.password,
            "--output",
            str(signed),
            str(template),
        ],
        check=True,
        capture_output=True,
    )
    result = verify_xml(signed.read_bytes(), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.passed, result.reports[0].to_text()
    tampered = verify_xml(signed.read_bytes().replace(b"Hello", b"Jello"), trust_anchors=dev_pki.root_pem_path)
    assert tampered.reports[0].sub_indication is not None
    assert tampered.reports[0].sub_indication.value == "HASH_FAILURE"


@pytest.mark.parametrize(
    ("profile", "c14n"),
    [("xmldsig-enveloped", "exclusive"), ("xmldsig-enveloped", "inclusive"), ("xmldsig-enveloping", "inclusive")],
)
def test_signxml_verifier_accepts_our_signatures(dev_pki: DevPKI, rsa: FileSigner, profile: str, c14n: str) -> None:
    # Not the e-invoice profile: signxml canonicalizes subtrees through lxml, which writes xmlns="" into
    # grandchildren of a Signature that uses the default namespace, as e-invoices (and the tax authority's
    # own signatures) do; signxml then rejects those, xmlsec1 accepts them (see the xmlsec1 tests above).
    # For the same reason a document with xml:lang on the root is left to xmlsec1 (lxml drops inherited xml:*).
    from signxml import XMLVerifier

    signed = sign_xml(PLAIN, rsa, profile=profile, c14n=c14n)
    result = XMLVerifier().verify(signed, ca_pem_file=str(dev_pki.root_pem_path), id_attribute="Id")
    result = result[0] if isinstance(result, list) else result
    assert result.signed_xml is not None


def test_signxml_xades_verifier_accepts_our_xades(dev_pki: DevPKI, ecdsa: FileSigner) -> None:
    from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

    signed = sign_xml(PLAIN, ecdsa, profile="xades-b-b")
    config = XAdESSignatureConfiguration(expect_references=2)  # data + SignedProperties (KeyInfo not referenced)
    results = XAdESVerifier().verify(signed, ca_pem_file=str(dev_pki.root_pem_path), expect_config=config)
    assert any(getattr(r, "signed_properties", None) is not None for r in results)


def test_openssl_ts_verify_accepts_the_signature_timestamp(tmp_path: Path, dev_pki: DevPKI, rsa: FileSigner) -> None:
    root = etree.fromstring(sign_xml(DOCUMENT, rsa, profile="xades-b-t", tsa_url=dev_pki.tsa_url))
    stamp = root.find(f".//{{{XADES_NS}}}SignatureTimeStamp")
    value = root.find(f".//{DS}SignatureValue")
    assert stamp is not None and value is not None
    c14n = stamp.find(f"{DS}CanonicalizationMethod").get("Algorithm")  # type: ignore[union-attr]
    (tmp_path / "data.bin").write_bytes(canonicalize(value, c14n or ""))
    token = base64.b64decode(stamp.findtext(f"{{{XADES_NS}}}EncapsulatedTimeStamp") or "")
    (tmp_path / "token.der").write_bytes(token)
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "data.bin"),
            "-in",
            str(tmp_path / "token.der"),
            "-token_in",
            "-CAfile",
            str(dev_pki.root_pem_path),
            "-untrusted",
            str(dev_pki.directory / "issuing-ca.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in result.stdout, result.stderr


def _own_certificate(path: Path) -> x509.Certificate:
    text = etree.fromstring(path.read_bytes()).findtext(f".//{DS}X509Certificate") or ""
    return x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))


def test_aleksey_enveloped_vector_is_total_passed() -> None:
    path = DATA / "aleksey-enveloped-sha256-rsa-sha256-test-1.xml"
    result = verify_xml(path.read_bytes(), trust_anchors=[_own_certificate(path)])
    assert result.passed
    assert result.reports[0].references[0].covers == ("/parent[@Id='parent'] (signatures excluded)",)


def test_aleksey_vector_with_a_changed_byte_fails_with_hash_failure() -> None:
    path = DATA / "aleksey-enveloped-sha256-rsa-sha256-test-1.xml"
    changed = path.read_bytes().replace(b'ID="othersibling"', b'ID="0thersibling"')
    result = verify_xml(changed, trust_anchors=[_own_certificate(path)])
    assert result.reports[0].sub_indication is not None
    assert result.reports[0].sub_indication.value == "HASH_FAILURE"


def test_tr2012_ecdsa_vector_verifies_but_has_no_certificate_to_trust(dev_pki: DevPKI) -> None:
    data = (DATA / "tr2012-signature-enveloping-p256_sha256.xml").read_bytes()
    result = verify_xml(data, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.reports[0].sub_indication is not None
    assert result.reports[0].sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"
    assert result.signed and b"up up and away" in result.signed[0].data  # the cryptographic core held
    forged = data.replace(b"up up and away", b"up up and afar")
    assert verify_xml(forged, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).signed == ()


def test_tr2012_sha1_vector_verifies_its_core_and_is_judged_by_date(dev_pki: DevPKI) -> None:
    data = (DATA / "tr2012-signature-enveloping-rsa-sha256.xml").read_bytes()
    result = verify_xml(data, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.signed  # SHA-1 digest and RSA-1024 are read; the core verifies
    # Its certificate is not trusted here, but the algorithms are judged first: no time proves the
    # signature existed before SHA-1's and RSA-1024's dates, so it cannot pass today.
    report = result.reports[0]
    assert report.indication.value == "INDETERMINATE"
    assert report.sub_indication is not None and report.sub_indication.value in (
        "CRYPTO_CONSTRAINTS_FAILURE",
        "NO_SIGNING_CERTIFICATE_FOUND",
    )


@pytest.mark.parametrize("profile", ["xmldsig-enveloped", "xades-b-b"])
def test_large_documents_keep_their_bytes_and_xmlsec1_agrees(
    tmp_path: Path, dev_pki: DevPKI, rsa: FileSigner, profile: str
) -> None:
    rows = b"".join(b'  <row n="%d">gi\xc3\xa1 tr\xe1\xbb\x8b %d</row>\r\n' % (i, i) for i in range(40_000))
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n<p:rows xmlns:p="urn:rows">\r\n' + rows + b"</p:rows>\n"
    signed = sign_xml(data, rsa, profile=profile)
    assert signed.startswith(data[: len(data) - len(b"</p:rows>\n")])  # the input bytes, signature spliced in
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    path = tmp_path / "large.xml"
    path.write_bytes(signed)
    assert xmlsec1_verify(path, dev_pki).returncode == 0
