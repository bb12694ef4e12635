"""Long-term XML signatures through esign.trust: the status embedded at signing time still decides later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from esign.pki import DevPKI
from esign.report import RevocationStatus, SubIndication
from esign.xml import sign_xml, verify_xml

DOCUMENT = '<doc><item Id="item-1">Hợp đồng số 7</item></doc>'.encode()


def test_b_lt_validates_offline_after_its_ocsp_answer_expired(dev_pki: DevPKI) -> None:
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-p256"), profile="xades-b-lt", tsa_url=dev_pki.tsa_url)
    later = datetime.now(UTC) + timedelta(days=3)  # the embedded OCSP answer is good for 12 hours
    [report] = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, validation_time=later).reports
    assert report.passed, report.errors
    assert report.revocation is not None and report.revocation.status is RevocationStatus.GOOD
    assert report.revocation.source == "embedded"
    assert any("time-stamp's time" in w for w in report.warnings)


def test_without_a_time_stamp_stale_status_is_try_later(dev_pki: DevPKI) -> None:
    signed = sign_xml(DOCUMENT, dev_pki.signer("person-p256"), profile="xades-b-b")
    later = datetime.now(UTC) + timedelta(days=3)
    [report] = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, validation_time=later).reports
    assert report.sub_indication is SubIndication.TRY_LATER
