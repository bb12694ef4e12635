"""The algorithm and transform table, against signatures made by tools we did not write.

signxml 5.2 makes RSA PKCS#1 v1.5 and PSS (SHA-224..512, SHA-3), ECDSA P-256/384/521 (SHA-2, SHA-3),
DSA-SHA256, with every C14N; xmlsec1 1.2.37 makes rsa/ecdsa/dsa with SHA-1..512. Neither (nor the
libxmlsec 1.3.9 in python-xmlsec) makes EdDSA, so Ed25519/Ed448 signatures are assembled here with
`cryptography` over the RFC 9231 identifiers. Keys are made by the test: the checks are of the
cryptographic core (both digests and the signature value), then a changed byte must fail.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from lxml import etree

from esign.xml import verify_xml
from esign.xml.c14n import canonicalize
from esign.xml.constants import C14N_EXCLUSIVE, DS_NS

DOC = b'<doc xmlns="urn:d" xmlns:x="urn:x"><item Id="i">first <x:b>bold</x:b></item><!-- c --><note>n</note></doc>'
ANCHOR = Path(__file__).parent / "data" / "aleksey-enveloped-sha256-rsa-sha256-test-1.xml"  # any certificate file


def _anchor() -> list[Any]:
    from cryptography import x509

    text = etree.parse(str(ANCHOR)).findtext(f".//{{{DS_NS}}}X509Certificate") or ""
    return [x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))]


def _core_valid(signed: bytes, tamper: tuple[bytes, bytes] = (b"first", b"f1rst")) -> None:
    result = verify_xml(signed, trust_anchors=_anchor(), allow_weak=True)
    report = result.reports[0]
    assert all(r.digest_ok for r in report.references), report.to_text()
    assert report.sub_indication is None or report.sub_indication.value not in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE"), (
        report.to_text()
    )
    assert result.signed, report.to_text()
    changed = verify_xml(signed.replace(*tamper), trust_anchors=_anchor(), allow_weak=True).reports[0]
    assert changed.sub_indication is not None
    assert changed.sub_indication.value in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE")


_RSA = rsa.generate_private_key(65537, 2048)
_KEYS: dict[str, Any] = {}


def _key(kind: str) -> Any:
    if kind not in _KEYS:
        _KEYS[kind] = {
            "rsa": lambda: _RSA,
            "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
            "dsa": lambda: dsa.generate_private_key(2048),
        }[kind]()
    return _KEYS[kind]


SIGNXML_CASES = [
    ("rsa", "RSA_SHA224", "SHA224", "CANONICAL_XML_1_0"),
    ("rsa", "RSA_SHA512", "SHA512", "CANONICAL_XML_1_1"),
    ("rsa", "SHA224_RSA_MGF1", "SHA256", "EXCLUSIVE_XML_CANONICALIZATION_1_0"),
    ("rsa", "SHA256_RSA_MGF1", "SHA3_256", "CANONICAL_XML_1_0_WITH_COMMENTS"),
    ("rsa", "SHA512_RSA_MGF1", "SHA384", "EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS"),
    ("rsa", "SHA3_256_RSA_MGF1", "SHA3_512", "CANONICAL_XML_1_1_WITH_COMMENTS"),
    ("rsa", "SHA3_512_RSA_MGF1", "SHA3_224", "CANONICAL_XML_1_0"),
    ("p256", "ECDSA_SHA256", "SHA256", "EXCLUSIVE_XML_CANONICALIZATION_1_0"),
    ("p384", "ECDSA_SHA384", "SHA384", "CANONICAL_XML_1_0"),
    ("p521", "ECDSA_SHA512", "SHA512", "CANONICAL_XML_1_1"),
    ("p256", "ECDSA_SHA3_256", "SHA3_384", "EXCLUSIVE_XML_CANONICALIZATION_1_0"),
    ("p384", "ECDSA_SHA224", "SHA224", "CANONICAL_XML_1_0"),
    ("dsa", "DSA_SHA256", "SHA256", "CANONICAL_XML_1_0"),
    # (signxml refuses SHA-1 to sign: xmlsec1 makes the rsa-sha1 case below)
]
NO_COMMENTS = DOC.replace(b"<!-- c -->", b"")


@pytest.mark.parametrize(("key", "method", "digest", "c14n"), SIGNXML_CASES, ids=lambda v: str(v))
def test_signatures_made_by_signxml_verify(key: str, method: str, digest: str, c14n: str) -> None:
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

    private = _key(key)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = XMLSigner(
        signature_algorithm=SignatureMethod[method],
        digest_algorithm=DigestAlgorithm[digest],
        c14n_algorithm=CanonicalizationMethod[c14n],
    )
    # signxml keeps comments in a URI="" reference under a #WithComments C14N, which XMLDSig 4.3.3.3
    # excludes (xmlsec1 rejects those signatures too, see below): documents without comments for those.
    source = NO_COMMENTS if c14n.endswith("WITH_COMMENTS") else DOC
    signed = etree.tostring(signer.sign(etree.fromstring(source), key=pem))
    _core_valid(signed)


def test_signxml_digests_comments_in_a_whole_document_reference_and_xmlsec1_agrees_with_us(tmp_path: Path) -> None:
    from signxml import CanonicalizationMethod, XMLSigner

    pem = _RSA.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS)
    signed = etree.tostring(signer.sign(etree.fromstring(DOC), key=pem))
    report = verify_xml(signed, trust_anchors=_anchor()).reports[0]
    assert report.sub_indication is not None and report.sub_indication.value == "HASH_FAILURE"
    (tmp_path / "s.xml").write_bytes(signed)
    (tmp_path / "pub.pem").write_bytes(
        _RSA.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    xmlsec1 = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-pem", str(tmp_path / "pub.pem"), str(tmp_path / "s.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert xmlsec1.returncode != 0


XMLSEC_TEMPLATE = """<doc xmlns="urn:d"><item Id="i">first</item>
<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>
<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
<SignatureMethod Algorithm="{method}"/>
<Reference URI="#i"><Transforms><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>
<DigestMethod Algorithm="{digest}"/><DigestValue/></Reference>
<Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
</Transforms><DigestMethod Algorithm="{digest}"/><DigestValue/></Reference>
</SignedInfo><SignatureValue/><KeyInfo>{key_info}</KeyInfo></Signature></doc>"""

MORE = "http://www.w3.org/2001/04/xmldsig-more#"
XMLSEC_CASES = [
    ("rsa", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1"),
    ("rsa", MORE + "rsa-sha224", MORE + "sha224"),
    ("rsa", MORE + "rsa-sha384", MORE + "sha384"),
    ("p384", MORE + "ecdsa-sha384", MORE + "sha384"),
    ("p521", MORE + "ecdsa-sha512", "http://www.w3.org/2001/04/xmlenc#sha512"),
    ("dsa", "http://www.w3.org/2009/xmldsig11#dsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
]


@pytest.mark.parametrize(("key", "method", "digest"), XMLSEC_CASES, ids=lambda v: str(v).rsplit("#", 1)[-1])
def test_signatures_made_by_xmlsec1_verify(tmp_path: Path, key: str, method: str, digest: str) -> None:
    (tmp_path / "key.pem").write_bytes(
        _key(key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # xmlsec1 1.2.37 cannot write an EC KeyValue: the key goes in as DEREncodedKeyValue after signing
    # (KeyInfo is not signed here).
    key_info = "" if key.startswith("p") else "<KeyValue/>"
    (tmp_path / "t.xml").write_text(XMLSEC_TEMPLATE.format(method=method, digest=digest, key_info=key_info))
    subprocess.run(
        [
            "xmlsec1",
            "--sign",
            "--privkey-pem",
            str(tmp_path / "key.pem"),
            "--id-attr:Id",
            "urn:d:item",
            "--output",
            str(tmp_path / "s.xml"),
            str(tmp_path / "t.xml"),
        ],
        check=True,
        capture_output=True,
    )
    signed = (tmp_path / "s.xml").read_bytes()
    if not key_info:
        spki = (
            _key(key)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        value = base64.b64encode(spki).decode()
        signed = signed.replace(
            b"<KeyInfo/>",
            f'<KeyInfo><DEREncodedKeyValue xmlns="http://www.w3.org/2009/xmldsig11#">{value}</DEREncodedKeyValue></KeyInfo>'.encode(),
        )
    _core_valid(signed)


@pytest.mark.parametrize("curve", ["ed25519", "ed448"])
def test_eddsa_rfc9231(curve: str) -> None:
    private = ed25519.Ed25519PrivateKey.generate() if curve == "ed25519" else ed448.Ed448PrivateKey.generate()
    root = etree.fromstring(DOC)
    item = root[0]
    digest = base64.b64encode(__import__("hashlib").sha512(canonicalize(item, C14N_EXCLUSIVE)).digest()).decode()
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = etree.fromstring(
        f"""<Signature xmlns="{DS_NS}" xmlns:dsig11="http://www.w3.org/2009/xmldsig11#"><SignedInfo>
