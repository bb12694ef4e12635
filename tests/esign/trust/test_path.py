"""esign.trust.validate_path on a PKI the tests build: revocation is decided, never assumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from esign.errors import InvalidInput
from esign.report import Indication, RevocationStatus, SubIndication
from esign.trust import validate_path

from .conftest import SmallPKI, revoked


def test_good_path_with_crls_passes_and_names_the_deciding_crl(pki: SmallPKI) -> None:
    result = validate_path(
        pki.bare_signer,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        crls=[pki.root_crl(), pki.ca_crl()],
        revinfo_source="embedded",
    )
    assert result.indication is Indication.TOTAL_PASSED, result.message
    assert result.passed
    assert result.path == (pki.bare_signer, pki.ca.certificate, pki.root.certificate)
    assert result.anchor == pki.root.certificate
    assert result.revocation is not None
    assert result.revocation.status is RevocationStatus.GOOD
    assert (result.revocation.kind, result.revocation.source) == ("crl", "embedded")
    assert result.revocation.this_update is not None and result.revocation.next_update is not None
    assert "Test Issuing CA" in (result.revocation.issuer or "")


def test_signer_revoked_in_a_crl_fails_even_without_a_distribution_point(pki: SmallPKI) -> None:
    # Issue 18, attack 2: the certificate names no CRL DP and no OCSP; a CRL listing it must still count.
    result = validate_path(
        pki.bare_signer,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        crls=[pki.root_crl(), pki.ca_crl([revoked(pki.bare_signer)])],
    )
    assert (result.indication, result.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert result.revocation is not None and result.revocation.status is RevocationStatus.REVOKED
    assert result.revocation.kind == "crl" and result.revocation.revoked_at is not None


def test_no_revocation_data_is_indeterminate_try_later_never_good(pki: SmallPKI) -> None:
    result = validate_path(
        pki.bare_signer, anchors=[pki.root.certificate], intermediates=[pki.ca.certificate], crls=[pki.root_crl()]
    )
    assert (result.indication, result.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert not result.passed


def test_ocsp_good_is_reported_with_its_times(pki: SmallPKI) -> None:
    result = validate_path(
        pki.signer,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        crls=[pki.root_crl()],
        ocsps=[pki.ocsp(pki.signer)],
    )
    assert result.passed, result.message
    assert result.revocation is not None
    assert (result.revocation.kind, result.revocation.status) == ("ocsp", RevocationStatus.GOOD)
    assert result.revocation.this_update is not None and result.revocation.source == "supplied"


def test_ocsp_revoked_fails(pki: SmallPKI) -> None:
    result = validate_path(
        pki.signer,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        crls=[pki.root_crl()],
        ocsps=[pki.ocsp(pki.signer, revoked(pki.signer))],
    )
    assert (result.indication, result.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert result.revocation is not None and result.revocation.kind == "ocsp"


def test_revoked_after_the_validation_time_passes_at_that_time(pki: SmallPKI) -> None:
    crl = pki.ca_crl([revoked(pki.bare_signer, ago=timedelta(seconds=5))])
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    result = validate_path(
        pki.bare_signer,
        at=earlier,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        crls=[pki.root_crl(), crl],
    )
    # The CRL was issued after `earlier`; certvalidator's default freshness accepts only CRLs current then.
    assert result.indication is not Indication.TOTAL_FAILED


def test_unknown_root_has_no_chain(pki: SmallPKI) -> None:
    result = validate_path(
        pki.bare_signer, anchors=None, intermediates=[pki.ca.certificate], crls=[pki.root_crl(), pki.ca_crl()]
    )
    assert (result.indication, result.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )


def test_expired_signer_is_out_of_bounds(pki: SmallPKI) -> None:
    later = pki.bare_signer.not_valid_after_utc + timedelta(days=1)
    result = validate_path(
        pki.bare_signer, at=later, anchors=[pki.root.certificate], intermediates=[pki.ca.certificate], revocation="none"
    )
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_not_yet_valid(pki: SmallPKI) -> None:
    before = pki.bare_signer.not_valid_before_utc - timedelta(days=1)
    result = validate_path(
        pki.bare_signer,
        at=before,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        revocation="none",
    )
    assert (result.indication, result.sub_indication) == (Indication.INDETERMINATE, SubIndication.NOT_YET_VALID)


def test_a_ca_certificate_is_refused_for_signing_usage(pki: SmallPKI) -> None:
    # The issuing CA's key usage allows digitalSignature; the TSA's EKU-only certificate then is the odd one out.
    tsa_cert = pki.tsa.certificate
    good = validate_path(
        tsa_cert,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        revocation="none",
        usage="timestamping",
    )
    assert good.passed
    signer_as_tsa = validate_path(
        pki.bare_signer,
        anchors=[pki.root.certificate],
        intermediates=[pki.ca.certificate],
        revocation="none",
        usage="timestamping",
    )
    assert signer_as_tsa.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE


def test_an_anchor_validates_by_itself(pki: SmallPKI) -> None:
    result = validate_path(pki.root.certificate, anchors=[pki.root.certificate])
    assert result.passed and result.path == (pki.root.certificate,) and result.revocation is None


def test_bad_inputs_are_refused(pki: SmallPKI) -> None:
    with pytest.raises(InvalidInput):
        validate_path(pki.signer, anchors=[pki.root.certificate], revocation="maybe")
    with pytest.raises(InvalidInput):
        validate_path(pki.signer, anchors=[pki.root.certificate], usage="everything")
    with pytest.raises(InvalidInput):
        validate_path(pki.signer, anchors=[pki.root.certificate], crls=[b"not a crl"])


async def test_the_sync_api_works_inside_an_event_loop(pki: SmallPKI) -> None:
    result = validate_path(pki.root.certificate, anchors=[pki.root.certificate])
    assert result.passed


def test_a_forged_ca_named_like_a_bundled_one_is_not_trusted() -> None:
    # Attack: copy the subject of the bundled VNPT-CA intermediate (and of the national root) into
    # certificates of one's own key; the bundled store must not accept what they issue.
    from esign.pki.ca import CertificateAuthority
    from esign.pki.keys import generate_key
    from esign.trust import default_store

    store = default_store()
    vnpt = next(c for c in store.intermediates if "VNPT-CA" in c.subject.rfc4514_string())
    national = next(a.certificate for a in store.anchors if a.name == "Vietnam National Root CA")
    fake_root = CertificateAuthority.create_root(national.subject, generate_key("p256"))
    fake_key = generate_key("p256")
    fake_vnpt = CertificateAuthority(fake_root.issue_ca(vnpt.subject, fake_key.public_key()), fake_key)
    leaf = fake_vnpt.issue_signer(vnpt.subject, generate_key("p256").public_key())
    for intermediates in ([fake_vnpt.certificate], [fake_vnpt.certificate, fake_root.certificate], []):
        result = validate_path(leaf, intermediates=intermediates, revocation="none")
        assert not result.passed
        assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND, result.message


def test_garbage_in_place_of_a_certificate_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        validate_path(b"\x30\x03\x02\x01\x00", revocation="none")
