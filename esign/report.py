"""One validation report for PDF and XML signatures, in the ETSI TS 119 102-2 vocabulary.

A report has one bottom line (:attr:`ValidationReport.indication`, with a sub-indication when it is
not TOTAL-PASSED) and the details beside it: signer, times, trust path, revocation, coverage,
modifications and the AdES level reached. ``to_json()`` for machines, ``to_text()`` for people.
"""

from __future__ import annotations

import json
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
        )


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
    ``rendering`` (the page looks different), ``dss``, ``signature``, ``timestamp``, ``metadata``, ``other``."""
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

    def to_text(self) -> str:
        """A readable multi-line summary."""
        head = self.indication.value + (f" / {self.sub_indication.value}" if self.sub_indication else "")
        lines = [f"Signature {self.signature_id} ({self.format}): {head}"]
        if self.signer:
            who = self.signer.identity.get("description") if self.signer.identity else None
            lines.append(f"  Signer:       {who or self.signer.common_name or self.signer.subject}")
            lines.append(f"  Certificate:  serial {self.signer.serial_number}, issued by {self.signer.issuer}")
        if self.claimed_signing_time:
            lines.append(f"  Claimed time: {self.claimed_signing_time.isoformat()}")
        for ts in self.timestamps:
            state = "valid" if ts.valid else "INVALID"
            lines.append(f"  Time-stamp:   {ts.kind} {ts.time.isoformat()} by {ts.tsa} ({state})")
        if self.trust_path:
            lines.append("  Trust path:   " + " -> ".join(self.trust_path))
        if self.revocation:
            src = f" ({self.revocation.kind}, {self.revocation.source})" if self.revocation.source else ""
            lines.append(f"  Revocation:   {self.revocation.status.value}{src}")
        if self.coverage:
            lines.append(f"  Coverage:     {self.coverage}")
        for ref in self.references:
            ok = "ok" if ref.digest_ok else "DIGEST MISMATCH"
            lines.append(f"  Reference:    {ref.uri or '(whole document)'} [{ok}] covers {', '.join(ref.covers)}")
        if self.modifications is not None:
            allowed = {True: "allowed", False: "NOT allowed", None: "unknown"}[self.modifications_allowed]
            lines.append(f"  Changes after signing: {self.modifications} ({allowed})")
        lines += [f"    - {c.description}" for c in self.changes]
        visible = [c for c in self.changes if c.visible]
        if self.passed and visible:
            lines.append(f"  WARNING:      {len(visible)} visible change(s) after signing: what you see is not all "
                         "what was signed; open the signed revision to compare")
        if self.level:
            lines.append(f"  Level:        {self.format} {self.level}")
        lines += [f"  Error:        {e}" for e in self.errors]
        lines += [f"  Warning:      {w}" for w in self.warnings]
        return "\n".join(lines)


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
