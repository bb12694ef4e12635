"""Manifest references: a signed ds:Manifest vouches for its references, so they are checked when their
data is available, and the verdict is INDETERMINATE / SIGNED_DATA_NOT_FOUND when it is not."""

from __future__ import annotations

import base64
import hashlib

import pytest

from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml

EXTERNAL = b"%PDF-1.7 the contract the manifest names\n"
PAYLOAD = b'<data Id="d">pay 10 to ACME</data>'
# Inclusive C14N of the subtree, as C14N 1.0 defines it: the namespace in scope from <doc> is rendered.
PAYLOAD_C14N = b'<data xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="d">pay 10 to ACME</data>'


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _document(decoy: bool = False) -> bytes:
    sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    manifest = (
        '<ds:Manifest Id="m">'
        f'<ds:Reference URI="#d"><ds:DigestMethod Algorithm="{sha256}"/>'
        f"<ds:DigestValue>{_b64_sha256(PAYLOAD_C14N)}</ds:DigestValue></ds:Reference>"
        f'<ds:Reference URI="contract.pdf"><ds:DigestMethod Algorithm="{sha256}"/>'
        f"<ds:DigestValue>{_b64_sha256(EXTERNAL)}</ds:DigestValue></ds:Reference>"
        "</ds:Manifest>"
    )
    other = (
        '<ds:Manifest><ds:Reference URI="forged.pdf"><ds:DigestMethod Algorithm="{sha256}"/>'
        "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:Manifest>"
        if decoy
        else ""
    )
    return (
        f'<doc xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{PAYLOAD.decode()}<far><away>{manifest}</away></far>'
        f"{other}</doc>"
    ).encode()


@pytest.fixture(scope="module")
def signed(signers: dict[str, FileSigner]) -> bytes:
    return sign_xml(_document(), signers["org-rsa2048"], reference_id="m")


def test_manifest_references_are_checked_when_the_data_is_given(dev_pki: DevPKI, signed: bytes) -> None:
    result = verify_xml(
        signed, trust_anchors=dev_pki.root_pem_path, detached={"contract.pdf": EXTERNAL}, allow_fetching=True
    )
    assert result.passed, result.reports[0].to_text()
    assert [r.uri for r in result.reports[0].references] == ["#m", "#d", "contract.pdf"]
    assert any(s.data == EXTERNAL for s in result.signed)
    assert any(b"pay 10 to ACME" in s.data for s in result.signed)


def test_manifest_data_not_given_is_signed_data_not_found(dev_pki: DevPKI, signed: bytes) -> None:
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path).reports[0]
    assert report.indication.value == "INDETERMINATE"
    assert report.sub_indication is not None and report.sub_indication.value == "SIGNED_DATA_NOT_FOUND"
    assert "contract.pdf" in report.errors[0]


def test_intact_manifest_next_to_an_unsigned_decoy_is_never_total_passed(
    dev_pki: DevPKI, signers: dict[str, FileSigner]
) -> None:
    signed = sign_xml(_document(decoy=True), signers["org-rsa2048"], reference_id="m")
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.sub_indication is not None and report.sub_indication.value == "SIGNED_DATA_NOT_FOUND"


@pytest.mark.parametrize("change", ["inline", "detached"])
def test_content_named_by_the_manifest_changed_is_a_hash_failure(dev_pki: DevPKI, signed: bytes, change: str) -> None:
    document, external = signed, EXTERNAL
    if change == "inline":
        document = signed.replace(b"pay 10", b"pay 99")
    else:
        external = EXTERNAL.replace(b"contract", b"kontract")
    result = verify_xml(document, trust_anchors=dev_pki.root_pem_path, detached={"contract.pdf": external})
    report = result.reports[0]
    assert report.indication.value == "TOTAL-FAILED"
    assert report.sub_indication is not None and report.sub_indication.value == "HASH_FAILURE"
    assert result.signed == ()
