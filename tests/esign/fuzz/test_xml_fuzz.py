"""Fuzzing XML verification with mutations of valid signed documents, on a fixed budget for CI.

Whatever the damage (byte flips, truncation, insertions, elements moved or duplicated around the
signed one (wrapping), attribute edits, namespace games, DOCTYPE and entity injection, giant
base64, deep nesting, invalid UTF-8 and lying encodings), verify_xml returns its result or raises
an EsignError, within a time limit; a changed signed text never passes, and the signed content
handed back never holds the change. Derandomized; the long run is bench/fuzz_xml.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from esign.report import ValidationReport
from esign.xml import verify_xml
from tests.esign.fuzz.harness import DrawnChoices, check, run_bounded
from tests.esign.fuzz.mutations import XML_MUTATORS, Mutator, xml_change_signed_text, xml_wrap

# Measured: ~1-3 ms per verification of the seeds; giant base64 (3 MB) cases take ~0.1 s.
TIMEOUT = 20.0
CI = settings(
    max_examples=700,
    deadline=timedelta(seconds=10),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
pytestmark = pytest.mark.timeout(240)


def _verifier(root: bytes, crls: list[bytes]):  # type: ignore[no-untyped-def]
    def verify(data: bytes) -> list[ValidationReport]:
        return list(verify_xml(data, trust_anchors=root, crls=crls).reports)

    return verify


def test_seeds_pass_untouched(xml_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes]) -> None:
    verify = _verifier(trust_root, revocation_crls)
    for name, data in xml_seeds.items():
        assert verify_xml(data, trust_anchors=trust_root, allow_fetching=True).passed, name
        # the fuzzing verifier (CRLs supplied, no fetching) passes them too: a tampered pass would show
        assert all(r.passed for r in verify(data)), name


@CI
@given(data=st.data())
def test_mutated_xml_gives_a_result_or_an_esign_error_in_time(
    xml_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(sorted(xml_seeds)), label="seed")
    mutator: Mutator = data.draw(st.sampled_from(XML_MUTATORS), label="mutator")
    mutant = mutator(xml_seeds[seed], DrawnChoices(data))
    note(f"{seed}: {mutant.what}")
    outcome = check(
        _verifier(trust_root, revocation_crls), mutant.data, signed_changed=mutant.signed_changed, timeout=TIMEOUT
    )
    event(f"{mutator.__name__}: {outcome.kind}")


@settings(CI, max_examples=150)
@given(data=st.data())
def test_changed_signed_text_never_passes(
    xml_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(sorted(xml_seeds)), label="seed")
    mutant = xml_change_signed_text(xml_seeds[seed], DrawnChoices(data))
    note(f"{seed}: {mutant.what}")
    outcome = check(
        _verifier(trust_root, revocation_crls), mutant.data, signed_changed=mutant.signed_changed, timeout=TIMEOUT
    )
    assert mutant.signed_changed
    assert not outcome.passed


@settings(CI, max_examples=150)
@given(data=st.data())
def test_wrapping_never_hands_back_the_forged_copy(
    xml_seeds: dict[str, bytes], trust_root: bytes, revocation_crls: list[bytes], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(sorted(xml_seeds)), label="seed")
    mutant = xml_wrap(xml_seeds[seed], DrawnChoices(data))
    note(f"{seed}: {mutant.what}")
    handed_back: list[bytes] = []

    def verify(document: bytes) -> list[ValidationReport]:
        result = verify_xml(document, trust_anchors=trust_root, crls=revocation_crls)
        handed_back.extend(content.data for content in result.signed)
        return list(result.reports)

    outcome = run_bounded(verify, mutant.data, timeout=TIMEOUT)
    event(f"{mutant.what.split(' around')[0]}: {outcome.kind}")
    assert not any(b"forged" in content for content in handed_back)
