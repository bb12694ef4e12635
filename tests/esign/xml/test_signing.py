"""Signing: every profile and key type verifies, staged signing matches one-call signing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from lxml import etree

from esign.errors import InvalidInput
from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import XmlSigningState, finish, prepare, sign_xml, signature_algorithm_of, verify_xml
from esign.xml.constants import DS_NS
from tests.esign.xml.conftest import DOCUMENT, INVOICE

DS = f"{{{DS_NS}}}"

PROFILES = [
    ("xmldsig-enveloped", {}),
    ("xmldsig-enveloped", {"c14n": "inclusive", "digest": "sha512"}),
    ("xmldsig-enveloped", {"reference_id": "item-1", "signature_parent": "item-1"}),
    ("xmldsig-enveloped", {"reference_id": "item-2", "c14n": "inclusive", "digest": "sha384"}),
    ("xmldsig-enveloping", {}),
    ("xades-b-b", {}),
]


@pytest.mark.parametrize("key", ["person-rsa2048", "person-p256", "org-rsa2048"])
@pytest.mark.parametrize(("profile", "options"), PROFILES)
def test_every_profile_and_key_verifies_total_passed(
    dev_pki: DevPKI, signers: dict[str, FileSigner], key: str, profile: str, options: dict[str, str]
) -> None:
    signed = sign_xml(DOCUMENT, signers[key], profile=profile, **options)
    result = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.passed, result.reports[0].to_text()
    assert result.reports[0].level == ("B-B" if profile.startswith("xades") else None)


def test_rsa_pss_signature_uses_the_rfc6931_identifier_and_verifies(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa, scheme="rsa-pss")
    assert b"http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" in signed
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_ecdsa_signature_value_is_raw_r_and_s_not_der(ecdsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, ecdsa)
    value = base64.b64decode(etree.fromstring(signed).findtext(f".//{DS}SignatureValue") or "")
    assert len(value) == 64


def test_enveloped_signature_goes_under_the_chosen_parent(rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa, reference_id="item-2", signature_parent=lambda root: root[0])
    root = etree.fromstring(signed)
    assert root[0].find(f"{DS}Signature") is not None
    reference = root.find(f".//{DS}Reference")
    assert reference is not None and reference.get("URI") == "#item-2"


def test_detached_signature_covers_the_external_bytes(dev_pki: DevPKI, rsa: FileSigner) -> None:
    payload = b"%PDF-1.7 any bytes at all\x00\x01"
    signed = sign_xml(payload, rsa, profile="xmldsig-detached", reference_id="contract.pdf")
    result = verify_xml(
        signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, detached={"contract.pdf": payload}
    )
    assert result.passed
    assert result.signed[0].data == payload
    tampered = verify_xml(
        signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, detached={"contract.pdf": payload + b"!"}
    )
    assert tampered.reports[0].sub_indication.value == "HASH_FAILURE"  # type: ignore[union-attr]


def test_staged_signing_sends_only_the_signedinfo_digest(dev_pki: DevPKI, rsa: FileSigner) -> None:
    digest, state = prepare(INVOICE, rsa.certificate, chain=rsa.chain, profile="einvoice")
    assert len(digest) == 32
    wire = XmlSigningState.from_json(state.to_json())
    value = rsa.sign_digest_sync(digest, signature_algorithm_of(wire))
    signed = finish(wire, value)
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_staged_signing_without_embedding_the_document(dev_pki: DevPKI, ecdsa: FileSigner) -> None:
    digest, state = prepare(DOCUMENT, ecdsa, profile="xades-b-b", embed_document=False)
    assert state.document is None
    assert len(state.to_json()) < 16_000  # the Signature with three certificates, not the document
    value = ecdsa.sign_digest_sync(digest, signature_algorithm_of(state))
    with pytest.raises(InvalidInput, match="pass the original document"):
        finish(state, value)
    with pytest.raises(InvalidInput, match="not the one that was prepared"):
        finish(state, value, document=DOCUMENT + b" ")
    signed = finish(state, value, document=DOCUMENT)
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_finish_with_a_signature_over_something_else_fails_verification(dev_pki: DevPKI, rsa: FileSigner) -> None:
    _, state = prepare(DOCUMENT, rsa)
    wrong = rsa.sign_digest_sync(bytes(32), signature_algorithm_of(state))
    result = verify_xml(finish(state, wrong), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.reports[0].sub_indication.value == "SIG_CRYPTO_FAILURE"  # type: ignore[union-attr]


def test_einvoice_has_the_qd1450_shape(rsa: FileSigner) -> None:
    when = datetime(2026, 11, 23, 3, 4, 5, tzinfo=UTC)
    root = etree.fromstring(sign_xml(INVOICE, rsa, profile="einvoice", signing_time=when))
    signature = root.find(f"DSCKS/NBan/{DS}Signature")
    assert signature is not None
    assert signature.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod").get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    assert signature.find(f"{DS}SignedInfo/{DS}SignatureMethod").get("Algorithm").endswith("rsa-sha256")  # type: ignore[union-attr]
    uris = [r.get("URI") for r in signature.iterfind(f"{DS}SignedInfo/{DS}Reference")]
    object_id = signature.find(f"{DS}Object").get("Id")  # type: ignore[union-attr]
    assert uris == ["#data", f"#{object_id}"]
    assert signature.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509SubjectName", "").startswith("UID=CCCD:")
    assert signature.findtext(f"{DS}Object/SignatureProperties/SignatureProperty/SigningTime") == "2026-11-23T10:04:05"


def test_buyer_signs_after_seller_and_both_verify(dev_pki: DevPKI, signers: dict[str, FileSigner]) -> None:
    seller = sign_xml(INVOICE, signers["org-rsa2048"], profile="einvoice")
    both = sign_xml(seller, signers["person-p256"], profile="einvoice", signature_parent="NMua")
    result = verify_xml(both, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert [r.signature_id for r in result.reports] == ["NBan-data", "NMua-data"]
    assert result.passed
    assert all(r.claimed_signing_time is not None for r in result.reports)
    with pytest.raises(InvalidInput, match="already holds a signature"):
        sign_xml(both, signers["person-p256"], profile="einvoice", signature_parent="NMua")


def test_einvoice_without_data_id_gets_one(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(INVOICE.replace(b' Id="data"', b""), rsa, profile="einvoice")
    assert etree.fromstring(signed).find("DLHDon").get("Id") == "data"  # type: ignore[union-attr]
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_xades_b_t_carries_a_trusted_signature_timestamp(dev_pki: DevPKI, ecdsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, ecdsa, profile="xades-b-t", tsa_url=dev_pki.tsa_url)
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.passed and report.level == "B-T"
    assert report.timestamps[0].valid and report.timestamps[0].trusted


def test_xades_b_lt_embeds_chain_and_ocsp_and_needs_no_network(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOCUMENT, rsa, profile="xades-b-lt", tsa_url=dev_pki.tsa_url)
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path).reports[0]
    assert report.passed and report.level == "B-LT"
    assert report.revocation is not None and report.revocation.status.value == "good"
    assert report.revocation.source == "embedded"


def test_b_t_without_a_tsa_is_refused(rsa: FileSigner) -> None:
    with pytest.raises(InvalidInput, match="time-stamping authority"):
        sign_xml(DOCUMENT, rsa, profile="xades-b-t")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "pades"}, "unknown XML signature profile"),
        ({"digest": "sha1"}, "insecure"),
        ({"c14n": "c14n11"}, "c14n must be"),
        ({"reference_id": "missing"}, "no element has the ID"),
        ({"signature_parent": "nowhere"}, "names no single element"),
        ({"scheme": "ecdsa"}, "cannot sign with"),
    ],
)
def test_bad_signing_options_are_refused(rsa: FileSigner, options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sign_xml(DOCUMENT, rsa, **options)  # type: ignore[arg-type]
