"""validate_path answers a repeated question from esign.trust.path.path_cache, and the cache cannot be fooled:
a new CRL or OCSP answer, other anchors, or a validation time across any date that can change the answer
(a revocation date, a CRL's nextUpdate, a certificate's expiry) is a new question, answered afresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from esign.pki.ca import CertificateAuthority
from esign.pki.keys import generate_key
from esign.pki.revocation import Revocation, make_crl
from esign.report import Indication, RevocationStatus, SubIndication
from esign.trust import PathValidation, validate_path
from esign.trust.path import path_cache
from tests.esign.trust.conftest import SmallPKI, name, revoked


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    path_cache.clear()
    yield
    path_cache.clear()


def _ask(pki: SmallPKI, **kwargs: Any) -> PathValidation:
    kwargs.setdefault("anchors", [pki.root.certificate])
    return validate_path(pki.signer, intermediates=[pki.ca.certificate], **kwargs)


def _fresh(pki: SmallPKI, **kwargs: Any) -> PathValidation:
    """The answer without the cache (what certvalidator says)."""
    path_cache.clear()
    return _ask(pki, **kwargs)


def _same(a: PathValidation, b: PathValidation) -> bool:
    return (a.indication, a.sub_indication, a.path, a.revocation, a.at) == (
        b.indication,
        b.sub_indication,
        b.path,
        b.revocation,
        b.at,
    )


def _crls(pki: SmallPKI, revocations: list[Revocation] = ()) -> list[bytes]:  # type: ignore[assignment]
    """The issuing CA's CRL (listing ``revocations``) and the root's, issued a minute ago."""
    issued = datetime.now(UTC) - timedelta(minutes=1)
    return [make_crl(pki.ca, list(revocations), this_update=issued), make_crl(pki.root, [], this_update=issued)]


def _start(pki: SmallPKI) -> datetime:
    """When every certificate of the small PKI is valid (they are back-dated 5 minutes)."""
    return max(c.not_valid_before_utc for c in (pki.signer, pki.ca.certificate, pki.root.certificate))


def test_the_same_question_again_is_answered_from_the_cache_at_its_own_time(pki: SmallPKI) -> None:
    crls = _crls(pki)
    now = datetime.now(UTC)
    first = _ask(pki, crls=crls, at=now)
    second = _ask(pki, crls=crls, at=now + timedelta(seconds=30))
    assert first.passed and second.passed
    assert (path_cache.misses, path_cache.hits) == (1, 1)
    assert second.at == now + timedelta(seconds=30) and second.path == first.path
    assert second.revocation == first.revocation and second.revocation is not None
    assert second.revocation.status is RevocationStatus.GOOD


def test_a_crl_revoking_the_signer_after_a_cached_good_answer_revokes(pki: SmallPKI) -> None:
    clean = _crls(pki)
    assert _ask(pki, crls=clean).passed and _ask(pki, crls=clean).passed
    assert path_cache.hits == 1
    answer = _ask(pki, crls=_crls(pki, [revoked(pki.signer)]))
    assert (answer.indication, answer.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert answer.revocation is not None and answer.revocation.status is RevocationStatus.REVOKED


def test_an_ocsp_answer_revoking_the_signer_after_a_cached_good_one_revokes(pki: SmallPKI) -> None:
    root_crl = _crls(pki)[1]
    good = pki.ocsp(pki.signer)  # produced now: asked a little later, past the margin around its own dates
    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert _ask(pki, ocsps=[good], crls=[root_crl], at=soon).passed
    assert _ask(pki, ocsps=[good], crls=[root_crl], at=soon).passed
    assert path_cache.hits == 1
    answer = _ask(pki, ocsps=[pki.ocsp(pki.signer, revoked(pki.signer))], crls=[root_crl], at=soon)
    assert (answer.indication, answer.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)


def test_the_same_crl_at_a_time_past_its_revocation_date_revokes(pki: SmallPKI) -> None:
    # One CRL that lists the signer as revoked from a date between the two validation times.
    start = _start(pki)
    issued, revoked_at = start + timedelta(minutes=1), start + timedelta(minutes=3)
    crls = [
        make_crl(pki.ca, [Revocation(pki.signer.serial_number, revoked_at)], this_update=issued),
        make_crl(pki.root, [], this_update=issued),
    ]
    before, after = start + timedelta(minutes=2), start + timedelta(minutes=4)
    assert after < datetime.now(UTC)
    first = _ask(pki, crls=crls, at=before)
    assert _same(first, _fresh(pki, crls=crls, at=before))
    _ask(pki, crls=crls, at=before)  # kept
    hits = path_cache.hits
    later = _ask(pki, crls=crls, at=after)
    assert path_cache.hits == hits  # the revocation date lies between: not answered from the cache
    assert (later.indication, later.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert _same(later, _fresh(pki, crls=crls, at=after))


def test_a_time_past_the_crls_next_update_is_not_answered_from_the_cache(pki: SmallPKI) -> None:
    start = _start(pki)
    issued = start + timedelta(minutes=1)
    crls = [
        make_crl(pki.ca, [], this_update=issued, next_update=timedelta(minutes=2)),
        make_crl(pki.root, [], this_update=issued, next_update=timedelta(minutes=2)),
    ]
    assert _ask(pki, crls=crls, at=start + timedelta(minutes=2)).passed
    assert _ask(pki, crls=crls, at=start + timedelta(minutes=2, seconds=10)).passed
    assert path_cache.hits == 1
    stale = _ask(pki, crls=crls, at=start + timedelta(minutes=4))
    assert (stale.indication, stale.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert _same(stale, _fresh(pki, crls=crls, at=start + timedelta(minutes=4)))


def test_a_time_past_the_certificates_expiry_is_not_answered_from_the_cache(pki: SmallPKI) -> None:
    key = generate_key("p256")
    short = pki.ca.issue_signer(name("Lê Văn Ngắn"), key.public_key(), days=1)
    crls = _crls(pki)
    now = datetime.now(UTC)
    ask = lambda at: validate_path(  # noqa: E731
        short, anchors=[pki.root.certificate], intermediates=[pki.ca.certificate], crls=crls, at=at, revocation="none"
    )
    assert ask(now).passed and ask(now + timedelta(seconds=5)).passed
    assert path_cache.hits == 1
    expired = ask(short.not_valid_after_utc + timedelta(minutes=1))
    assert not expired.passed and expired.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_other_anchors_are_another_question(pki: SmallPKI) -> None:
    crls = _crls(pki)
    assert _ask(pki, crls=crls).passed
    stranger = CertificateAuthority.create_root(name("Other Root"), generate_key("p256")).certificate
    answer = _ask(pki, crls=crls, anchors=[stranger])
    assert answer.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_answers_expire_after_the_cache_lifetime(pki: SmallPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    crls = _crls(pki)
    monkeypatch.setattr(path_cache, "seconds", 0.0)
    assert _ask(pki, crls=crls).passed and _ask(pki, crls=crls).passed
    assert path_cache.hits == 0


def test_fetching_is_never_answered_from_the_cache(pki: SmallPKI) -> None:
    crls = _crls(pki)
    for _ in range(2):
        _ask(pki, crls=crls, allow_fetching=True, revocation="soft-fail")
    assert path_cache.hits == 0


def test_revocation_dates_never_let_a_revoked_answer_turn_good(pki: SmallPKI) -> None:
    # Revoked two minutes ago: at every time after, from the cache or not, the answer is REVOKED.
    crls = _crls(pki, [revoked(pki.signer, timedelta(minutes=2))])
    now = datetime.now(UTC)
    for seconds in (0, 5, 10):
        answer = _ask(pki, crls=crls, at=now + timedelta(seconds=seconds))
        assert answer.sub_indication is SubIndication.REVOKED
    assert path_cache.hits == 2


def test_a_certificate_read_again_is_the_same_object_and_a_damaged_one_is_refused_each_time(pki: SmallPKI) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from esign.errors import InvalidInput
    from esign.trust import load_certificate

    der = pki.signer.public_bytes(Encoding.DER)
    assert load_certificate(der, "the signer") is load_certificate(bytearray(der), "the signer")
    damaged = bytearray(der)
    damaged[damaged.index(bytes.fromhex("0603550406")) + 2] = 0x80  # an OID arc may not start with 0x80
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"not a readable X\.509 certificate"):
            load_certificate(bytes(damaged), "the signer")