<CanonicalizationMethod Algorithm="{C14N_EXCLUSIVE}"/>
<SignatureMethod Algorithm="http://www.w3.org/2021/04/xmldsig-more#eddsa-{curve}"/>
<Reference URI="#i"><Transforms><Transform Algorithm="{C14N_EXCLUSIVE}"/></Transforms>
<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/><DigestValue>{digest}</DigestValue></Reference>
</SignedInfo><SignatureValue/><KeyInfo><dsig11:DEREncodedKeyValue>{base64.b64encode(spki).decode()}
</dsig11:DEREncodedKeyValue></KeyInfo></Signature>"""
    )
    root.append(signature)
    signed_info = signature[0]
    signature[1].text = base64.b64encode(private.sign(canonicalize(signed_info, C14N_EXCLUSIVE))).decode()
    _core_valid(etree.tostring(root))


def test_base64_transform_and_key_info_reference() -> None:
    private = _key("p256")
    payload = b"%PDF-1.7 an attachment\n"
    encoded = base64.b64encode(payload).decode()
    digest = base64.b64encode(__import__("hashlib").sha256(payload).digest()).decode()
    numbers = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    document = etree.fromstring(
        f"""<doc><Signature xmlns="{DS_NS}" xmlns:dsig11="http://www.w3.org/2009/xmldsig11#"><SignedInfo>
