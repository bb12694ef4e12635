"""NIST PKITS (246 path-validation cases) through esign.trust.validate_path, judged by the suite's own expectations.

The suite and its case table come from ``../shared/conformance/`` (beside the checkout, as in CI):
``pkits_cases.py`` turns pyHanko's ``pkits.json`` into cases with their settings (trust anchor, CRLs,
validation time 2022-05-01, revocation mode, RFC 5280 policy inputs). See docs/trust.md, "PKITS".
"""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pyhanko_certvalidator import PKIXValidationParams
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

from esign.report import SubIndication
from esign.trust import PathValidation, validate_path

_SHARED_CONFORMANCE = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
# ../shared/conformance beside the checkout when it is there; else the copy in tests/data (same files).
CONFORMANCE = (
    _SHARED_CONFORMANCE
    if _SHARED_CONFORMANCE.is_dir()
    else Path(__file__).resolve().parents[2] / "data" / "conformance"
)
FIXTURES = CONFORMANCE / "nist-pkits"

EXPECTED_PASSES = 246
"""Cases where esign.trust agrees with PKITS's expected result."""

EXCEPTIONS: dict[str, str] = {}
"""Case id -> why we disagree with PKITS (argued in docs/trust.md). None today."""

ANY_POLICY = "2.5.29.32.0"

# What each of certvalidator's error classes (as recorded by PKITS's table) must become in ETSI terms.
ETSI_FOR_ERROR = {
    "RevokedError": {SubIndication.REVOKED, SubIndication.REVOKED_CA_NO_POE},
    "InsufficientRevinfoError": {SubIndication.TRY_LATER},
    "StaleRevinfoError": {SubIndication.TRY_LATER},
}


@cache
def _pkits_cases_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pkits_cases", CONFORMANCE / "pkits_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _cases() -> tuple[dict[str, Any], ...]:
    raw = json.loads((FIXTURES / "pkits.json").read_text())
    return tuple(_pkits_cases_module().normalize(obj) for obj in raw)


def _run(case: dict[str, Any]) -> PathValidation:
    settings = case["settings"]
    policies = frozenset("any_policy" if o == ANY_POLICY else o for o in settings["user_initial_policy_set"])
    params = PKIXValidationParams(
        user_initial_policy_set=policies,
        initial_explicit_policy=settings["initial_explicit_policy"],
        initial_policy_mapping_inhibit=settings["initial_policy_mapping_inhibit"],
        initial_any_policy_inhibit=settings["initial_any_policy_inhibit"],
    )
    algorithms = DisallowWeakAlgorithmsPolicy(
        frozenset(settings["weak_hash_algos"]), dsa_key_size_threshold=settings["dsa_key_size_threshold"]
    )
    return validate_path(
        (FIXTURES / case["leaf"]).read_bytes(),
        at=datetime.fromisoformat(settings["validation_time"].replace("Z", "+00:00")),
        anchors=[_anchor(case["trust_anchor"])],
        intermediates=[(FIXTURES / p).read_bytes() for p in case["intermediates"]],
        crls=[(FIXTURES / p).read_bytes() for p in case["crls"]],
        revocation=settings["revocation"],
        usage="any",
        pkix_params=params,
        algorithm_policy=algorithms,
    )


@cache
def _anchor(rel: str) -> Any:
    from cryptography import x509

    return x509.load_der_x509_certificate((FIXTURES / rel).read_bytes())


def test_the_case_table_is_the_whole_suite() -> None:
    cases = _cases()
    assert len(cases) == 246
    assert sum(c["expect"] == "valid" for c in cases) == 110


def test_pkits_agreement_is_246_of_246_with_no_exceptions() -> None:
    agree, disagree = 0, {}
    for case in _cases():
        result = _run(case)
        outcome = "valid" if result.passed else "invalid"
        if outcome == case["expect"]:
            agree += 1
        else:
            disagree[case["id"]] = f"{result.indication.value}/{result.sub_indication}: {result.message}"
    assert set(disagree) == set(EXCEPTIONS), disagree
    assert agree == EXPECTED_PASSES


def test_pkits_failures_carry_the_etsi_sub_indication_of_their_kind() -> None:
    for case in _cases():
        expected = ETSI_FOR_ERROR.get(case["expected_error_class"] or "")
        if expected is None:
            continue
        result = _run(case)
        assert result.sub_indication in expected, (case["id"], result.sub_indication, result.message)


def test_a_revoked_end_entity_names_the_crl_that_decided() -> None:
    case = next(c for c in _cases() if c["id"] == "40403-invalid_revoked_ee_test3")
    result = _run(case)
    assert result.sub_indication is SubIndication.REVOKED
    assert result.revocation is not None and result.revocation.kind == "crl"
    assert result.revocation.revoked_at is not None and result.revocation.revoked_at.year == 2010
    assert result.revocation.this_update is not None and result.revocation.issuer
