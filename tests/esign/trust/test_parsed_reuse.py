"""validate_path keeps this thread's parses of certificates and CRLs (esign.trust.path._reused): the
verdict still follows the bytes given in each call, and damaged data is never kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from esign.pki import DevPKI, make_crl
from esign.pki.revocation import Revocation
from esign.report import Indication, RevocationStatus, SubIndication
from esign.signers.file import load_certificates
from esign.trust import PathValidation, validate_path


def _question(pki: DevPKI, crls: list[bytes]) -> PathValidation:
    signer = pki.signer("person-rsa2048")
    anchors = load_certificates(pki.root_pem_path)
    return validate_path(signer.certificate, anchors=anchors, intermediates=signer.chain, crls=crls)


def test_the_same_question_twice_gets_the_same_answer(dev_pki: DevPKI) -> None:
    crls = [dev_pki.crl(), dev_pki.root_crl()]
    first, second = _question(dev_pki, crls), _question(dev_pki, crls)
    assert first.passed and second.passed
    assert first.path == second.path and first.revocation == second.revocation


def test_a_crl_listing_the_signer_after_a_clean_one_revokes(dev_pki: DevPKI) -> None:
    serial = dev_pki.certificate("person-rsa2048").serial_number
    revoked_at = datetime.now(UTC) - timedelta(hours=1)
    listing = make_crl(dev_pki.issuing_ca, [Revocation(serial, revoked_at)])
    assert _question(dev_pki, [dev_pki.crl(), dev_pki.root_crl()]).passed
    answer = _question(dev_pki, [listing, dev_pki.root_crl()])
    assert answer.indication is Indication.TOTAL_FAILED and answer.sub_indication is SubIndication.REVOKED
    assert answer.revocation is not None and answer.revocation.status is RevocationStatus.REVOKED
    assert not _question(dev_pki, []).passed  # and with no data at all, nothing left over passes


def test_damaged_crl_bytes_give_the_same_answer_every_time(dev_pki: DevPKI) -> None:
    crl = bytearray(dev_pki.crl())
    crl[len(crl) // 2] ^= 0xFF  # inside the signed list or the signature: never a pass
    answers = []
    for _ in range(3):
        try:
            answers.append(_question(dev_pki, [bytes(crl), dev_pki.root_crl()]).indication)
        except Exception as exc:  # an InvalidInput each time is the same answer too
            answers.append(type(exc))
    assert len(set(answers)) == 1 and answers[0] is not Indication.TOTAL_PASSED