<CanonicalizationMethod Algorithm="{C14N_EXCLUSIVE}"/>
<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
<Reference URI="#att"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#base64"/></Transforms>
<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue>{digest}</DigestValue></Reference>
</SignedInfo><SignatureValue/><KeyInfo><dsig11:KeyInfoReference URI="#keys"/></KeyInfo>
<Object Id="att">{encoded}</Object></Signature>
<KeyInfo xmlns="{DS_NS}" Id="keys"><KeyValue><dsig11:ECKeyValue xmlns:dsig11="http://www.w3.org/2009/xmldsig11#">
<dsig11:NamedCurve URI="urn:oid:1.2.840.10045.3.1.7"/><dsig11:PublicKey>{base64.b64encode(numbers).decode()}
</dsig11:PublicKey></dsig11:ECKeyValue></KeyValue></KeyInfo></doc>"""
    )
    signature = document[0]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der = private.sign(canonicalize(signature[0], C14N_EXCLUSIVE), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature[1].text = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    _core_valid(etree.tostring(document), tamper=(encoded[:8].encode(), b"QUFBQUFB"))


def test_xpath_filter2_subtract_signature() -> None:
    """XPath Filter 2.0 (subtract here()/ancestor::ds:Signature[1]) as Java/Apache Santuario signers write it."""
    private = _key("rsa")
    root = etree.fromstring(DOC)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from esign.xml.c14n import digest_document

    signature = etree.fromstring(
        f"""<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{C14N_EXCLUSIVE}"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">
<dsig-xpath:XPath xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2"
 Filter="subtract">here()/ancestor::ds:Signature[1]</dsig-xpath:XPath>
</ds:Transform><ds:Transform Algorithm="{C14N_EXCLUSIVE}"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:KeyValue><ds:RSAKeyValue><ds:Modulus>{
            base64.b64encode(private.public_key().public_numbers().n.to_bytes(256, "big")).decode()
        }</ds:Modulus><ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue></ds:KeyInfo></ds:Signature>"""
    )
    root.append(signature)
    value, _ = digest_document(root.getroottree(), C14N_EXCLUSIVE, "sha256", keep=False, exclude=[signature])
    signature.find(f".//{{{DS_NS}}}DigestValue").text = base64.b64encode(value).decode()  # type: ignore[union-attr]
    data = canonicalize(signature[0], C14N_EXCLUSIVE)
    signature[1].text = base64.b64encode(private.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()
    _core_valid(etree.tostring(root))


def test_xpath_filter2_subtract_of_data_is_refused() -> None:
    """Subtracting anything but signatures would leave unsigned data inside the signed element."""
    signature = f"""<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{C14N_EXCLUSIVE}"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">
<f:XPath xmlns:f="http://www.w3.org/2002/06/xmldsig-filter2" xmlns:d="urn:d" Filter="subtract">//d:note</f:XPath>
</ds:Transform></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/></ds:Signature>"""
    document = DOC.replace(b"</doc>", signature.encode() + b"</doc>")  # as text: lxml would drop the unused xmlns:d
    from esign.errors import InvalidInput

    with pytest.raises(InvalidInput, match="subtract"):
        verify_xml(document, trust_anchors=_anchor())


@pytest.mark.parametrize("expression", ["//*//*//*", "//*/following::*", "//d:note/preceding-sibling::*", "count(//*)"])
def test_xpath_filter2_expressions_that_could_be_quadratic_are_refused(expression: str) -> None:
    from esign.errors import InvalidInput

    signature = (
        f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{C14N_EXCLUSIVE}"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        '<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">'
        f'<f:XPath xmlns:f="http://www.w3.org/2002/06/xmldsig-filter2" xmlns:d="urn:d" Filter="subtract">{expression}'
        "</f:XPath></ds:Transform></ds:Transforms>"
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>'
        "</ds:SignedInfo><ds:SignatureValue/></ds:Signature>"
    )
    with pytest.raises(InvalidInput, match="plain location path"):
        verify_xml(DOC.replace(b"</doc>", signature.encode() + b"</doc>"), trust_anchors=_anchor())
