"""`esign.verify_pdf` applies the Vietnamese validation policy by default, as the CLI and /api/verify do.

The attack: a signature pyHanko and the path check accept, made with a key the policy refuses (ECDSA on
P-192, below the 256 bits asked for signatures made from 2021): a library caller must not be told
TOTAL-PASSED where `esign pdf verify` says INDETERMINATE.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from esign.pdf import sign_pdf, verify_pdf
from esign.pki import DevPKI
from esign.pki.ca import CertificateAuthority
from esign.pki.names import build_name
from esign.pki.revocation import make_crl
from esign.report import Indication, SubIndication
from esign.signers import FileSigner
from esign.trust import POLICY_NAME


@pytest.fixture(scope="module")
def weak_key_pdf(dev_pki: DevPKI, one_page_pdf: bytes) -> tuple[bytes, list[bytes]]:
    """A PDF signed with a P-192 key certified by the dev issuing CA, and CRLs for its whole chain."""
    issuing = dev_pki.issuing_ca
    ca = CertificateAuthority(issuing.certificate, issuing.private_key, issuing.chain)  # names no CRL/OCSP URL
    key = ec.generate_private_key(ec.SECP192R1())
    cert = ca.issue_signer(build_name([["C", "VN"], ["CN", "Trần Văn Yếu"]]), key.public_key())
    signer = FileSigner(key, cert, [issuing.certificate, dev_pki.root_cert], allow_weak_keys=True)
    signed = sign_pdf(one_page_pdf, None, signer)
    crls = [make_crl(ca, []), (dev_pki.directory / "root-crl.der").read_bytes()]
    return signed, crls


def test_a_signature_the_policy_refuses_is_not_total_passed_by_default(
    dev_pki: DevPKI, weak_key_pdf: tuple[bytes, list[bytes]]
) -> None:
    signed, crls = weak_key_pdf
    [without] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, crls=crls, policy=False)
    assert without.indication is Indication.TOTAL_PASSED, without.to_text()  # what pyHanko and the path say
    assert without.policy is None
    [report] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, crls=crls)
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    )
    assert report.policy is not None and report.policy.name == POLICY_NAME
    assert any("algorithms" in e for e in report.errors)


def test_a_good_signature_passes_and_carries_the_policy(dev_pki: DevPKI, one_page_pdf: bytes) -> None:
    signed = sign_pdf(one_page_pdf, None, dev_pki.signer("person-rsa2048"))
    [report] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.passed, report.to_text()
    assert report.policy is not None and report.policy.name == POLICY_NAME
    assert all(rule.outcome == "passed" for rule in report.policy.rules), report.policy
