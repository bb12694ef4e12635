"""Weak algorithms judged by the time the signature is proven (time-stamp) or claimed to exist, not refused
outright; signing refuses them unless asked for by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from esign.errors import WeakAlgorithm
from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
from tests.esign.xml.conftest import INVOICE

OLD = datetime(2023, 5, 10, 2, 15, tzinfo=UTC)


@pytest.fixture
def weak(dev_pki: DevPKI) -> FileSigner:
    """A signer that was asked, by name, to make SHA-1 signatures."""
    signer = FileSigner.from_pkcs12(dev_pki.p12_path("org-rsa2048"), dev_pki.password)
    signer.allow_weak = True
    return signer


def test_signing_refuses_sha1_unless_asked_for_by_name(rsa: FileSigner, weak: FileSigner) -> None:
    with pytest.raises(WeakAlgorithm):
        sign_xml(INVOICE, rsa, profile="einvoice", digest="sha1")
    with pytest.raises(WeakAlgorithm):
        sign_xml(INVOICE, weak, profile="einvoice", digest="sha1")
    assert b"xmldsig#rsa-sha1" in sign_xml(INVOICE, weak, profile="einvoice", digest="sha1", allow_weak=True)


def test_a_claimed_2023_sha1_signature_verifies_with_a_warning(dev_pki: DevPKI, weak: FileSigner) -> None:
    signed = sign_xml(INVOICE, weak, profile="einvoice", digest="sha1", allow_weak=True, signing_time=OLD)
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.passed, report.to_text()
    assert any("legacy algorithm sha1" in w and "claimed" in w for w in report.warnings)


def test_a_new_sha1_signature_is_crypto_constraints_failure(dev_pki: DevPKI, weak: FileSigner) -> None:
    signed = sign_xml(INVOICE, weak, profile="einvoice", digest="sha1", allow_weak=True)
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.indication.value == "INDETERMINATE"
    assert report.sub_indication is not None and report.sub_indication.value == "CRYPTO_CONSTRAINTS_FAILURE"
    accepted = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, allow_weak=True)
    assert accepted.passed and any("allow_weak" in w for w in accepted.reports[0].warnings)


def test_a_time_stamp_outweighs_an_old_claimed_time(dev_pki: DevPKI, weak: FileSigner) -> None:
    # Claims 2023, but the signature time-stamp proves it exists only now: judged now.
    signed = sign_xml(
        b"<doc><a>1</a></doc>", weak, profile="xades-b-t", digest="sha1", allow_weak=True, signing_time=OLD,
        tsa_url=dev_pki.tsa_url,
    )  # fmt: skip
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.sub_indication is not None and report.sub_indication.value == "CRYPTO_CONSTRAINTS_FAILURE"
    assert "time-stamp" in report.errors[0]
