"""One validation report for PDF and XML signatures, in the ETSI TS 119 102-2 vocabulary.

A report has one bottom line (:attr:`ValidationReport.indication`, with a sub-indication when it is
not TOTAL-PASSED) and the details beside it: signer, times, trust path, revocation, coverage,
modifications and the AdES level reached. ``to_json()`` for machines, ``to_text()`` for people.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes


class Indication(str, Enum):
    """The main status (ETSI TS 119 102-1 clause 5.1.3)."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(str, Enum):
    """Why a signature is not TOTAL-PASSED (ETSI TS 119 102-1 table 5)."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"


class RevocationStatus(str, Enum):
    """What revocation checking found for the signer's certificate."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class SignerInfo:
    """Who signed, as read from the signing certificate."""

    subject: str
    """RFC 4514 subject of the signing certificate."""
    common_name: str | None
    issuer: str
    serial_number: str
    """Hexadecimal serial number."""
    certificate_sha256: str
    not_before: datetime
    not_after: datetime
    identity: dict[str, Any] | None = None
    """Structured identity (``esign.identity.SignerIdentity.to_dict()``), personal numbers masked."""
    public_key: str | None = None
    """The key's algorithm and size, e.g. ``RSA-2048`` or ``ECDSA-P256``."""
    key_usage: tuple[str, ...] | None = None
    """Key usages the certificate allows (``digital_signature``, ``non_repudiation``, ...); None: unrestricted."""

    @classmethod
    def from_certificate(cls, cert: x509.Certificate, *, reveal: bool = False) -> SignerInfo:
        """Describe ``cert``; personal numbers are masked unless ``reveal`` is set."""
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        identity: dict[str, Any] | None = None
        try:
            from esign.identity import SignerIdentity

            identity = SignerIdentity.from_certificate(cert).to_dict(reveal=reveal)
        except ImportError:
            identity = None
        subject = cert.subject.rfc4514_string()
        if not reveal:
            subject = _mask(subject)
        return cls(
            subject=subject,
            common_name=str(cns[0].value) if cns else None,
            issuer=cert.issuer.rfc4514_string(),
            serial_number=format(cert.serial_number, "x"),
            certificate_sha256=cert.fingerprint(hashes.SHA256()).hex(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            identity=identity,
            public_key=describe_key(cert),
            key_usage=_key_usages(cert),
        )


def describe_key(cert: x509.Certificate) -> str | None:
    """``RSA-2048``, ``ECDSA-P256``, ``Ed25519``, ``DSA-1024``, ... (None when the key cannot be read)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    try:
        key = cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA-P{key.curve.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _key_usages(cert: x509.Certificate) -> tuple[str, ...] | None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        return ()
    names = {"content_commitment": "non_repudiation"}
    return tuple(names.get(flag, flag) for flag in _USAGE_FLAGS if getattr(ku, flag))


def _mask(text: str) -> str:
    try:
        from esign.identity import mask_personal_numbers
    except ImportError:
        return text
    return mask_personal_numbers(text)


@dataclass(frozen=True)
class RevocationInfo:
    """Revocation status of the signing certificate and where the evidence came from."""

    status: RevocationStatus
    source: str | None = None
    """``embedded`` (DSS / signature), ``fetched`` (online OCSP/CRL) or None when not checked."""
    kind: str | None = None
    """``ocsp`` or ``crl``."""
    produced_at: datetime | None = None
    revoked_at: datetime | None = None
    reason: str | None = None
    this_update: datetime | None = None
    """thisUpdate of the CRL or OCSP answer that decided."""
    next_update: datetime | None = None
    """nextUpdate of the CRL or OCSP answer that decided (None when it gives none)."""
    issuer: str | None = None
    """Who issued the deciding CRL (OCSP: the responder is named in the response)."""


@dataclass(frozen=True)
class TimestampInfo:
    """A time-stamp found on the signature or the document."""

    kind: str
    """``signature`` (B-T), ``document`` / ``archive`` (B-LTA) or ``content``."""
    time: datetime
    tsa: str
    valid: bool
    trusted: bool
    message: str = ""
    """Why the token is not valid or not trusted (empty when it is both)."""
    tsa_path: tuple[str, ...] = ()
    """Subjects from the TSA certificate up to its trust anchor."""


@dataclass(frozen=True)
class ChangeInfo:
    """One change made to a PDF after a signature (see :mod:`esign.pdf.changes`)."""

    kind: str
    """``form_field`` (value changed), ``form_field_added``/``_removed``/``_signed``/``_appearance``,
    ``annotation_added``/``_removed``/``_changed``, ``page_added``/``_removed``/``_changed``,
    ``rendering`` (the page looks different), ``unaccounted_bytes`` (bytes no revision accounts for),
    ``dss``, ``signature``, ``timestamp``, ``metadata``, ``other``."""
    description: str
    visible: bool
    """Whether the change can alter what a reader sees."""
    page: int | None = None
    """Page number, 1 for the first."""
    name: str | None = None
    """Form field or signature name."""
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class ReferenceInfo:
    """One XML reference (or PDF byte range): what it points at and whether its digest matches."""

    uri: str
    digest_algorithm: str
    digest_ok: bool
    covers: tuple[str, ...] = ()
    """The elements (or byte ranges) this reference covers, e.g. ``/HDon/DLHDon``."""


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the validation policy and how this signature fared."""

    rule: str
    """Stable rule id, e.g. ``trust_anchor``, ``not_revoked``, ``key_usage``, ``algorithms``."""
    outcome: str
    """``passed``, ``failed``, ``warning`` (accepted with a warning) or ``not_applicable``."""
    detail: str = ""
    """What was found (English; the rule's description is translated at rendering)."""


@dataclass(frozen=True)
class PolicyResult:
    """The validation policy applied to a signature (see :mod:`esign.trust.policy`)."""

    name: str
    """The policy's identifier, e.g. ``VN-TT15-2025``."""
    rules: tuple[PolicyRule, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no rule failed."""
        return all(r.outcome != "failed" for r in self.rules)


@dataclass(frozen=True)
class ValidationReport:
    """The result of validating one signature."""

    format: str
    """``PAdES``, ``CAdES``, ``XAdES`` or ``XMLDSig``."""
    signature_id: str
    """PDF field name or XML ``Signature/@Id`` (or its position)."""
    indication: Indication
    sub_indication: SubIndication | None = None
    signer: SignerInfo | None = None
    claimed_signing_time: datetime | None = None
    timestamps: tuple[TimestampInfo, ...] = ()
    trust_path: tuple[str, ...] = ()
    """Subjects from the signing certificate up to the trust anchor."""
    trust_anchor: str | None = None
    revocation: RevocationInfo | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    coverage: str | None = None
    """PDF: ``entire_file``, ``entire_revision`` or ``partial``; XML: ``references``."""
    references: tuple[ReferenceInfo, ...] = ()
    modifications: str | None = None
    """PDF: what changed after signing (``none``, ``form_filling``, ``annotations``, ``other``)."""
    modifications_allowed: bool | None = None
    changes: tuple[ChangeInfo, ...] = ()
    """PDF: every change after the signed revision (form values old -> new, annotations, pages, DSS, ...)."""
    level: str | None = None
    """The AdES baseline level reached: ``B-B``, ``B-T``, ``B-LT`` or ``B-LTA``."""
    validation_time: datetime | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    policy: PolicyResult | None = None
    """The validation policy applied and each rule's outcome (:func:`esign.trust.policy.policy_applied`)."""
    kind: str = "signature"
    """``signature``, or ``timestamp`` for a document (archive) time-stamp reported on its own."""

    @property
    def passed(self) -> bool:
        """True only for TOTAL-PASSED."""
        return self.indication is Indication.TOTAL_PASSED

    @property
    def best_signing_time(self) -> datetime | None:
        """The earliest trusted time-stamp over the signature, else the claimed signing time."""
        stamped = [t.time for t in self.timestamps if t.kind == "signature" and t.valid]
        return min(stamped) if stamped else self.claimed_signing_time

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values, times in ISO 8601)."""
        return _jsonable(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def to_text(self, lang: str = "en") -> str:
        """A readable multi-line summary in ``lang`` (``en`` or ``vi``); ETSI codes stay as they are."""
        t = _catalog(lang)
        head = self.indication.value + (f" / {self.sub_indication.value}" if self.sub_indication else "")
        lines = [t["signature"].format(id=self.signature_id, format=self.format) + f": {head}"]
        lines.append(_line(t, "meaning", explain(self.indication, self.sub_indication, lang)))
        if self.signer:
            who = self.signer.identity.get("description") if self.signer.identity else None
            lines.append(_line(t, "signer", who or self.signer.common_name or self.signer.subject))
            lines.append(
                _line(
                    t,
                    "certificate",
                    t["certificate_value"].format(serial=self.signer.serial_number, issuer=self.signer.issuer),
                )
            )
        if self.claimed_signing_time:
            lines.append(_line(t, "claimed_time", self.claimed_signing_time.isoformat()))
        for ts in self.timestamps:
            state = t["ts_valid"] if ts.valid and ts.trusted else t["ts_untrusted"] if ts.valid else t["ts_invalid"]
            kind = t.get("ts_" + ts.kind, ts.kind)
            lines.append(_line(t, "timestamp", f"{kind} {ts.time.isoformat()} — {ts.tsa} ({state})"))
        if self.trust_path:
            lines.append(_line(t, "trust_path", " -> ".join(self.trust_path)))
        if self.revocation:
            lines.append(_line(t, "revocation", describe_revocation(self.revocation, lang)))
        if self.coverage:
            lines.append(_line(t, "coverage", t.get("coverage_" + self.coverage, self.coverage)))
        for ref in self.references:
            ok = t["digest_ok"] if ref.digest_ok else t["digest_mismatch"]
            target = ref.uri or t["whole_document"]
            lines.append(_line(t, "reference", f"{target} [{ok}] {t['covers']} {', '.join(ref.covers)}"))
        if self.modifications is not None:
            allowed = {True: t["allowed"], False: t["not_allowed"], None: t["unknown"]}[self.modifications_allowed]
            what = t.get("mod_" + self.modifications, self.modifications)
            lines.append(_line(t, "changes", f"{what} ({allowed})"))
        lines += [f"    - {c.description}" for c in self.changes]
        visible = [c for c in self.changes if c.visible]
        if self.passed and visible:
            lines.append(_line(t, "warning_upper", t["visible_changes"].format(n=len(visible))))
        if self.level:
            lines.append(_line(t, "level", f"{self.format} {self.level}"))
        if self.policy:
            lines.append(_line(t, "policy", policy_title(self.policy.name, lang)))
            for rule in self.policy.rules:
                mark = t["outcome_" + rule.outcome] if "outcome_" + rule.outcome in t else rule.outcome
                detail = f" — {rule.detail}" if rule.detail else ""
                lines.append(f"    [{mark}] {t.get('rule_' + rule.rule, rule.rule)}{detail}")
        lines += [_line(t, "error", e) for e in self.errors]
        lines += [_line(t, "warning", w) for w in self.warnings]
        # Names, field names and values come from the document: shown, never obeyed (no injected lines,
        # terminal escapes or bidi overrides in a report someone reads or prints).
        return "\n".join(printable(line) for line in lines)


def printable(text: str) -> str:
    """``text`` with control, format and line/paragraph separator characters shown as ``\\uXXXX``.

    A signer's name or a form field value is chosen by whoever made the document; in a text report a
    newline or an ANSI escape in it could forge lines ("Result: TOTAL-PASSED") or rewrite the terminal.
    """
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def summarize(reports: list[ValidationReport]) -> Indication:
    """The bottom line of several signatures: TOTAL-PASSED only when every one passed."""
    if reports and all(r.passed for r in reports):
        return Indication.TOTAL_PASSED
    if any(r.indication is Indication.TOTAL_FAILED for r in reports):
        return Indication.TOTAL_FAILED
    return Indication.INDETERMINATE


# -- languages ---------------------------------------------------------------------------------
# Report text in English and Vietnamese. JSON keys and ETSI codes are never translated; the
# explanations, labels and policy rule names are.

_EN: dict[str, str] = {
    "signature": "Signature {id} ({format})",
    "meaning": "Meaning",
    "signer": "Signer",
    "certificate": "Certificate",
    "certificate_value": "serial {serial}, issued by {issuer}",
    "claimed_time": "Claimed time",
    "timestamp": "Time-stamp",
    "ts_signature": "signature",
    "ts_document": "document",
    "ts_archive": "archive",
    "ts_content": "content",
    "ts_valid": "valid",
    "ts_untrusted": "intact, TSA not trusted",
    "ts_invalid": "INVALID",
    "trust_path": "Trust path",
    "revocation": "Revocation",
    "coverage": "Coverage",
    "coverage_entire_file": "the entire file",
    "coverage_entire_revision": "the entire revision (later changes follow)",
    "coverage_partial": "part of the file",
    "coverage_references": "the referenced elements",
    "reference": "Reference",
    "whole_document": "(whole document)",
    "covers": "covers",
    "digest_ok": "ok",
    "digest_mismatch": "DIGEST MISMATCH",
    "changes": "Changes after signing",
    "allowed": "allowed",
    "not_allowed": "NOT allowed",
    "unknown": "unknown",
    "mod_none": "none",
    "mod_form_filling": "form filling",
    "mod_annotations": "annotations",
    "mod_other": "other",
    "level": "Level",
    "policy": "Policy",
    "error": "Error",
    "warning": "Warning",
    "warning_upper": "WARNING",
    "visible_changes": (
        "{n} visible change(s) after signing: what you see is not all what was signed; "
        "open the signed revision to compare"
    ),
    "result": "Result",
    "signatures_count": "{n} signature(s)",
    "no_signatures": "{name}: no signatures",
    "document": "Document",
    "sha256": "SHA-256",
    "validation_time": "Validation time",
    "outcome_passed": "passed",
    "outcome_failed": "FAILED",
    "outcome_warning": "warning",
    "outcome_not_applicable": "n/a",
    "rule_trust_anchor": "the path leads to a trust anchor of the store",
    "rule_not_revoked": "the certificate was valid, not suspended or revoked, at the signing time",
    "rule_key_usage": "the certificate allows signing (nonRepudiation or digitalSignature)",
    "rule_algorithms": "RSA ≥ 2048 or ECDSA ≥ 256 bits with SHA-256 or stronger (new signatures)",
    "rev_good": "not revoked",
    "rev_revoked": "REVOKED",
    "rev_unknown": "unknown",
    "rev_not_checked": "not checked",
    "rev_by": "by",
    "rev_this_update": "issued",
    "rev_next_update": "next update",
    "rev_revoked_at": "revoked at",
    "src_embedded": "embedded in the document",
    "src_supplied": "supplied",
    "src_fetched": "fetched online",
    "report_title": "Signature validation report",
    "report_intro": "Validated with esign against the trust store and policy named below.",
    "page": "Page {n} of {total}",
    "verdict": "Verdict",
}

_VI: dict[str, str] = {
    "signature": "Chữ ký {id} ({format})",
    "meaning": "Ý nghĩa",
    "signer": "Người ký",
    "certificate": "Chứng thư số",
    "certificate_value": "số hiệu {serial}, do {issuer} cấp",
    "claimed_time": "Thời điểm ký (tự khai)",
    "timestamp": "Dấu thời gian",
    "ts_signature": "chữ ký",
    "ts_document": "tài liệu",
    "ts_archive": "lưu trữ",
    "ts_content": "nội dung",
    "ts_valid": "hợp lệ",
    "ts_untrusted": "nguyên vẹn, đơn vị cấp dấu thời gian chưa được tin cậy",
    "ts_invalid": "KHÔNG HỢP LỆ",
    "trust_path": "Đường dẫn tin cậy",
    "revocation": "Tình trạng thu hồi",
    "coverage": "Phạm vi ký",
    "coverage_entire_file": "toàn bộ tệp",
    "coverage_entire_revision": "toàn bộ phiên bản được ký (có thay đổi sau đó)",
    "coverage_partial": "một phần tệp",
    "coverage_references": "các phần tử được tham chiếu",
    "reference": "Tham chiếu",
    "whole_document": "(toàn bộ tài liệu)",
    "covers": "bao gồm",
    "digest_ok": "khớp",
    "digest_mismatch": "GIÁ TRỊ BĂM KHÔNG KHỚP",
    "changes": "Thay đổi sau khi ký",
    "allowed": "được phép",
    "not_allowed": "KHÔNG được phép",
    "unknown": "không rõ",
    "mod_none": "không có",
    "mod_form_filling": "điền biểu mẫu",
    "mod_annotations": "chú thích",
    "mod_other": "thay đổi khác",
    "level": "Mức",
    "policy": "Chính sách",
    "error": "Lỗi",
    "warning": "Cảnh báo",
    "warning_upper": "CẢNH BÁO",
    "visible_changes": (
        "{n} thay đổi nhìn thấy được sau khi ký: những gì bạn thấy không hoàn toàn là nội dung đã ký; "
        "hãy mở phiên bản đã ký để đối chiếu"
    ),
    "result": "Kết quả",
    "signatures_count": "{n} chữ ký",
    "no_signatures": "{name}: không có chữ ký",
    "document": "Tài liệu",
    "sha256": "SHA-256",
    "validation_time": "Thời điểm kiểm tra",
    "outcome_passed": "đạt",
    "outcome_failed": "KHÔNG ĐẠT",
    "outcome_warning": "cảnh báo",
    "outcome_not_applicable": "không áp dụng",
    "rule_trust_anchor": "đường dẫn chứng thư dẫn tới một chứng thư gốc tin cậy",
    "rule_not_revoked": "chứng thư số còn hiệu lực, không bị tạm dừng hay thu hồi tại thời điểm ký",
    "rule_key_usage": "chứng thư số cho phép ký (nonRepudiation hoặc digitalSignature)",
    "rule_algorithms": "RSA ≥ 2048 hoặc ECDSA ≥ 256 bit với SHA-256 trở lên (chữ ký mới)",
    "rev_good": "không bị thu hồi",
    "rev_revoked": "ĐÃ BỊ THU HỒI",
    "rev_unknown": "không xác định",
    "rev_not_checked": "chưa kiểm tra",
    "rev_by": "theo",
    "rev_this_update": "phát hành",
    "rev_next_update": "cập nhật kế tiếp",
    "rev_revoked_at": "thu hồi lúc",
    "src_embedded": "kèm trong tài liệu",
    "src_supplied": "được cung cấp",
    "src_fetched": "lấy trực tuyến",
    "report_title": "Báo cáo kiểm tra chữ ký số",
    "report_intro": "Kiểm tra bằng esign theo kho chứng thư tin cậy và chính sách nêu dưới đây.",
    "page": "Trang {n}/{total}",
    "verdict": "Kết luận",
}

_INDICATIONS: dict[str, dict[str, str]] = {
    "en": {
        "TOTAL-PASSED": "the signature is valid",
        "TOTAL-FAILED": "the signature is NOT valid",
        "INDETERMINATE": "the signature could not be confirmed valid or invalid",
    },
    "vi": {
        "TOTAL-PASSED": "chữ ký hợp lệ",
        "TOTAL-FAILED": "chữ ký KHÔNG hợp lệ",
        "INDETERMINATE": "chưa xác định được chữ ký hợp lệ hay không",
    },
}

_SUB_INDICATIONS: dict[str, dict[str, str]] = {
    "en": {
        "FORMAT_FAILURE": "the signature or document is not in a valid format",
        "HASH_FAILURE": "the signed content was changed after signing (digest mismatch)",
        "SIG_CRYPTO_FAILURE": "the signature value does not verify with the signer's key",
        "REVOKED": "the signing certificate was revoked at the time that matters",
        "SIG_CONSTRAINTS_FAILURE": "the signature does not meet the validation constraints",
        "CHAIN_CONSTRAINTS_FAILURE": "the certificate path does not meet the constraints (usage, policy, names)",
        "CERTIFICATE_CHAIN_GENERAL_FAILURE": "the certificate path could not be validated",
        "CRYPTO_CONSTRAINTS_FAILURE": "an algorithm or key size is not accepted at the signing time",
        "EXPIRED": "a certificate had expired",
        "NOT_YET_VALID": "a certificate was not yet valid",
        "POLICY_PROCESSING_ERROR": "the signature policy could not be processed",
        "SIGNATURE_POLICY_NOT_AVAILABLE": "the signature policy is not available",
        "TIMESTAMP_ORDER_FAILURE": "the time-stamps are not in a consistent order",
        "NO_SIGNING_CERTIFICATE_FOUND": "the signing certificate was not found",
        "NO_CERTIFICATE_CHAIN_FOUND": "no path to a trusted root certificate was found",
        "REVOKED_NO_POE": "the signing certificate is revoked and nothing proves the signature existed before",
        "REVOKED_CA_NO_POE": "a CA certificate of the path is revoked and nothing proves the signature existed before",
        "OUT_OF_BOUNDS_NO_POE": "the certificate is outside its validity period and nothing proves an earlier time",
        "REVOCATION_OUT_OF_BOUNDS_NO_POE": "the revocation data does not cover the signing time",
        "OUT_OF_BOUNDS_NOT_REVOKED": "the certificate expired, but was not revoked before",
        "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "an algorithm is no longer accepted and nothing proves an earlier time",
        "NO_POE": "nothing proves the signature existed at the time that matters",
        "TRY_LATER": "revocation status not available (no current CRL or OCSP response); try again later",
        "SIGNED_DATA_NOT_FOUND": "the signed data could not be found",
    },
    "vi": {
        "FORMAT_FAILURE": "chữ ký hoặc tài liệu không đúng định dạng",
        "HASH_FAILURE": "nội dung đã ký bị thay đổi sau khi ký (giá trị băm không khớp)",
        "SIG_CRYPTO_FAILURE": "giá trị chữ ký không khớp với khóa của người ký",
        "REVOKED": "chứng thư số của người ký đã bị thu hồi tại thời điểm cần xét",
        "SIG_CONSTRAINTS_FAILURE": "chữ ký không đáp ứng các ràng buộc kiểm tra",
        "CHAIN_CONSTRAINTS_FAILURE": "đường dẫn chứng thư không đáp ứng ràng buộc (mục đích sử dụng, chính sách, tên)",
        "CERTIFICATE_CHAIN_GENERAL_FAILURE": "không kiểm tra được đường dẫn chứng thư",
        "CRYPTO_CONSTRAINTS_FAILURE": "thuật toán hoặc độ dài khóa không được chấp nhận tại thời điểm ký",
        "EXPIRED": "một chứng thư số đã hết hạn",
        "NOT_YET_VALID": "một chứng thư số chưa có hiệu lực",
        "POLICY_PROCESSING_ERROR": "không xử lý được chính sách chữ ký",
        "SIGNATURE_POLICY_NOT_AVAILABLE": "không có chính sách chữ ký",
        "TIMESTAMP_ORDER_FAILURE": "thứ tự các dấu thời gian không nhất quán",
        "NO_SIGNING_CERTIFICATE_FOUND": "không tìm thấy chứng thư số của người ký",
        "NO_CERTIFICATE_CHAIN_FOUND": "không tìm thấy đường dẫn tới chứng thư gốc tin cậy",
        "REVOKED_NO_POE": "chứng thư số của người ký đã bị thu hồi và không có bằng chứng chữ ký có trước đó",
        "REVOKED_CA_NO_POE": "một chứng thư CA trên đường dẫn đã bị thu hồi và không có bằng chứng chữ ký có trước đó",
        "OUT_OF_BOUNDS_NO_POE": "chứng thư số ngoài thời hạn hiệu lực và không có bằng chứng về thời điểm sớm hơn",
        "REVOCATION_OUT_OF_BOUNDS_NO_POE": "dữ liệu thu hồi không bao gồm thời điểm ký",
        "OUT_OF_BOUNDS_NOT_REVOKED": "chứng thư số đã hết hạn nhưng không bị thu hồi trước đó",
        "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": (
            "thuật toán không còn được chấp nhận và không có bằng chứng về thời điểm sớm hơn"
        ),
        "NO_POE": "không có bằng chứng chữ ký tồn tại tại thời điểm cần xét",
        "TRY_LATER": "chưa có thông tin thu hồi (không có CRL hoặc phản hồi OCSP còn hiệu lực); hãy thử lại sau",
        "SIGNED_DATA_NOT_FOUND": "không tìm thấy dữ liệu đã ký",
    },
}

_POLICY_TITLES: dict[str, dict[str, str]] = {
    "en": {"VN-TT15-2025": "VN-TT15-2025 — Vietnamese validation policy (Circular 15/2025/TT-BKHCN)"},
    "vi": {"VN-TT15-2025": "VN-TT15-2025 — Chính sách kiểm tra chữ ký số Việt Nam (Thông tư 15/2025/TT-BKHCN)"},
}


def _catalog(lang: str) -> dict[str, str]:
    return _VI if lang == "vi" else _EN


def _line(t: dict[str, str], key: str, value: str) -> str:
    return f"  {t[key] + ':':<22} {value}"


def text(key: str, lang: str = "en") -> str:
    """A report label in ``lang`` (``en``/``vi``), e.g. ``text("signer", "vi") == "Người ký"``."""
    return _catalog(lang).get(key, key)


def explain(indication: Indication, sub_indication: SubIndication | None = None, lang: str = "en") -> str:
    """What an ETSI indication (and sub-indication) means, in ``lang``; the codes themselves never change."""
    lang = "vi" if lang == "vi" else "en"
    meaning = _INDICATIONS[lang][indication.value]
    if sub_indication is not None:
        meaning += ": " + _SUB_INDICATIONS[lang].get(sub_indication.value, sub_indication.value)
    return meaning


def policy_title(name: str, lang: str = "en") -> str:
    """The validation policy's full name in ``lang``."""
    return _POLICY_TITLES["vi" if lang == "vi" else "en"].get(name, name)


def describe_revocation(info: RevocationInfo, lang: str = "en") -> str:
    """One line: the status, which CRL/OCSP decided, its thisUpdate/nextUpdate and where it came from."""
    t = _catalog(lang)
    parts = [t.get("rev_" + info.status.value, info.status.value)]
    if info.kind:
        source = t.get("src_" + (info.source or ""), info.source or "")
        parts.append(f"{t['rev_by']} {info.kind.upper()}" + (f" ({source})" if source else ""))
    if info.issuer:
        parts.append(info.issuer)
    if info.this_update:
        parts.append(f"{t['rev_this_update']} {info.this_update.isoformat()}")
    if info.next_update:
        parts.append(f"{t['rev_next_update']} {info.next_update.isoformat()}")
    if info.revoked_at:
        parts.append(
            f"{t['rev_revoked_at']} {info.revoked_at.isoformat()}" + (f" ({info.reason})" if info.reason else "")
        )
    elif info.reason and info.status is not RevocationStatus.GOOD:
        parts.append(info.reason)
    return ", ".join(parts)


def report_dict(report: ValidationReport, lang: str = "en") -> dict[str, Any]:
    """:meth:`ValidationReport.to_dict` plus ``explanation`` (and policy rule descriptions) in ``lang``."""
    data = report.to_dict()
    data["explanation"] = explain(report.indication, report.sub_indication, lang)
    if report.policy is not None and isinstance(data.get("policy"), dict):
        data["policy"]["title"] = policy_title(report.policy.name, lang)
        for rule in data["policy"].get("rules", []):
            rule["description"] = text("rule_" + rule["rule"], lang)
    return data


def render_json_document(reports: list[ValidationReport], *, lang: str = "en") -> dict[str, Any]:
    """The JSON a verify command prints: the bottom line, its explanation and one entry per signature."""
    bottom = summarize(reports)
    return {
        "indication": bottom.value,
        "explanation": explain(bottom, None, lang),
        "language": lang,
        "signatures": [report_dict(r, lang) for r in reports],
    }


def render_text_summary(reports: list[ValidationReport], *, name: str, lang: str = "en") -> str:
    """The text a verify command prints: each signature, then the bottom line."""
    t = _catalog(lang)
    blocks = [r.to_text(lang) for r in reports] or [t["no_signatures"].format(name=name)]
    bottom = summarize(reports)
    count = t["signatures_count"].format(n=len(reports))
    result = f"{t['result']}: {bottom.value} — {explain(bottom, None, lang)} ({count})"
    return "\n\n".join(blocks) + "\n" + result
