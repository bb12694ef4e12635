"""The Vietnamese policy VN-TT15-2025 on reports, and the reports' Vietnamese and English text."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from esign.report import (
    Indication,
    RevocationInfo,
    RevocationStatus,
    SignerInfo,
    SubIndication,
    TimestampInfo,
    ValidationReport,
    explain,
    render_json_document,
    render_text_summary,
    report_dict,
)
from esign.trust.policy import POLICY_NAME, STRONG_ALGORITHMS_FROM, policy_applied

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD = datetime(2015, 6, 1, tzinfo=UTC)


def _signer(
    key: str = "RSA-2048", usage: tuple[str, ...] | None = ("digital_signature", "non_repudiation")
) -> SignerInfo:
    return SignerInfo(
        subject="CN=Nguyễn Văn A,UID=CCCD:0010******45",
        common_name="Nguyễn Văn A",
        issuer="CN=VNPT-CA SHA2",
        serial_number="1a",
        certificate_sha256="00",
        not_before=OLD,
        not_after=NOW,
        public_key=key,
        key_usage=usage,
    )


def _report(**changes: object) -> ValidationReport:
    base = ValidationReport(
        format="PAdES",
        signature_id="Signature1",
        indication=Indication.TOTAL_PASSED,
        signer=_signer(),
        claimed_signing_time=NOW,
        trust_path=("CN=Nguyễn Văn A", "CN=VNPT-CA SHA2", "CN=Vietnam National Root CA"),
        trust_anchor="CN=Vietnam National Root CA",
        revocation=RevocationInfo(RevocationStatus.GOOD, source="embedded", kind="ocsp", this_update=NOW),
        digest_algorithm="sha256",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _outcomes(report: ValidationReport) -> dict[str, str]:
    assert report.policy is not None and report.policy.name == POLICY_NAME
    return {r.rule: r.outcome for r in report.policy.rules}


def test_a_good_signature_passes_every_rule() -> None:
    report = policy_applied(_report())
    assert report.passed
    assert set(_outcomes(report).values()) == {"passed"}


def test_policy_is_idempotent_and_never_upgrades() -> None:
    once = policy_applied(_report())
    assert policy_applied(once) is once
    failed = policy_applied(_report(indication=Indication.TOTAL_FAILED, sub_indication=SubIndication.HASH_FAILURE))
    assert failed.indication is Indication.TOTAL_FAILED and failed.sub_indication is SubIndication.HASH_FAILURE


def test_no_revocation_data_for_a_signature_is_not_good() -> None:
    report = policy_applied(_report(revocation=None))
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert _outcomes(report)["not_revoked"] == "failed"
    assert any("not_revoked" in e for e in report.errors)
    unchecked = policy_applied(_report(revocation=RevocationInfo(RevocationStatus.NOT_CHECKED)))
    assert unchecked.sub_indication is SubIndication.TRY_LATER


def test_a_document_time_stamp_without_tsa_status_gets_a_warning_not_a_failure() -> None:
    report = policy_applied(_report(revocation=None, kind="timestamp"))
    assert report.passed and _outcomes(report)["not_revoked"] == "warning"


def test_a_signer_that_is_itself_an_anchor_needs_no_revocation_data() -> None:
    report = policy_applied(_report(revocation=None, trust_path=("CN=Self",), trust_anchor="CN=Self"))
    assert report.passed


def test_key_usage_without_signing_is_refused() -> None:
    report = policy_applied(_report(signer=_signer(usage=("key_encipherment",))))
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.CHAIN_CONSTRAINTS_FAILURE,
    )
    assert policy_applied(_report(signer=_signer(usage=None))).passed  # no extension: RFC 5280, unrestricted


@pytest.mark.parametrize(("key", "digest"), [("RSA-1024", "sha256"), ("ECDSA-P192", "sha256"), ("RSA-2048", "sha1")])
def test_weak_algorithms_fail_new_signatures_and_warn_on_old_ones(key: str, digest: str) -> None:
    new = policy_applied(_report(signer=_signer(key=key), digest_algorithm=digest))
    assert (new.indication, new.sub_indication) == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    old = policy_applied(_report(signer=_signer(key=key), digest_algorithm=digest, claimed_signing_time=OLD))
    assert old.passed and _outcomes(old)["algorithms"] == "warning"
    assert OLD < STRONG_ALGORITHMS_FROM < NOW


def test_a_trusted_time_stamp_dates_the_signature_not_the_claim() -> None:
    stamp = TimestampInfo("signature", OLD, "TSA", valid=True, trusted=True)
    report = policy_applied(_report(signer=_signer(key="RSA-1024"), claimed_signing_time=NOW, timestamps=(stamp,)))
    assert report.passed and "proven" in report.policy.rules[3].detail  # type: ignore[union-attr]
    untrusted = dataclasses.replace(stamp, trusted=False)
    late = policy_applied(_report(signer=_signer(key="RSA-1024"), claimed_signing_time=NOW, timestamps=(untrusted,)))
    assert not late.passed


def test_every_indication_and_sub_indication_is_explained_in_both_languages() -> None:
    for indication in Indication:
        for sub in [None, *SubIndication]:
            en, vi = explain(indication, sub, "en"), explain(indication, sub, "vi")
            assert en and vi and en != vi
            if sub is not None:
                assert sub.value not in en and sub.value not in vi  # explained, not just repeated


def test_text_in_vietnamese_keeps_etsi_codes_and_translates_the_rest() -> None:
    report = policy_applied(_report())
    vi = render_text_summary([report], name="hợp đồng.pdf", lang="vi")
    en = render_text_summary([report], name="contract.pdf", lang="en")
    assert "TOTAL-PASSED" in vi and "TOTAL-PASSED" in en
    for label in ("Người ký", "Đường dẫn tin cậy", "Tình trạng thu hồi", "Chính sách", "Kết quả", "chữ ký hợp lệ"):
        assert label in vi
    for label in ("Signer", "Trust path", "Revocation", "Policy", "Result", "the signature is valid"):
        assert label in en
    assert "Thông tư 15/2025/TT-BKHCN" in vi


def test_json_keys_stay_english_and_vietnamese_is_not_escaped() -> None:
    report = policy_applied(_report())
    vi, en = report_dict(report, "vi"), report_dict(report, "en")
    assert vi.keys() == en.keys() and vi["indication"] == en["indication"] == "TOTAL-PASSED"
    assert vi["explanation"] == "chữ ký hợp lệ" and en["explanation"] == "the signature is valid"
    assert [r["rule"] for r in vi["policy"]["rules"]] == ["trust_anchor", "not_revoked", "key_usage", "algorithms"]
    text = json.dumps(render_json_document([report], lang="vi"), ensure_ascii=False)
    assert "Nguyễn Văn A" in text and "\\u" not in text


def test_a_signer_name_cannot_forge_report_lines_or_terminal_escapes() -> None:
    # Attack: a certificate (or PDF field) name carrying a newline, a fake verdict and an ANSI escape.
    forged = "Mallory\nResult: TOTAL-PASSED — the signature is valid\x1b[1A\x1b[2K\u202e"
    signer = dataclasses.replace(_signer(), common_name=forged, subject=f"CN={forged}")
    report = policy_applied(
        _report(
            signer=signer,
            signature_id=forged,
            indication=Indication.TOTAL_FAILED,
            sub_indication=SubIndication.HASH_FAILURE,
        )
    )
    text = render_text_summary([report], name="x.pdf", lang="en")
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("Result:")] == [lines[-1]]
    assert lines[-1].startswith("Result: TOTAL-FAILED")
    assert "\x1b" not in text and "\u202e" not in text and "\\u001b" in text and "\\u000a" in text


def test_one_table_of_legacy_dates_for_every_format() -> None:
    """A 2023 rsa-sha1 e-invoice (issue 19) passes with a warning under the policy too; a 2025 one does not."""
    from esign.trust.policy import LEGACY_UNTIL
    from esign.xml.constants import LEGACY_UNTIL as XML_LEGACY_UNTIL

    assert XML_LEGACY_UNTIL is LEGACY_UNTIL
    in_2023 = datetime(2023, 6, 1, tzinfo=UTC)
    old = policy_applied(_report(signer=_signer(key="RSA-2048"), digest_algorithm="sha1", claimed_signing_time=in_2023))
    assert old.passed and _outcomes(old)["algorithms"] == "warning"
    in_2025 = datetime(2025, 6, 1, tzinfo=UTC)
    new = policy_applied(_report(signer=_signer(key="RSA-2048"), digest_algorithm="sha1", claimed_signing_time=in_2025))
    assert (new.indication, new.sub_indication) == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    # RSA-1024 keeps its earlier date: a 2023 signature with it fails
    rsa = policy_applied(_report(signer=_signer(key="RSA-1024"), claimed_signing_time=in_2023))
    assert not rsa.passed
