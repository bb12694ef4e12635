"""The Vietnamese validation policy ``VN-TT15-2025``, applied by default to every verification report.

Circular 15/2025/TT-BKHCN (which replaced 22/2020/TT-BTTTT) asks a validator to check, for each
signature (docs/trust.md states each rule, its source and what we decided where the text is silent):

``trust_anchor``
    The signing certificate's path leads to an anchor of the trust store (the national root CAs or the
    government's specialised root, plus what the operator or caller added).
``not_revoked``
    The certificate was valid, not suspended or revoked, at the signing time — proven by a time-stamp
    when there is one, else the claimed time (said so). No revocation data at all is not "good".
``key_usage``
    The certificate allows signatures: key usage nonRepudiation (contentCommitment) or digitalSignature.
``algorithms``
    RSA ≥ 2048 bits or ECDSA ≥ 256 bits (EdDSA accepted), digest SHA-256 or stronger, for signatures
    made on or after :data:`STRONG_ALGORITHMS_FROM`; an older signature made with a weaker algorithm
    is accepted with a warning (old SHA-1 signatures stay verifiable).

:func:`policy_applied` records each rule's outcome in the report and never upgrades a verdict; a rule
that fails on a TOTAL-PASSED report turns it INDETERMINATE with the matching ETSI sub-indication.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from esign.report import Indication, PolicyResult, PolicyRule, RevocationStatus, SubIndication, ValidationReport

POLICY_NAME = "VN-TT15-2025"
"""The policy's identifier, named in every report."""

STRONG_ALGORITHMS_FROM = datetime(2021, 1, 1, tzinfo=UTC)
"""Signatures proven (or claimed) on or after this time must use the strong algorithms, unless
:data:`LEGACY_UNTIL` names a later date for the weak algorithm; see docs/trust.md."""

LEGACY_UNTIL: dict[str, tuple[str, str]] = {
    "md5": ("2005-01-01", "ETSI TS 119 312 (MD5 withdrawn long before its first edition)"),
    "sha1": ("2025-01-01", "the project's policy: Vietnamese e-invoices were still signed rsa-sha1 in 2023"),
    "rsa-1024": ("2020-01-01", "ETSI TS 119 312 (RSA below 1900 bits no longer recommended)"),
    "dsa-1024": ("2020-01-01", "ETSI TS 119 312 (DSA below 1900 bits no longer recommended)"),
}
"""The one table of legacy-algorithm dates, for every format (esign.xml reads it too): a weak algorithm is
accepted, with a warning, for a signature proven (or claimed) to exist before its date (UTC); a weak
algorithm not named here is accepted before :data:`STRONG_ALGORITHMS_FROM`."""


def legacy_limit(weak: str) -> datetime:
    """The time from which a signature made with the weak algorithm ``weak`` (a key of
    :data:`LEGACY_UNTIL`, e.g. ``sha1``, ``rsa-1024``) is no longer accepted."""
    entry = LEGACY_UNTIL.get(weak)
    return datetime.fromisoformat(entry[0]).replace(tzinfo=UTC) if entry else STRONG_ALGORITHMS_FROM


MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
WEAK_DIGESTS = frozenset({"md2", "md5", "sha1", "sha224", "ripemd160"})

_CHAIN_FAILURES = {
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
    SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
}
_STATUS_FAILURES = {
    SubIndication.REVOKED,
    SubIndication.REVOKED_NO_POE,
    SubIndication.REVOKED_CA_NO_POE,
    SubIndication.EXPIRED,
    SubIndication.NOT_YET_VALID,
    SubIndication.OUT_OF_BOUNDS_NO_POE,
    SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
    SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
    SubIndication.TRY_LATER,
}


def _proven_time(report: ValidationReport) -> tuple[datetime | None, bool]:
    stamped = [t.time for t in report.timestamps if t.kind == "signature" and t.valid and t.trusted]
    if stamped:
        return min(stamped), True
    return report.claimed_signing_time, False


def _trust_anchor_rule(report: ValidationReport) -> PolicyRule:
    if report.sub_indication in _CHAIN_FAILURES:
        return PolicyRule("trust_anchor", "failed", report.sub_indication.value if report.sub_indication else "")
    if report.trust_anchor:
        return PolicyRule("trust_anchor", "passed", report.trust_anchor)
    if report.passed:
        return PolicyRule("trust_anchor", "failed", "the report names no trust anchor")
    return PolicyRule("trust_anchor", "not_applicable", "not reached")


def _status_rule(report: ValidationReport) -> PolicyRule:
    when, proven = _proven_time(report)
    at = f"at {when.isoformat()} ({'proven by a time-stamp' if proven else 'claimed, not proven'})" if when else ""
    if report.sub_indication in _STATUS_FAILURES:
        return PolicyRule("not_revoked", "failed", f"{report.sub_indication.value} {at}".strip())
    rev = report.revocation
    if rev is not None and rev.status is RevocationStatus.REVOKED:
        if report.passed:  # the engine found a proof of existence before the revocation
            return PolicyRule("not_revoked", "warning", f"revoked later ({rev.revoked_at}); signed {at}".strip())
        return PolicyRule("not_revoked", "failed", f"revoked ({rev.revoked_at})")
    if report.signer is None:
        return PolicyRule("not_revoked", "not_applicable", "no signing certificate")
    if len(report.trust_path) == 1 and report.trust_anchor:
        return PolicyRule("not_revoked", "passed", "the signing certificate is itself a trust anchor")
    if rev is None or rev.status in (RevocationStatus.NOT_CHECKED, RevocationStatus.UNKNOWN):
        if not report.passed and report.sub_indication not in _STATUS_FAILURES and not report.trust_anchor:
            return PolicyRule("not_revoked", "not_applicable", "not reached")
        if report.kind == "timestamp":
            # A document time-stamp's TSA status is usually added by the next archive round (PAdES B-LTA):
            # said, not failed.
            return PolicyRule("not_revoked", "warning", "no CRL or OCSP response for the time-stamping unit")
        return PolicyRule("not_revoked", "failed", "no CRL or OCSP response establishes the status")
    source = f"{rev.kind} ({rev.source})" if rev.kind else ""
    return PolicyRule("not_revoked", "passed", f"{source} {at}".strip())


