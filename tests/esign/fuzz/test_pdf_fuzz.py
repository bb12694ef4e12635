"""Fuzzing PDF verification with mutations of valid signed PDFs, on a fixed budget for CI.

Whatever the damage (byte flips, truncation, insertions, xref and trailer damage, /ByteRange and
/Contents edits, nesting bombs, huge numbers, lying stream lengths, shadow updates), verify_pdf
returns reports or raises an EsignError, within a time limit; a change under the signature never
passes. Runs are derandomized (same cases every run); the long run is bench/fuzz_pdf.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from esign.pdf import verify_pdf
from esign.report import ValidationReport
from tests.esign.fuzz.harness import DrawnChoices, check
from tests.esign.fuzz.mutations import PDF_MUTATORS, Mutator, pdf_flip_signed_byte

# Measured: ~25-50 ms per verification (more for B-T), most hostile inputs are refused in a few ms.
TIMEOUT = 30.0
CI = settings(
    max_examples=200,
    deadline=timedelta(seconds=15),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs every broken file it reads at WARNING with a traceback; hundreds of them are noise."""
    logger = logging.getLogger("pyhanko")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def _verifier(root: bytes, crls: list[bytes]):  # type: ignore[no-untyped-def]
    def verify(data: bytes) -> list[ValidationReport]:
        return verify_pdf(data, trust_anchors=root, crls=crls)

    return verify


def test_seeds_pass_untouched(pdf_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes]) -> None:
    for name, data in pdf_seeds.items():
        # revocation is decided ("require"): the dev PKI's responders answer for the seeds' signers
        reports = verify_pdf(data, trust_anchors=trust_root, allow_fetching=True)
        assert reports and all(r.passed for r in reports), name
        # the fuzzing verifier (CRLs supplied, no fetching) passes them too: a tampered pass would show
        reports = _verifier(trust_root, revocation_crls)(data)
        assert reports and all(r.passed for r in reports), name


@CI
@given(data=st.data())
def test_mutated_pdf_gives_reports_or_an_esign_error_in_time(
    pdf_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(sorted(pdf_seeds)), label="seed")
    mutator: Mutator = data.draw(st.sampled_from(PDF_MUTATORS), label="mutator")
    mutant = mutator(pdf_seeds[seed], DrawnChoices(data))
    note(f"{seed}: {mutant.what}")
    outcome = check(
        _verifier(trust_root, revocation_crls), mutant.data, signed_changed=mutant.signed_changed, timeout=TIMEOUT
    )
    event(f"{mutator.__name__}: {outcome.kind}")


@settings(CI, max_examples=60)
@given(data=st.data())
def test_byte_changed_under_the_signature_never_passes(
    pdf_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(sorted(pdf_seeds)), label="seed")
    mutant = pdf_flip_signed_byte(pdf_seeds[seed], DrawnChoices(data))
    assert mutant.signed_changed
    note(f"{seed}: {mutant.what}")
    outcome = check(_verifier(trust_root, revocation_crls), mutant.data, signed_changed=True, timeout=TIMEOUT)
    assert not outcome.passed
