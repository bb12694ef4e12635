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
    accepted = verify_xml(
        signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, allow_weak=True, policy=False
    )
    assert accepted.passed and any("allow_weak" in w for w in accepted.reports[0].warnings)
    # The policy VN-TT15-2025 (applied by default, as by verify_pdf and `esign xml verify`) still refuses it
    judged = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, allow_weak=True)
    assert judged.reports[0].policy is not None and judged.reports[0].policy.name == "VN-TT15-2025"
    assert judged.reports[0].sub_indication is not None
    assert judged.reports[0].sub_indication.value == "CRYPTO_CONSTRAINTS_FAILURE"


def test_a_time_stamp_outweighs_an_old_claimed_time(dev_pki: DevPKI, weak: FileSigner) -> None:
    # Claims 2023, but the signature time-stamp proves it exists only now: judged now.
    signed = sign_xml(
        b"<doc><a>1</a></doc>", weak, profile="xades-b-t", digest="sha1", allow_weak=True, signing_time=OLD,
        tsa_url=dev_pki.tsa_url,
    )  # fmt: skip
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.sub_indication is not None and report.sub_indication.value == "CRYPTO_CONSTRAINTS_FAILURE"
    assert "time-stamp" in report.errors[0]


def test_verify_xml_applies_the_policy_by_default_as_verify_pdf_does(dev_pki: DevPKI) -> None:
    # A P-192 key passes the signature and path checks; the policy (256 bits from 2021) refuses it.
    from cryptography.hazmat.primitives.asymmetric import ec

    from esign.pki.ca import CertificateAuthority
    from esign.pki.names import build_name
    from esign.pki.revocation import make_crl
    from esign.report import Indication, SubIndication
    from esign.trust import POLICY_NAME

    issuing = dev_pki.issuing_ca
    ca = CertificateAuthority(issuing.certificate, issuing.private_key, issuing.chain)
    key = ec.generate_private_key(ec.SECP192R1())
    cert = ca.issue_signer(build_name([["C", "VN"], ["CN", "Trần Văn Yếu"]]), key.public_key())
    signer = FileSigner(key, cert, [issuing.certificate, dev_pki.root_cert], allow_weak_keys=True)
    signed = sign_xml(INVOICE, signer, profile="einvoice")
    crls = [make_crl(ca, []), (dev_pki.directory / "root-crl.der").read_bytes()]
    without = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, crls=crls, policy=False).reports[0]
    assert without.indication is Indication.TOTAL_PASSED, without.to_text()
    assert without.policy is None
    report = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, crls=crls).reports[0]
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    )
    assert report.policy is not None and report.policy.name == POLICY_NAME
    good = verify_xml(sign_xml(INVOICE, dev_pki.signer("person-rsa2048")), trust_anchors=dev_pki.root_pem_path,
                      crls=[dev_pki.crl(), dev_pki.root_crl()]).reports[0]  # fmt: skip
    assert good.passed and good.policy is not None and good.policy.name == POLICY_NAME