def _key_usage_rule(report: ValidationReport) -> PolicyRule:
    if report.signer is None:
        return PolicyRule("key_usage", "not_applicable", "no signing certificate")
    usage = report.signer.key_usage
    if usage is None:
        return PolicyRule("key_usage", "passed", "no key usage restriction")
    if {"digital_signature", "non_repudiation"} & set(usage):
        return PolicyRule("key_usage", "passed", ", ".join(usage))
    return PolicyRule("key_usage", "failed", ", ".join(usage) or "no usage allowed")


def _normal_digest(name: str | None) -> str | None:
    if not name:
        return None
    return name.lower().replace("-", "").replace("_", "")


def _weaknesses(report: ValidationReport) -> list[tuple[str, datetime]]:
    """Each weak algorithm the signature uses, shown as the report names it, with its :func:`legacy_limit`."""
    weak: list[tuple[str, datetime]] = []
    key = report.signer.public_key if report.signer else None
    if key:
        family, _, size = key.partition("-")
        bits = int("".join(ch for ch in size if ch.isdigit()) or 0)
        if family == "RSA" and bits < MIN_RSA_BITS:
            weak.append((key, legacy_limit("rsa-1024") if bits >= 1024 else legacy_limit("")))
        elif family == "ECDSA" and bits < MIN_EC_BITS:
            weak.append((key, legacy_limit("")))
        elif family == "DSA":
            weak.append((key, legacy_limit("dsa-1024") if bits >= 1024 else legacy_limit("")))
    digest = _normal_digest(report.digest_algorithm)
    if digest in WEAK_DIGESTS:
        weak.append((digest.upper(), legacy_limit(digest)))
    signature = (report.signature_algorithm or "").lower()
    if not digest:
        weak.extend((report.signature_algorithm or "", legacy_limit(w)) for w in ("sha1", "md5") if w in signature)
    return weak


def _algorithms_rule(report: ValidationReport) -> PolicyRule:
    if report.signer is None:
        return PolicyRule("algorithms", "not_applicable", "no signing certificate")
    used = ", ".join(x for x in (report.signer.public_key, report.digest_algorithm) if x)
    weak = _weaknesses(report)
    if not weak:
        return PolicyRule("algorithms", "passed", used)
    names = ", ".join(name for name, _ in weak)
    when, proven = _proven_time(report)
    expired = [(name, limit) for name, limit in weak if when is None or when >= limit]
    if not expired and when is not None:
        how = "proven" if proven else "claimed"
        return PolicyRule("algorithms", "warning", f"{names}: legacy, accepted for a signature {how} on {when.date()}")
    return PolicyRule(
        "algorithms",
        "failed",
        "; ".join(f"{name} not accepted for signatures made from {limit.date()}" for name, limit in expired),
    )


def evaluate(report: ValidationReport) -> PolicyResult:
    """Each rule of :data:`POLICY_NAME` judged from what ``report`` found."""
    return PolicyResult(
        POLICY_NAME,
        (_trust_anchor_rule(report), _status_rule(report), _key_usage_rule(report), _algorithms_rule(report)),
    )


_DOWNGRADE = {
    "trust_anchor": SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    "not_revoked": SubIndication.TRY_LATER,
    "key_usage": SubIndication.CHAIN_CONSTRAINTS_FAILURE,
    "algorithms": SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
}


def policy_applied(report: ValidationReport) -> ValidationReport:
    """``report`` with the policy's outcome recorded; a TOTAL-PASSED that breaks a rule becomes INDETERMINATE.

    Idempotent: a report that already carries this policy is returned as it is.
    """
    if report.policy is not None and report.policy.name == POLICY_NAME:
        return report
    result = evaluate(report)
    changes: dict[str, object] = {"policy": result}
    failed = [r for r in result.rules if r.outcome == "failed"]
    if failed and report.passed:
        first = failed[0]
        changes["indication"] = Indication.INDETERMINATE
        changes["sub_indication"] = _DOWNGRADE[first.rule]
        changes["errors"] = (*report.errors, f"policy {POLICY_NAME}, rule {first.rule}: {first.detail}")
    warned = [r for r in result.rules if r.outcome == "warning"]
    if warned:
        changes["warnings"] = (*report.warnings, *(f"policy {POLICY_NAME}, rule {r.rule}: {r.detail}" for r in warned))
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


__all__ = [
    "LEGACY_UNTIL",
    "MIN_EC_BITS",
    "MIN_RSA_BITS",
    "POLICY_NAME",
    "STRONG_ALGORITHMS_FROM",
    "evaluate",
    "legacy_limit",
    "policy_applied",
]
