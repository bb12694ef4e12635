"""Verification: verdicts with the right reasons, signed content only, hostile input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esign.errors import InvalidInput
from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
from esign.xml.constants import DS_NS
from esign.xml.verification import verify_keeping_tree
from tests.esign.xml.conftest import DOCUMENT, INVOICE

DS = f"{{{DS_NS}}}"


def _sub(result: object) -> str | None:
    report = result.reports[0]  # type: ignore[attr-defined]
    return report.sub_indication.value if report.sub_indication else None


def test_changed_content_is_a_hash_failure(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa)
    result = verify_xml(signed.replace(b"first", b"fir5t"), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.reports[0].indication.value == "TOTAL-FAILED"
    assert _sub(result) == "HASH_FAILURE"
    assert result.signed == ()


def test_changed_signature_value_is_a_crypto_failure(dev_pki: DevPKI, rsa: FileSigner) -> None:
    root = etree.fromstring(sign_xml(DOCUMENT, rsa))
    value = root.find(f".//{DS}SignatureValue")
    assert value is not None and value.text
    value.text = ("B" if value.text[0] == "A" else "A") + value.text[1:]
    result = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert _sub(result) == "SIG_CRYPTO_FAILURE"


def test_unknown_trust_anchor_is_indeterminate(rsa: FileSigner, dev_pki: DevPKI) -> None:
    signed = sign_xml(DOCUMENT, rsa)
    result = verify_xml(signed, trust_anchors=[dev_pki.tsa.certificate])
    assert result.reports[0].indication.value == "INDETERMINATE"
    assert _sub(result) == "NO_CERTIFICATE_CHAIN_FOUND"


def test_comments_and_whitespace_outside_signed_element_do_not_matter(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa, reference_id="item-1")
    assert verify_xml(
        signed.replace(b"<!-- a comment -->", b""), trust_anchors=dev_pki.root_pem_path, allow_fetching=True
    ).passed


@pytest.mark.parametrize("place", ["first", "splitting-a-tail", "after-the-comment", "last"])
def test_enveloped_signature_anywhere_among_text_verifies_and_the_tree_is_left_intact(
    dev_pki: DevPKI, rsa: FileSigner, place: str
) -> None:
    # The enveloped transform takes the Signature out and puts it back next to its previous sibling;
    # the text around it (its tail, the previous node's tail or the parent's text) must come out joined
    # and go back exactly as it was.
    root = etree.fromstring(sign_xml(DOCUMENT, rsa))
    signature = root.find(f"{DS}Signature")
    assert signature is not None
    root.remove(signature)
    children = list(root)
    if place == "first":
        root.text, signature.tail = "\n", "  "
        root.insert(0, signature)
    elif place == "splitting-a-tail":
        children[0].addnext(signature)
        children[0].tail, signature.tail = "\n", "  "
    elif place == "after-the-comment":
        children[1].addnext(signature)
    else:
        root.append(signature)
    moved = etree.tostring(root)
    result, tree = verify_keeping_tree(moved, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.passed, result.reports[0].to_text()
    assert etree.tostring(tree.getroot()) == moved


def test_report_lists_what_each_reference_covers(dev_pki: DevPKI, rsa: FileSigner) -> None:
    report = verify_xml(
        sign_xml(INVOICE, rsa, profile="einvoice"), trust_anchors=dev_pki.root_pem_path, allow_fetching=True
    ).reports[0]
    assert report.references[0].covers == ("/HDon/DLHDon[@Id='data']",)
    assert "Object" in report.references[1].covers[0]
    assert report.signer is not None and "001090012389" not in report.signer.subject  # masked unless reveal
    assert all("001090012389" not in subject for subject in report.trust_path)
    text = report.to_text()
    assert "TOTAL-PASSED" in text and "DLHDon" in text


def test_signed_content_excludes_what_was_not_signed(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa, reference_id="item-1")
    # Data added outside the signed element after signing: still valid, but never handed back.
    extra = signed.replace(b"</doc>", b"<note>pay to account 666</note></doc>")
    result = verify_xml(extra, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.passed
    contents = b"".join(s.data for s in result.signed)
    assert b"666" not in contents
    assert result.signed_xml[0].get("Id") == "item-1"


def test_unsigned_data_where_an_invoice_reader_looks_fails_the_einvoice_shape(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(INVOICE, rsa, profile="einvoice")
    extra = signed.replace(b"</HDon>", b"<Unsigned>pay to account 666</Unsigned></HDon>")
    result = verify_xml(extra, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.indication.value == "TOTAL-FAILED" and _sub(result) == "FORMAT_FAILURE"
    assert "Unsigned" in result.reports[0].errors[0]


def test_signature_wrapping_with_a_duplicate_id_is_refused(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(INVOICE, rsa, profile="einvoice")
    evil = signed.replace(b"<HDon>", b'<HDon><DLHDon Id="data"><TToan>1</TToan></DLHDon>', 1)
    with pytest.raises(InvalidInput, match="duplicate IDs"):
        verify_xml(evil, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


def test_moving_the_signed_element_and_replacing_it_is_caught(dev_pki: DevPKI, rsa: FileSigner) -> None:
    root = etree.fromstring(sign_xml(INVOICE, rsa, profile="einvoice"))
    original = root.find("DLHDon")
    assert original is not None
    hidden = etree.SubElement(root.find(f".//{DS}Object"), "Wrapper")  # type: ignore[arg-type]
    hidden.append(original)
    fake = etree.Element("DLHDon")
    fake.text = "forged"
    root.insert(0, fake)
    result = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert not result.passed  # the SigningTime object changed, so its digest no longer matches
    assert all(b"forged" not in s.data for s in result.signed)


HOSTILE = {
    "doctype": b"<!DOCTYPE r [<!ELEMENT r ANY>]><r/>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>'
    ),
    "undeclared entity": b"<r>&nope;</r>",
    "not xml": b"hello",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_documents_are_refused(dev_pki: DevPKI, name: str) -> None:
    with pytest.raises(InvalidInput):
        verify_xml(HOSTILE[name], trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


def _with_transform(signed: bytes, algorithm: str, body: bytes = b"") -> bytes:
    marker = b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    assert marker in signed
    added = b'<ds:Transform Algorithm="' + algorithm.encode() + b'">' + body + b"</ds:Transform>"
    return signed.replace(marker, marker + added)


@pytest.mark.parametrize(
    "algorithm",
    ["http://www.w3.org/TR/1999/REC-xslt-19991116", "http://www.w3.org/2001/04/decrypt#", "urn:unknown"],
)
def test_xslt_and_unknown_transforms_are_refused(dev_pki: DevPKI, rsa: FileSigner, algorithm: str) -> None:
    signed = _with_transform(sign_xml(DOCUMENT, rsa), algorithm)
    with pytest.raises(InvalidInput, match="not allowed"):
        verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


@pytest.mark.parametrize(
    "algorithm", ["http://www.w3.org/TR/1999/REC-xpath-19991116", "http://www.w3.org/2002/06/xmldsig-filter2"]
)
def test_xpath_transforms_without_a_plain_expression_are_refused(
    dev_pki: DevPKI, rsa: FileSigner, algorithm: str
) -> None:
    signed = _with_transform(sign_xml(DOCUMENT, rsa), algorithm)  # no expression at all
    with pytest.raises(InvalidInput, match="XPath"):
        verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


def test_xpointer_references_are_refused(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa).replace(b'URI=""', b'URI="#xpointer(/)"')
    with pytest.raises(InvalidInput):
        verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


@pytest.mark.parametrize("uri", ["http://example.invalid/x.xml", "file:///etc/passwd"])
def test_references_outside_the_document_are_never_fetched(dev_pki: DevPKI, rsa: FileSigner, uri: str) -> None:
    signed = sign_xml(DOCUMENT, rsa).replace(b'URI=""', b'URI="' + uri.encode() + b'"')
    result = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    # The digest cannot be checked without the data: never TOTAL-PASSED, never a fetch or a file read.
    assert result.reports[0].indication.value in ("TOTAL-FAILED", "INDETERMINATE")
    assert _sub(result) in ("SIGNED_DATA_NOT_FOUND", "SIG_CRYPTO_FAILURE")


def test_sha1_digest_is_read_and_then_checked(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa).replace(
        b"http://www.w3.org/2001/04/xmlenc#sha256", b"http://www.w3.org/2000/09/xmldsig#sha1"
    )
    result = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, allow_weak=True)
    assert _sub(result) == "HASH_FAILURE"  # accepted as an algorithm, and then the digest is wrong


def test_document_without_signature_is_refused(dev_pki: DevPKI) -> None:
    with pytest.raises(InvalidInput, match="no XML signature"):
        verify_xml(DOCUMENT, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)


def test_revoked_signer_is_total_failed_when_fetching(tmp_path_factory: pytest.TempPathFactory) -> None:
    import socket

    from esign.pki import create_dev_pki
    from esign.pki.http import serve_pki

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pki = create_dev_pki(tmp_path_factory.mktemp("revoking-pki"), "pw", base_url=f"http://127.0.0.1:{port}")
    server, _ = serve_pki(pki, port)
    try:
        signed = sign_xml(DOCUMENT, pki.signer("person-p256"))
        good = verify_xml(signed, trust_anchors=pki.root_pem_path, allow_fetching=True).reports[0]
        assert good.passed and good.revocation is not None and good.revocation.source == "fetched"
        pki.revoke("person-p256")
        revoked = verify_xml(signed, trust_anchors=pki.root_pem_path, allow_fetching=True)
        # No time-stamp proves the signature older than the revocation: TOTAL-FAILED/REVOKED (EN 319 102-1)
        assert _sub(revoked) == "REVOKED" and revoked.indication.value == "TOTAL-FAILED"
    finally:
        server.shutdown()
        server.server_close()


def test_no_trust_anchors_means_the_default_store(
    dev_pki: DevPKI, rsa: FileSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like verify_pdf and the CLI: Vietnam's roots plus the operator's; the dev root is in neither until added."""
    from esign.trust import add_operator_anchor

    operator = tmp_path / "operator"
    monkeypatch.setenv("ESIGN_TRUST_DIR", str(operator))
    signed = sign_xml(DOCUMENT, rsa)
    untrusted = verify_xml(signed, allow_fetching=True).reports[0]
    assert untrusted.indication.value == "INDETERMINATE", untrusted.to_text()
    add_operator_anchor(dev_pki.root_pem_path, operator)
    assert verify_xml(signed, allow_fetching=True).passed
