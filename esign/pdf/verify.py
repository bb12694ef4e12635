"""Verify every signature in a PDF and report in the ETSI TS 119 102-2 vocabulary.

pyHanko does the checking (CMS integrity and signature, chain of trust against *your* anchors only,
revocation, signature and document time-stamps, DocMDP and difference analysis of every revision
added after signing); this module maps its verdict onto :class:`~esign.report.ValidationReport`:

=====================================================  =====================================
what pyHanko found                                     indication / sub-indication
=====================================================  =====================================
byte-range digest does not match                       TOTAL-FAILED / HASH_FAILURE
signature value does not verify                        TOTAL-FAILED / SIG_CRYPTO_FAILURE
changes after signing the signature does not allow     TOTAL-FAILED / FORMAT_FAILURE
signer revoked                                         TOTAL-FAILED / REVOKED
no path to a trust anchor, expired, no revocation ...  INDETERMINATE / pyHanko's AdES sub-indication
signature time-stamp broken or untrusted               INDETERMINATE / SIG_CONSTRAINTS_FAILURE
everything holds                                       TOTAL-PASSED
=====================================================  =====================================

Revocation is checked with the material embedded in the file (DSS, signature attributes) and, only
when ``allow_fetching`` is set, online. If the signing certificate has expired at validation time but
a valid signature time-stamp proves it signed before, it is validated again at the time-stamp's time
with the embedded revocation data (the PAdES B-LT idea).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel, TimestampSignatureStatus

from esign.errors import InvalidInput
from esign.pdf.adapter import from_asn1
from esign.pdf.context import TrustSource, boundary, load_trust_anchors, read_all, validation_context
from esign.pdf.workspace import PdfSource
from esign.report import (
    Indication,
    RevocationInfo,
    RevocationStatus,
    SignerInfo,
    SubIndication,
    TimestampInfo,
    ValidationReport,
)
from esign.signers.base import run_sync

PADES_SUBFILTER = "/ETSI.CAdES.detached"
_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "partial",
}
_FAILED_TRUST = {"REVOKED", "EXPIRED", "NOT_YET_VALID"}
MAX_SIGNATURES = 50
"""More signatures than this in one PDF are refused: each costs a full validation with difference
analysis, so a few hundred fields sharing one signature made a 36 KB file take 13 s (found by fuzzing)."""


def verify_pdf(
    input: PdfSource,
    *,
    trust_anchors: Iterable[TrustSource] | TrustSource,
    at: datetime | None = None,
    allow_fetching: bool = False,
    reveal: bool = False,
) -> list[ValidationReport]:
    """Validate every signature and document time-stamp in a PDF; one report each, in file order.

    ``trust_anchors`` are the only roots trusted (paths to PEM/DER files, bytes or certificates);
    ``at`` validates at a past or future time instead of now; ``allow_fetching`` lets revocation be
    checked online (OCSP, CRL) when the file does not carry it; ``reveal`` shows personal numbers
    (CCCD) unmasked in the signer description. A damaged file raises :class:`InvalidInput`; a bad
    signature gives a TOTAL-FAILED or INDETERMINATE report, never an exception.

    >>> [r.indication.value for r in verify_pdf("signed.pdf", trust_anchors="root.pem")]  # doctest: +SKIP
    ['TOTAL-PASSED']
    """
    return run_sync(
        async_verify_pdf(input, trust_anchors=trust_anchors, at=at, allow_fetching=allow_fetching, reveal=reveal)
    )


async def async_verify_pdf(
    input: PdfSource,
    *,
    trust_anchors: Iterable[TrustSource] | TrustSource,
    at: datetime | None = None,
    allow_fetching: bool = False,
    reveal: bool = False,
) -> list[ValidationReport]:
    """Asynchronous :func:`verify_pdf`."""
    anchors = load_trust_anchors(trust_anchors)
    if not anchors:
        raise InvalidInput("give at least one trust anchor (the root CA certificate you trust)")
    if at is not None and at.tzinfo is None:
        raise InvalidInput("the validation time needs a time zone, e.g. 2025-06-01T12:00:00+07:00")
    with _open(input) as stream:
        with boundary("reading the PDF"):
            reader = PdfFileReader(stream, strict=False)
            _refuse_signature_floods(reader)
            signatures = list(reader.embedded_signatures)
            embedded = _embedded_material(reader)
        verifier = _Verifier(anchors, at, allow_fetching, reveal, embedded, signatures)
        reports = []
        for sig in signatures:
            reports.append(await verifier.report(sig))
    return reports


def _open(input: PdfSource) -> IO[bytes]:
    """A file on disk is read where it is (hashing the byte ranges in chunks); anything else in memory."""
    if isinstance(input, str | Path):
        try:
            return open(input, "rb")
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {input}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {input}: {exc.strerror}") from None
    return io.BytesIO(read_all(input))


def _refuse_signature_floods(reader: PdfFileReader) -> None:
    """Refuse what makes pyHanko validate without end, before it builds its (costly) signature objects.

    Too many signatures, or fields sharing one signature dictionary (never done by a signer; each
    field would be validated again, with difference analysis): both found by fuzzing.
    """
    fields = list(islice(enumerate_sig_fields(reader, filled_status=True), MAX_SIGNATURES + 1))
    if len(fields) > MAX_SIGNATURES:
        raise InvalidInput(f"the PDF holds more than {MAX_SIGNATURES} signatures; refused as a denial-of-service risk")
    values = [field.get_object().raw_get("/V") for _, _, field in fields]
    shared = [(v.idnum, v.generation) for v in values if isinstance(v, generic.IndirectObject)]
    if len(set(shared)) < len(shared):
        raise InvalidInput("several signature fields share one signature dictionary; refused (no signer does this)")


class _Embedded:
    """Validation material carried by the file: DSS certificates, OCSP responses, CRLs."""

    def __init__(self, certs: list[Any], ocsps: list[Any], crls: list[Any]) -> None:
        self.certs = certs
        self.ocsps = ocsps
        self.crls = crls


def _embedded_material(reader: PdfFileReader) -> _Embedded:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        certs = list(dss.load_certs())
        ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
                 for ref in dss.ocsps]
        crls = [asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
                for ref in dss.crls]
    except Exception:  # no DSS, or a damaged one: validate without it
        return _Embedded([], [], [])
    return _Embedded(certs, ocsps, crls)


class _Verifier:
    def __init__(
        self,
        anchors: list[x509.Certificate],
        at: datetime | None,
        allow_fetching: bool,
        reveal: bool,
        embedded: _Embedded,
        signatures: list[EmbeddedPdfSignature],
    ) -> None:
        self.anchors = anchors
        self.at = at
        self.allow_fetching = allow_fetching
        self.reveal = reveal
        self.embedded = embedded
        self.signatures = signatures
        self._contexts: dict[tuple[datetime | None, bool, bool], Any] = {}

    def context(self, *, moment: datetime | None, hard_fail: bool, retroactive: bool = False) -> Any:
        """One validation context per distinct setting, shared by every signature of the file.

        Building one costs about as much as checking a signature (roots registered, embedded
        material indexed), and a context caches the paths and revocation answers it finds.
        """
        key = (moment, hard_fail, retroactive)
        if key not in self._contexts:
            self._contexts[key] = validation_context(
                self.anchors,
                other_certs=self.embedded.certs,
                moment=moment,
                allow_fetching=self.allow_fetching,
                revocation_mode="hard-fail" if hard_fail else "soft-fail",
                crls=self.embedded.crls,
                ocsps=self.embedded.ocsps,
                retroactive_revinfo=retroactive,
            )
        return self._contexts[key]

    async def report(self, sig: EmbeddedPdfSignature) -> ValidationReport:
        name = str(sig.field_name or "(unnamed)")  # a plain str: pyHanko's string objects hold the reader
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                return await self._document_timestamp(sig, name)
            return await self._signature(sig, name)
        except InvalidInput:
            raise
        except Exception as exc:  # a malformed CMS or dictionary is a failed signature, not a crash
            return ValidationReport(
                format="PAdES", signature_id=name, indication=Indication.TOTAL_FAILED,
                sub_indication=SubIndication.FORMAT_FAILURE, validation_time=self.at or datetime.now(UTC),
                errors=(f"the signature cannot be read: {exc.__class__.__name__}: {exc}",),
            )

    def _embedded_status(self, cert: x509.Certificate) -> RevocationInfo | None:
        for resp in self.embedded.ocsps:
            info = _ocsp_status(resp, cert)
            if info is not None:
                return info
        for crl in self.embedded.crls:
            if crl["tbs_cert_list"]["issuer"].dump() == cert.issuer.public_bytes():
                return RevocationInfo(status=RevocationStatus.GOOD, source="embedded", kind="crl",
                                      produced_at=crl["tbs_cert_list"]["this_update"].native)
        return None

    async def _signature(self, sig: EmbeddedPdfSignature, name: str) -> ValidationReport:
        cert = from_asn1(sig.signer_cert)
        revinfo = self._embedded_status(cert)
        hard_fail = revinfo is not None or self.allow_fetching
        moment = self.at
        status = await async_validate_pdf_signature(
            sig, self.context(moment=moment, hard_fail=hard_fail), self.context(moment=moment, hard_fail=False)
        )
        warnings: list[str] = []
        ts = status.timestamp_validity
        if (not status.trusted and _indic_name(status) in ("OUT_OF_BOUNDS_NO_POE", "EXPIRED", "NO_POE")
                and ts is not None and ts.valid and ts.intact and ts.trusted):
            # Expired now, but the time-stamp proves it signed in time: validate at that moment.
            moment = ts.timestamp
            status = await async_validate_pdf_signature(
                sig, self.context(moment=moment, hard_fail=hard_fail, retroactive=True),
                self.context(moment=self.at, hard_fail=False),
            )
            warnings.append(f"validated at the signature time-stamp's time {moment.isoformat()}")
        indication, sub, errors = _verdict(status)
        revocation = self._revocation(status, revinfo, hard_fail, warnings)
        timestamps = []
        if ts is not None:
            timestamps.append(_ts_info("signature", ts))
        doc_ts = await self._later_document_timestamps(sig)
        timestamps += doc_ts
        level = _level(sig, status, revinfo, doc_ts)
        path = status.validation_path
        return ValidationReport(
            format="PAdES" if sig.sig_object.get("/SubFilter") == PADES_SUBFILTER else "CAdES",
            signature_id=name,
            indication=indication,
            sub_indication=sub,
            signer=SignerInfo.from_certificate(cert, reveal=self.reveal),
            claimed_signing_time=status.signer_reported_dt,
            timestamps=tuple(timestamps),
            trust_path=_trust_path(path),
            trust_anchor=_anchor(path),
            revocation=revocation,
            digest_algorithm=status.md_algorithm,
            signature_algorithm=sig.signer_info["signature_algorithm"]["algorithm"].native,
            coverage=_COVERAGE.get(status.coverage) if status.coverage is not None else None,
            modifications=_modifications(status),
            modifications_allowed=status.docmdp_ok if status.modification_level is not None else None,
            level=level,
            validation_time=moment or status.validation_time or datetime.now(UTC),
            errors=tuple(errors),
            warnings=tuple(warnings),
        )

    def _revocation(self, status: PdfSignatureStatus, embedded: RevocationInfo | None, hard_fail: bool,
                    warnings: list[str]) -> RevocationInfo:
        details = status.revocation_details
        if details is not None:
            return RevocationInfo(
                status=RevocationStatus.REVOKED, source=embedded.source if embedded else "fetched",
                kind=embedded.kind if embedded else None, revoked_at=details.revocation_date,
                reason=str(details.revocation_reason.native),
            )
        if embedded is not None:
            return embedded
        if hard_fail and status.trusted:
            return RevocationInfo(status=RevocationStatus.GOOD, source="fetched")
        warnings.append("no revocation information in the file; pass allow_fetching=True to check online")
        return RevocationInfo(status=RevocationStatus.NOT_CHECKED)

    async def _later_document_timestamps(self, sig: EmbeddedPdfSignature) -> list[TimestampInfo]:
        infos = []
        for other in self.signatures:
            if other.sig_object_type == "/DocTimeStamp" and other.signed_revision > sig.signed_revision:
                try:
                    ts_status = await async_validate_pdf_timestamp(
                        other, validation_context=self.context(moment=self.at, hard_fail=False)
                    )
                except Exception:  # a broken one is reported on its own; here it proves nothing
                    ts_status = None
                if ts_status is not None:
                    infos.append(_ts_info("document", ts_status))
        return infos

    async def _document_timestamp(self, sig: EmbeddedPdfSignature, name: str) -> ValidationReport:
        context = self.context(moment=self.at, hard_fail=False)
        status = await async_validate_pdf_timestamp(sig, validation_context=context)
        errors: list[str] = []
        if not status.intact:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
            errors.append("the document time-stamp does not match the document")
        elif not status.valid:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
            errors.append("the time-stamp token's signature does not verify")
        elif status.modification_level is not None and status.docmdp_ok is False:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
            errors.append("the document was changed after the time-stamp in a way that is not allowed")
        elif not status.trusted:
            indication, sub = Indication.INDETERMINATE, _sub(status) or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            errors.append("the time-stamping authority does not chain to a trust anchor")
        else:
            indication, sub = Indication.TOTAL_PASSED, None
        cert = from_asn1(sig.signer_cert)
        return ValidationReport(
            format="PAdES",
            signature_id=f"{name} (document time-stamp)",
            indication=indication,
            sub_indication=sub,
            signer=SignerInfo.from_certificate(cert, reveal=self.reveal),
            timestamps=(_ts_info("document", status),),
            trust_path=_trust_path(status.validation_path),
            trust_anchor=_anchor(status.validation_path),
            digest_algorithm=status.md_algorithm,
            coverage=_COVERAGE.get(status.coverage) if status.coverage is not None else None,
            modifications=_modifications(status),
            modifications_allowed=_allowed_after_timestamp(status),
            validation_time=self.at or datetime.now(UTC),
            errors=tuple(errors),
        )


def _allowed_after_timestamp(status: Any) -> bool | None:
    if status.modification_level is None:
        return None
    if status.docmdp_ok is not None:
        return bool(status.docmdp_ok)
    return bool(status.modification_level <= ModificationLevel.LTA_UPDATES)


def _indic_name(status: Any) -> str | None:
    indic = status.trust_problem_indic
    return indic.name if indic is not None else None


def _sub(status: Any) -> SubIndication | None:
    name = _indic_name(status)
    if name is None:
        return None
    try:
        return SubIndication(name)
    except ValueError:
        return SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE


def _verdict(status: PdfSignatureStatus) -> tuple[Indication, SubIndication | None, list[str]]:
    if not status.intact:
        return Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, [
            "the signed bytes changed: the document digest does not match the signature"]
    if not status.valid:
        return Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE, [
            "the signature value does not verify with the signer's public key"]
    if status.coverage is not None and status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, [
            "the signature does not cover its whole revision (byte-range manipulation)"]
    if status.modification_level is not None and status.docmdp_ok is False:
        return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, [
            f"the document was modified after signing in a way that is not allowed "
            f"({_modifications(status)}): {status.diff_result}"]
    if status.revoked:
        return Indication.TOTAL_FAILED, SubIndication.REVOKED, ["the signer's certificate is revoked"]
    if not status.trusted:
        sub = _sub(status) or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
        indication = Indication.TOTAL_FAILED if sub.value in _FAILED_TRUST else Indication.INDETERMINATE
        return indication, sub, [f"the signer's certificate is not trusted ({sub.value})"]
    ts = status.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        return Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE, [
            "the signature time-stamp is invalid or its TSA is not trusted"]
    if not status.seed_value_ok:
        return Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE, [
            f"the signature breaks the field's seed-value constraints: {status.seed_value_constraint_error}"]
    return Indication.TOTAL_PASSED, None, []


def _modifications(status: Any) -> str | None:
    level = status.modification_level
    return level.name.lower() if level is not None else None


def _ts_info(kind: str, ts: TimestampSignatureStatus) -> TimestampInfo:
    cns = ts.signing_cert.subject.native.get("common_name") if ts.signing_cert is not None else None
    return TimestampInfo(
        kind=kind, time=ts.timestamp, tsa=str(cns or ts.signing_cert.subject.human_friendly),
        valid=bool(ts.intact and ts.valid), trusted=bool(ts.trusted),
    )


def _trust_path(path: Any) -> tuple[str, ...]:
    """Common names from the signer up to the anchor (whole subjects could carry personal numbers)."""
    if path is None:
        return ()
    try:
        certs = list(path.iter_certs(include_root=True))
    except Exception:
        return ()
    return tuple(str(c.subject.native.get("common_name") or c.subject.human_friendly) for c in reversed(certs))


def _anchor(path: Any) -> str | None:
    if path is None:
        return None
    try:
        return str(path.trust_anchor.authority.name.human_friendly)
    except Exception:
        return None


def _ocsp_status(resp: asn1_ocsp.OCSPResponse, cert: x509.Certificate) -> RevocationInfo | None:
    try:
        basic = resp["response_bytes"]["response"].parsed
        data = basic["tbs_response_data"]
        for single in data["responses"]:
            if single["cert_id"]["serial_number"].native != cert.serial_number:
                continue
            state = single["cert_status"].name
            if state == "good":
                status = RevocationStatus.GOOD
            elif state == "revoked":
                status = RevocationStatus.REVOKED
            else:
                status = RevocationStatus.UNKNOWN
            revoked = single["cert_status"].chosen["revocation_time"].native if state == "revoked" else None
            return RevocationInfo(status=status, source="embedded", kind="ocsp",
                                  produced_at=data["produced_at"].native, revoked_at=revoked)
    except Exception:
        return None
    return None


def _level(sig: EmbeddedPdfSignature, status: PdfSignatureStatus, revinfo: RevocationInfo | None,
           doc_ts: list[TimestampInfo]) -> str | None:
    if sig.sig_object.get("/SubFilter") != PADES_SUBFILTER:
        return None
    level = "B-B"
    ts = status.timestamp_validity
    if ts is None or not (ts.intact and ts.valid):
        return level
    level = "B-T"
    if revinfo is None:
        return level
    level = "B-LT"
    if any(t.valid for t in doc_ts):
        level = "B-LTA"
    return level
