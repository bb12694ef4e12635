"""Verify every signature in a PDF and report in the ETSI TS 119 102-2 vocabulary.

A TOTAL-PASSED means: what a reader of the file sees was signed (or changed after signing only in
ways the signature allows, each change listed), by a signer whose certificate chains to one of
*your* anchors and was not revoked according to revocation data the verifier actually read.

Who decides what:

* pyHanko checks the CMS (byte-range digest, signature value), the signature and document
  time-stamps, DocMDP and the difference analysis of every revision added after signing;
* :mod:`esign.pdf.structure` checks that every byte after the first signed revision belongs to a
  revision pyHanko analysed (appended bodies, ``startxref 0`` tails, unreferenced objects);
* the signer's path and revocation are decided in certvalidator's "require" mode: every
  certificate below the anchor needs a CRL or OCSP answer (from the DSS, the CMS
  ``adbe-revocationInfoArchival`` attribute, the caller, or fetched when allowed), read whether or
  not the certificate names a distribution point; none gives INDETERMINATE/TRY_LATER. pyHanko
  decides in one pass; when it does not trust the signer, :func:`esign.trust.async_validate_path`
  gives the precise ETSI answer. When the signer has expired or the file's data is stale, a
  signature time-stamp lets the signature be judged at its time (past signature validation);
* :mod:`esign.pdf.changes` lists what changed after each signature.

=====================================================  =====================================
what was found                                         indication / sub-indication
=====================================================  =====================================
byte-range digest does not match                       TOTAL-FAILED / HASH_FAILURE
signature value does not verify                        TOTAL-FAILED / SIG_CRYPTO_FAILURE
bytes no analysed revision accounts for                TOTAL-FAILED / FORMAT_FAILURE
changes after signing that are not allowed             TOTAL-FAILED / FORMAT_FAILURE
signer revoked                                         TOTAL-FAILED / REVOKED
signer revoked after a trusted time-stamp's time       INDETERMINATE / REVOKED_NO_POE
no revocation data for a certificate of the path       INDETERMINATE / TRY_LATER
no path to a trust anchor, expired, ...                INDETERMINATE / as found
signature time-stamp broken or untrusted               INDETERMINATE / SIG_CONSTRAINTS_FAILURE
everything holds                                       TOTAL-PASSED
=====================================================  =====================================

"Not allowed" follows pyHanko's difference analysis: a certification signature allows what its
DocMDP level allows (P=1: nothing but DSS and document time-stamp additions, as PAdES permits;
P=2: also form filling and signing; P=3: also annotations); an approval signature or a document
time-stamp allows everything but changes pyHanko classifies as OTHER.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp as x509_ocsp

from esign.thirdparty import quiet_imports

with quiet_imports():  # pyHanko's signing package warns about DSA on import (esign.thirdparty)
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.decode_limits import DecodePurpose
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation import EmbeddedPdfSignature
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature, async_validate_pdf_timestamp
    from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel, TimestampSignatureStatus

from esign.der_limits import check_der
from esign.errors import InvalidInput
from esign.pdf.adapter import from_asn1
from esign.pdf.changes import changes_after, render_differences
from esign.pdf.context import TrustSource, boundary, load_trust_anchors, read_all
from esign.pdf.structure import StructureProblem, check_structure
from esign.pdf.workspace import PdfSource
from esign.report import (
    ChangeInfo,
    Indication,
    RevocationInfo,
    RevocationStatus,
    SignerInfo,
    SubIndication,
    TimestampInfo,
    ValidationReport,
)
from esign.signers.base import run_sync
from esign.trust import PathValidation, async_validate_path, policy_applied, resolve_anchors, validation_context

PADES_SUBFILTER = "/ETSI.CAdES.detached"
_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "partial",
}
_FAILED_TRUST = {"REVOKED", "EXPIRED", "NOT_YET_VALID"}
_PAST = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED", "NO_POE", "TRY_LATER"}
"""Trust problems a signature time-stamp can resolve by validating at its time (expiry, stale data)."""
MAX_SIGNATURES = 50
"""More signatures than this in one PDF are refused: each costs a full validation with difference
analysis, so a few hundred fields sharing one signature made a 36 KB file take 13 s (found by fuzzing)."""
MAX_EOF_RETRIES = 8
"""How many earlier ``%%EOF`` markers are tried when the file as a whole cannot be read."""


def verify_pdf(
    input: PdfSource,
    *,
    trust_anchors: Iterable[TrustSource] | TrustSource | None = None,
    at: datetime | None = None,
    allow_fetching: bool = False,
    reveal: bool = False,
    crls: Iterable[bytes] = (),
    ocsps: Iterable[bytes] = (),
    visual: bool = False,
    policy: bool = True,
) -> list[ValidationReport]:
    """Validate every signature and document time-stamp in a PDF; one report each, in file order.

    ``trust_anchors`` are the only roots trusted (paths to PEM/DER files, bytes or certificates;
    None: :func:`esign.trust.resolve_anchors`, the default store); ``at`` validates at a past or
    future time instead of now; ``allow_fetching`` lets revocation be checked online (OCSP, CRL)
    besides what the file carries; ``crls``/``ocsps`` (DER) add revocation data of your own;
    ``visual`` renders each signed revision and the current file with ``pdftoppm`` and names the
    pages that look different; ``reveal`` shows personal numbers (CCCD) unmasked. Each report
    carries the Vietnamese validation policy ``VN-TT15-2025`` (:func:`esign.trust.policy_applied`, as
    ``esign pdf verify`` and ``/api/verify`` apply it): a TOTAL-PASSED that breaks one of its rules
    becomes INDETERMINATE; ``policy=False`` gives the verdict without it. A file that is not a PDF
    raises :class:`InvalidInput`; a bad signature gives a TOTAL-FAILED or INDETERMINATE report,
    never an exception.

    >>> [r.indication.value for r in verify_pdf("signed.pdf", trust_anchors="root.pem")]  # doctest: +SKIP
    ['TOTAL-PASSED']
    """
    return run_sync(
        async_verify_pdf(
            input,
            trust_anchors=trust_anchors,
            at=at,
            allow_fetching=allow_fetching,
            reveal=reveal,
            crls=crls,
            ocsps=ocsps,
            visual=visual,
            policy=policy,
        )
    )


async def async_verify_pdf(
    input: PdfSource,
    *,
    trust_anchors: Iterable[TrustSource] | TrustSource | None = None,
    at: datetime | None = None,
    allow_fetching: bool = False,
    reveal: bool = False,
    crls: Iterable[bytes] = (),
    ocsps: Iterable[bytes] = (),
    visual: bool = False,
    policy: bool = True,
) -> list[ValidationReport]:
    """Asynchronous :func:`verify_pdf`."""
    anchors = resolve_anchors() if trust_anchors is None else load_trust_anchors(trust_anchors)
    if not anchors:
        raise InvalidInput("give at least one trust anchor (the root CA certificate you trust)")
    if at is not None and at.tzinfo is None:
        raise InvalidInput("the validation time needs a time zone, e.g. 2025-06-01T12:00:00+07:00")
    supplied = _Revinfo.supplied(crls, ocsps)
    with _open(input) as opened:
        with boundary("reading the PDF"):
            reader, stream, cut = _read(opened)
            _refuse_signature_floods(reader)
            signatures = list(reader.embedded_signatures)
            embedded = _embedded_material(reader)
            problems = _structure(reader, stream, signatures)
            if cut is not None:
                problems.append(cut)
        verifier = _Verifier(anchors, at, allow_fetching, reveal, embedded, supplied, signatures, reader, problems)
        reports = []
        for sig in signatures:
            reports.append(await verifier.report(sig))
        if visual and signatures:
            reports = _with_rendering(reports, signatures, opened)  # the whole file, as a reader gets it
    if policy:
        reports = [policy_applied(r) for r in reports]
    return reports


def signed_revision(input: PdfSource, number: int) -> bytes:
    """The bytes signature ``number`` (1 = the first in file order, as in the reports) covered.

    That is the file as it was when that signature was made, the signature value included: open it
    to see what was signed.
    """
    with _open(input) as opened, boundary("reading the PDF"):
        reader, stream, _ = _read(opened)
        signatures = list(reader.embedded_signatures)
        if not 1 <= number <= len(signatures):
            raise InvalidInput(f"no signature {number}: the PDF has {len(signatures)}")
        end = _covered_end(signatures[number - 1])
        if end is None:
            raise InvalidInput(f"signature {number} has a malformed byte range")
        stream.seek(0)
        return stream.read(end)


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


def _read(stream: IO[bytes]) -> tuple[PdfFileReader, IO[bytes], StructureProblem | None]:
    """pyHanko's reader on ``stream``; when the whole file cannot be read, on its longest readable prefix.

    pyHanko looks for ``%%EOF`` in the last kilobyte only and follows the last ``startxref``: more
    than 1 KB appended, or ``startxref 0`` and a new ``%%EOF``, make the file unreadable to it while a
    repairing reader shows the appended objects. The prefix ending at an earlier ``%%EOF`` is then
    verified, and everything after it is reported as unaccounted for (TOTAL-FAILED), not refused.
    """
    try:
        return PdfFileReader(stream, strict=False), stream, None
    except Exception as first:
        stream.seek(0)
        data = stream.read()
        end = len(data)
        for _ in range(MAX_EOF_RETRIES):
            marker = data.rfind(b"%%EOF", 0, end)
            if marker < 0:
                break
            cut = marker + 5
            cut += 2 if data[cut : cut + 2] == b"\r\n" else 1 if data[cut : cut + 1] in (b"\r", b"\n") else 0
            prefix = io.BytesIO(data[:cut])
            try:
                reader = PdfFileReader(prefix, strict=False)
            except Exception:  # try the %%EOF before this one
                end = marker
                continue
            if cut >= len(data) or not data[cut:].strip(b"\x00\t\n\x0c\r "):
                raise first  # the prefix is the whole file: unreadable for another reason
            return (
                reader,
                prefix,
                StructureProblem(
                    cut,
                    f"{len(data) - cut} byte(s) after the last revision that can be read (offset {cut}); a "
                    "repairing reader would use them",
                ),
            )
        raise first


def _covered_end(sig: EmbeddedPdfSignature) -> int | None:
    try:
        start, _first, second, length = (int(v) for v in sig.sig_object["/ByteRange"])
    except Exception:
        return None
    return second + length if start == 0 else None


def _structure(
    reader: PdfFileReader, stream: IO[bytes], signatures: list[EmbeddedPdfSignature]
) -> list[StructureProblem]:
    ends = [e for e in (_covered_end(s) for s in signatures) if e is not None]
    if not ends:
        return []
    return check_structure(reader, stream, signed_end=min(ends))


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
    # pyHanko parses each /Contents (CMS) with asn1crypto as soon as the signatures are listed: check first.
    for value in values:
        contents = value.get_object().get("/Contents") if value is not None else None
        if isinstance(contents, bytes):
            check_der(contents)


@dataclass
class _Revinfo:
    """Certificates, CRLs and OCSP responses from one source."""

    certs: list[Any]
    crls: list[asn1_crl.CertificateList]
    ocsps: list[asn1_ocsp.OCSPResponse]

    @classmethod
    def supplied(cls, crls: Iterable[bytes], ocsps: Iterable[bytes]) -> _Revinfo:
        try:
            crls, ocsps = [bytes(c) for c in crls], [bytes(o) for o in ocsps]
            for der in (*crls, *ocsps):
                check_der(der)
            crl_list = [asn1_crl.CertificateList.load(c) for c in crls]
            ocsp_list = [asn1_ocsp.OCSPResponse.load(o) for o in ocsps]
            for c in crl_list:
                _ = c["tbs_cert_list"]["this_update"].native
            for o in ocsp_list:
                _ = o["response_status"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"a supplied CRL or OCSP response cannot be read: {exc}") from None
        return cls([], crl_list, ocsp_list)


def _dss_streams(reader: PdfFileReader) -> Iterable[bytes]:
    """The data of every certificate, CRL and OCSP stream the DSS (and its VRI entries) names."""
    dss = reader.root.get("/DSS")
    if not isinstance(dss, generic.DictionaryObject):
        return
    holders = [dss]
    vri = dss.get("/VRI")
    if isinstance(vri, generic.DictionaryObject):
        holders += [v for v in vri.values() if isinstance(v, generic.DictionaryObject)]
    for holder in holders:
        for key in ("/Certs", "/CRLs", "/OCSPs", "/Cert", "/CRL", "/OCSP"):
            refs = holder.get(key)
            for ref in refs if isinstance(refs, generic.ArrayObject) else ():
                stream = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
                if isinstance(stream, generic.StreamObject):
                    yield stream.data


def _embedded_material(reader: PdfFileReader) -> _Revinfo:
    try:
        for data in _dss_streams(reader):  # pyHanko parses these with asn1crypto: check first
            check_der(data)
        dss = DocumentSecurityStore.read_dss(reader)
        certs = list(dss.load_certs())
        ocsps = [
            asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE)) for ref in dss.ocsps
        ]
        crls = [asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)) for ref in dss.crls]
    except Exception:  # no DSS, or a damaged one: validate without it
        return _Revinfo([], [], [])
    return _Revinfo(certs, crls, ocsps)


def _cms_material(sig: EmbeddedPdfSignature) -> _Revinfo:
    """Certificates of the CMS and its ``adbe-revocationInfoArchival`` signed attribute (PAdES allows it)."""
    certs = [c.chosen for c in sig.signed_data["certificates"] if c.name == "certificate"]
    crls: list[asn1_crl.CertificateList] = []
    ocsps: list[asn1_ocsp.OCSPResponse] = []
    try:
        for attr in sig.signer_info["signed_attrs"]:
            if attr["type"].native != "adobe_revocation_info_archival":
                continue
            for value in attr["values"]:
                crls += list(value["crl"] or [])
                ocsps += [o for o in (value["ocsp"] or []) if isinstance(o, asn1_ocsp.OCSPResponse)]
    except (KeyError, ValueError, TypeError):  # a malformed attribute carries nothing usable
        pass
    return _Revinfo(certs, crls, ocsps)


class _Verifier:
    def __init__(
        self,
        anchors: list[x509.Certificate],
        at: datetime | None,
        allow_fetching: bool,
        reveal: bool,
        embedded: _Revinfo,
        supplied: _Revinfo,
        signatures: list[EmbeddedPdfSignature],
        reader: PdfFileReader,
        problems: list[StructureProblem],
    ) -> None:
        self.anchors = anchors
        self.at = at
        self.allow_fetching = allow_fetching
        self.reveal = reveal
        self.embedded = embedded
        self.supplied = supplied
        self.signatures = signatures
        self.reader = reader
        self.problems = problems
        self._contexts: dict[tuple[datetime | None, bool, str], Any] = {}

    def context(self, *, moment: datetime | None, retroactive: bool = False, revocation: str = "require") -> Any:
        """One validation context per setting ("require" mode unless said), shared by every signature.

        Building one costs about as much as checking a signature (roots registered, embedded
        material indexed), and a context caches the paths and revocation answers it finds.
        """
        key = (moment, retroactive, revocation)
        if key not in self._contexts:
            self._contexts[key] = validation_context(
                self.anchors,
                other_certs=self.embedded.certs,
                moment=moment,
                allow_fetching=self.allow_fetching and revocation != "none",
                revocation_mode=revocation,
                crls=self.embedded.crls + self.supplied.crls,
                ocsps=self.embedded.ocsps + self.supplied.ocsps,
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
                format="PAdES",
                signature_id=name,
                indication=Indication.TOTAL_FAILED,
                sub_indication=SubIndication.FORMAT_FAILURE,
                validation_time=self.at or datetime.now(UTC),
                errors=(f"the signature cannot be read: {exc.__class__.__name__}: {exc}",),
            )

    def _unaccounted(self, sig: EmbeddedPdfSignature) -> list[str]:
        """The structure problems that lie after what ``sig`` covers."""
        end = _covered_end(sig)
        return [p.message for p in self.problems if end is None or p.offset >= end]

    def _changes(self, sig: EmbeddedPdfSignature) -> tuple[ChangeInfo, ...]:
        """What changed after ``sig``: bytes no revision accounts for first, then the listed changes."""
        unaccounted = tuple(
            ChangeInfo(kind="unaccounted_bytes", visible=True, description=message)
            for message in self._unaccounted(sig)
        )
        return unaccounted + self._listed_changes(sig)

    def _listed_changes(self, sig: EmbeddedPdfSignature) -> tuple[ChangeInfo, ...]:
        later = [
            ("timestamp" if s.sig_object_type == "/DocTimeStamp" else "signature", str(s.field_name))
            for s in self.signatures
            if s.signed_revision > sig.signed_revision
        ]
        try:
            return tuple(changes_after(self.reader, sig.signed_revision, later))
        except Exception as exc:  # a listing that cannot be made must not hide the verdict
            why = f"the changes after signing could not be listed ({exc.__class__.__name__})"
            return (ChangeInfo(kind="other", visible=True, description=why),)

    async def _signature(self, sig: EmbeddedPdfSignature, name: str) -> ValidationReport:
        cert = from_asn1(sig.signer_cert)
        cms = _cms_material(sig)
        moment = self.at
        # pyHanko checks the CMS, the signer's path and key usage and the signature time-stamp, in
        # "require" mode (revocation data for every certificate below the anchor, read whether or not
        # the certificate names where to look). When it trusts the signer, its answer stands and the
        # report names the CRL/OCSP answer that covers the signer; otherwise esign.trust says precisely
        # why (REVOKED, TRY_LATER, ...). Deciding twice on every signature cost a third of a verification.
        context = self.context(moment=moment) if not (cms.crls or cms.ocsps) else self._context_with(cms, moment)
        status = await async_validate_pdf_signature(sig, context, self.context(moment=moment))
        if status.trusted:
            path = PathValidation(
                indication=Indication.TOTAL_PASSED,
                at=moment,
                revocation=self._describe_revocation(cert, status, context, cms, moment),
            )
        else:
            path = await self._path(cert, cms, moment)
        warnings: list[str] = list(path.warnings)
        ts = status.timestamp_validity
        ts_ok = ts is not None and bool(ts.valid and ts.intact and ts.trusted)
        stamped = ts is not None and bool(ts.valid and ts.intact)
        if (
            not path.passed
            and path.sub_indication is not None
            and path.sub_indication.value in _PAST
            and stamped
            and _carries_revinfo(cert, self.embedded, cms)
        ):
            # Expired now, or the file's revocation data is past its nextUpdate: the signature time-stamp
            # proves when it was signed, so validate signer and TSA at that moment with the file's data,
            # issued after it (ETSI EN 319 102-1 past signature validation; the PAdES B-LT idea). A
            # revocation after that moment does not undo the signature; one dated before it would be in
            # newer data only: --fetch asks for it.
            assert ts is not None
            moment = ts.timestamp
            past = self.context(moment=moment, retroactive=True)
            status = await async_validate_pdf_signature(sig, past, past)
            ts = status.timestamp_validity
            ts_ok = ts is not None and bool(ts.valid and ts.intact and ts.trusted)
            path = _from_pyhanko(status, moment)
            if path.passed:
                path = replace(path, revocation=self._describe_revocation(cert, status, past, cms, moment))
            warnings.append(
                f"validated at the signature time-stamp's time {moment.isoformat()} with the revocation "
                "data in the file; the current status was not checked (--fetch asks for it)"
            )
        indication, sub, errors = _verdict(status, path, ts_ok, self._unaccounted(sig))
        timestamps = []
        if ts is not None:
            timestamps.append(_ts_info("signature", ts))
        doc_ts = await self._later_document_timestamps(sig)
        timestamps += doc_ts
        changes = self._changes(sig)
        return ValidationReport(
            format="PAdES" if sig.sig_object.get("/SubFilter") == PADES_SUBFILTER else "CAdES",
            signature_id=name,
            indication=indication,
            sub_indication=sub,
            signer=SignerInfo.from_certificate(cert, reveal=self.reveal),
            claimed_signing_time=status.signer_reported_dt,
            timestamps=tuple(timestamps),
            trust_path=_names(path) or _trust_path(status.validation_path),
            trust_anchor=_anchor_name(path) or _anchor(status.validation_path),
            revocation=path.revocation or _revocation_fallback(path),
            digest_algorithm=status.md_algorithm,
            signature_algorithm=sig.signer_info["signature_algorithm"]["algorithm"].native,
            coverage=_COVERAGE.get(status.coverage) if status.coverage is not None else None,
            modifications="other" if self._unaccounted(sig) else _modifications(status),
            modifications_allowed=False if self._unaccounted(sig) else _allowed(status),
            changes=changes,
            level=_level(sig, status, _carries_revinfo(cert, self.embedded, cms), doc_ts),
            validation_time=moment or status.validation_time or datetime.now(UTC),
            errors=tuple(errors),
            warnings=tuple(warnings),
        )

    def _context_with(self, cms: _Revinfo, moment: datetime | None) -> Any:
        """A context that also holds the revocation data of one signature's CMS."""
        return validation_context(
            self.anchors,
            other_certs=self.embedded.certs,
            moment=moment,
            allow_fetching=self.allow_fetching,
            revocation_mode="require",
            crls=self.embedded.crls + self.supplied.crls + cms.crls,
            ocsps=self.embedded.ocsps + self.supplied.ocsps + cms.ocsps,
        )

    def _describe_revocation(
        self, cert: x509.Certificate, status: PdfSignatureStatus, context: Any, cms: _Revinfo, moment: datetime | None
    ) -> RevocationInfo | None:
        """Which CRL or OCSP answer covers the signer, after pyHanko accepted it in "require" mode.

        certvalidator does not say which one it used; the freshest one about the signer that was
        issued by the validation time is named (OCSP first, as certvalidator tries it first).
        """
        path = status.validation_path
        if path is None or path.pkix_len == 0:
            return None  # the signer is itself a trust anchor
        try:
            issuer = from_asn1(list(path.iter_certs(include_root=True))[-2])
        except (IndexError, ValueError):
            return None
        sources = {x.dump(): "embedded" for x in [*self.embedded.crls, *self.embedded.ocsps, *cms.crls, *cms.ocsps]}
        sources.update({x.dump(): "supplied" for x in [*self.supplied.crls, *self.supplied.ocsps]})
        return describe_revocation(cert, issuer, context.crls, context.ocsps, sources, moment or datetime.now(UTC))

    async def _path(self, cert: x509.Certificate, cms: _Revinfo, moment: datetime | None) -> PathValidation:
        """The signer's path and revocation, decided by :mod:`esign.trust` in "require" mode."""
        source = "embedded" if not (self.supplied.crls or self.supplied.ocsps) else "embedded or supplied"
        return await async_validate_path(
            cert,
            at=moment,
            anchors=self.anchors,
            intermediates=[*cms.certs, *self.embedded.certs],
            crls=[*self.embedded.crls, *cms.crls, *self.supplied.crls],
            ocsps=[*self.embedded.ocsps, *cms.ocsps, *self.supplied.ocsps],
            revocation="require",
            allow_fetching=self.allow_fetching,
            usage="signing",
            revinfo_source=source,
        )

    async def _later_document_timestamps(self, sig: EmbeddedPdfSignature) -> list[TimestampInfo]:
        infos = []
        for other in self.signatures:
            if other.sig_object_type == "/DocTimeStamp" and other.signed_revision > sig.signed_revision:
                try:
                    ts_status = await async_validate_pdf_timestamp(
                        other, validation_context=self.context(moment=self.at)
                    )
                except Exception:  # a broken one is reported on its own; here it proves nothing
                    ts_status = None
                if ts_status is not None:
                    infos.append(_ts_info("document", ts_status))
        return infos

    async def _document_timestamp(self, sig: EmbeddedPdfSignature, name: str) -> ValidationReport:
        context = self.context(moment=self.at)
        status = await async_validate_pdf_timestamp(sig, validation_context=context)
        errors: list[str] = []
        unaccounted = self._unaccounted(sig)
        allowed = _allowed(status)
        if not status.intact:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
            errors.append("the document time-stamp does not match the document")
        elif not status.valid:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
            errors.append("the time-stamp token's signature does not verify")
        elif unaccounted:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
            errors += unaccounted
        elif allowed is False:
            indication, sub = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
            errors.append(
                f"the document was changed after the time-stamp in a way that is not allowed ({_modifications(status)})"
            )
        elif not status.trusted:
            indication, sub = Indication.INDETERMINATE, _sub(status) or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            errors.append(
                f"the time-stamping authority does not chain to a trust anchor with revocation data ({sub.value})"
            )
        else:
            indication, sub = Indication.TOTAL_PASSED, None
        cert = from_asn1(sig.signer_cert)
        return ValidationReport(
            format="PAdES",
            signature_id=f"{name} (document time-stamp)",
            kind="timestamp",
            indication=indication,
            sub_indication=sub,
            signer=SignerInfo.from_certificate(cert, reveal=self.reveal),
            timestamps=(_ts_info("document", status),),
            trust_path=_trust_path(status.validation_path),
            trust_anchor=_anchor(status.validation_path),
            digest_algorithm=status.md_algorithm,
            coverage=_COVERAGE.get(status.coverage) if status.coverage is not None else None,
            modifications="other" if unaccounted else _modifications(status),
            modifications_allowed=False if unaccounted else allowed,
            changes=self._changes(sig),
            validation_time=self.at or datetime.now(UTC),
            errors=tuple(errors),
        )


def _with_rendering(
    reports: list[ValidationReport], signatures: list[EmbeddedPdfSignature], stream: IO[bytes]
) -> list[ValidationReport]:
    """Add a ``rendering`` change for each page that looks different from each signed revision."""
    stream.seek(0)
    current = stream.read()
    out = []
    for report, sig in zip(reports, signatures, strict=True):
        end = _covered_end(sig)
        if end is None or end >= len(current.rstrip(b"\x00\t\n\x0c\r ")):
            out.append(report)
            continue
        try:
            pages = render_differences(current[:end], current)
        except (OSError, subprocess.SubprocessError) as exc:  # no Poppler, or a page that will not render
            why = f"the pages could not be rendered to compare them ({exc.__class__.__name__})"
            out.append(
                replace(report, changes=(*report.changes, ChangeInfo(kind="rendering", visible=True, description=why)))
            )
            continue
        extra = tuple(
            ChangeInfo(
                kind="rendering", page=n, visible=True, description=f"page {n} looks different from the signed revision"
            )
            for n in pages
        )
        out.append(replace(report, changes=report.changes + extra))
    return out


def _allowed(status: Any) -> bool | None:
    """Whether the changes after signing are allowed, by pyHanko's analysis; None if not analysed.

    pyHanko leaves ``docmdp_ok`` unset for document time-stamps: then everything but OTHER is allowed.
    """
    level = status.modification_level
    if level is None:
        coverage = status.coverage
        if coverage is None or coverage == SignatureCoverageLevel.ENTIRE_REVISION:
            return None
        return bool(coverage == SignatureCoverageLevel.ENTIRE_FILE)
    if status.docmdp_ok is not None:
        return bool(status.docmdp_ok)
    return bool(level != ModificationLevel.OTHER)


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


def _from_pyhanko(status: PdfSignatureStatus, moment: datetime) -> PathValidation:
    """pyHanko's trust verdict (used for the validation at a time-stamp's time) as a PathValidation."""
    if status.trusted:
        return PathValidation(indication=Indication.TOTAL_PASSED, at=moment)
    details = status.revocation_details
    if status.revoked and details is not None and not details.ca_revoked:
        revoked = RevocationInfo(
            status=RevocationStatus.REVOKED,
            source="embedded",
            revoked_at=details.revocation_date,
            reason=str(details.revocation_reason.native),
        )
        return PathValidation(
            indication=Indication.TOTAL_FAILED,
            sub_indication=SubIndication.REVOKED,
            at=moment,
            revocation=revoked,
            message=f"revoked on {details.revocation_date.isoformat()}",
        )
    sub = _sub(status) or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    indication = Indication.TOTAL_FAILED if sub.value in _FAILED_TRUST else Indication.INDETERMINATE
    return PathValidation(
        indication=indication,
        sub_indication=sub,
        at=moment,
        message=f"the signer's certificate is not trusted at {moment.isoformat()}",
    )


def _verdict(
    status: PdfSignatureStatus, path: PathValidation, ts_ok: bool, unaccounted: list[str]
) -> tuple[Indication, SubIndication | None, list[str]]:
    if not status.intact:
        return (
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
            ["the signed bytes changed: the document digest does not match the signature"],
        )
    if not status.valid:
        return (
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            ["the signature value does not verify with the signer's public key"],
        )
    if status.coverage is not None and status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return (
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            ["the signature does not cover its whole revision (byte-range manipulation)"],
        )
    if unaccounted:
        return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, unaccounted
    if _allowed(status) is False:
        return (
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            [
                f"the document was modified after signing in a way that is not allowed "
                f"({_modifications(status)}): {status.diff_result}"
            ],
        )
    if path.sub_indication is SubIndication.REVOKED:
        revoked_at = path.revocation.revoked_at if path.revocation else None
        ts = status.timestamp_validity
        if ts_ok and ts is not None and revoked_at is not None and ts.timestamp < revoked_at:
            return (
                Indication.INDETERMINATE,
                SubIndication.REVOKED_NO_POE,
                [
                    f"the signer's certificate was revoked on {revoked_at.isoformat()}, after the signature "
                    f"time-stamp ({ts.timestamp.isoformat()}); the signature may predate the revocation"
                ],
            )
        when = f" on {revoked_at.isoformat()}" if revoked_at else ""
        return Indication.TOTAL_FAILED, SubIndication.REVOKED, [f"the signer's certificate is revoked{when}"]
    if not path.passed:
        why: SubIndication = path.sub_indication or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
        return path.indication, why, [f"the signer's certificate is not trusted ({why.value}): {path.message}"]
    if not status.trusted:  # pyHanko's own checks of the signer certificate (e.g. key usage for PDF)
        sub = _sub(status) or SubIndication.CHAIN_CONSTRAINTS_FAILURE
        indication = Indication.TOTAL_FAILED if sub.value in _FAILED_TRUST else Indication.INDETERMINATE
        return indication, sub, [f"pyHanko does not accept the signer's certificate ({sub.value})"]
    ts = status.timestamp_validity
    if ts is not None and not ts_ok:
        return (
            Indication.INDETERMINATE,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            ["the signature time-stamp is invalid, or its TSA is not trusted or has no revocation data"],
        )
    if not status.seed_value_ok:
        return (
            Indication.INDETERMINATE,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            [f"the signature breaks the field's seed-value constraints: {status.seed_value_constraint_error}"],
        )
    return Indication.TOTAL_PASSED, None, []


def _modifications(status: Any) -> str | None:
    level = status.modification_level
    return level.name.lower() if level is not None else None


def _revocation_fallback(path: PathValidation) -> RevocationInfo | None:
    if len(path.path) == 1 and path.passed:
        return None  # the signer is itself a trust anchor
    if path.sub_indication is SubIndication.TRY_LATER:
        return RevocationInfo(status=RevocationStatus.UNKNOWN, reason=path.message)
    return None


def _names(path: PathValidation) -> tuple[str, ...]:
    """Common names from the signer up to the anchor (whole subjects could carry personal numbers)."""
    names = []
    for cert in path.path:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names.append(str(cns[0].value) if cns else cert.subject.rfc4514_string())
    return tuple(names) if path.passed else ()


def _anchor_name(path: PathValidation) -> str | None:
    if path.anchor is None or not path.passed:
        return None
    return path.anchor.subject.rfc4514_string()


def _ts_info(kind: str, ts: TimestampSignatureStatus) -> TimestampInfo:
    cns = ts.signing_cert.subject.native.get("common_name") if ts.signing_cert is not None else None
    return TimestampInfo(
        kind=kind,
        time=ts.timestamp,
        tsa=str(cns or ts.signing_cert.subject.human_friendly),
        valid=bool(ts.intact and ts.valid),
        trusted=bool(ts.trusted),
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


def describe_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Iterable[asn1_crl.CertificateList],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
    sources: dict[bytes, str],
    moment: datetime,
) -> RevocationInfo | None:
    """The freshest OCSP answer (else CRL) about ``cert`` issued by ``moment``, as a GOOD RevocationInfo.

    Only answers signed for ``issuer`` count (a forged one in the file must not be named as evidence).
    """
    limit = moment + timedelta(seconds=1)
    issuer_der = cert.issuer.public_bytes()
    best: tuple[datetime, int, RevocationInfo] | None = None
    for resp in ocsps:
        try:
            if not _ocsp_signed_for(resp, issuer):
                continue
            data = resp["response_bytes"]["response"].parsed["tbs_response_data"]
            for single in data["responses"]:
                cert_id = single["cert_id"]
                algo = cert_id["hash_algorithm"]["algorithm"].native
                if (
                    cert_id["serial_number"].native != cert.serial_number
                    or hashlib.new(algo, issuer_der).digest() != cert_id["issuer_name_hash"].native
                ):
                    continue
                this_update = single["this_update"].native
                if this_update > limit:
                    continue
                info = RevocationInfo(
                    status=RevocationStatus.GOOD,
                    source=sources.get(resp.dump(), "fetched"),
                    kind="ocsp",
                    produced_at=data["produced_at"].native,
                    this_update=this_update,
                    next_update=single["next_update"].native,
                )
                if best is None or (1, this_update) > (best[1], best[0]):
                    best = (this_update, 1, info)
        except (KeyError, ValueError, TypeError):  # an unreadable answer describes nothing
            continue
    for crl in crls:
        tbs = crl["tbs_cert_list"]
        if tbs["issuer"].dump() != issuer_der:
            continue
        this_update = tbs["this_update"].native
        if this_update > limit or (best is not None and best[1] == 1) or not _crl_signed_by(crl, issuer):
            continue
        info = RevocationInfo(
            status=RevocationStatus.GOOD,
            source=sources.get(crl.dump(), "fetched"),
            kind="crl",
            produced_at=this_update,
            this_update=this_update,
            next_update=tbs["next_update"].native,
            issuer=tbs["issuer"].human_friendly,
        )
        if best is None or this_update > best[0]:
            best = (this_update, 0, info)
    return best[2] if best else None


def _crl_signed_by(crl: asn1_crl.CertificateList, issuer: x509.Certificate) -> bool:
    try:
        key = issuer.public_key()
        return bool(x509.load_der_x509_crl(crl.dump()).is_signature_valid(key))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False


def _ocsp_signed_for(resp: asn1_ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Whether the OCSP answer is signed by ``issuer`` or by a responder ``issuer`` certified for it."""
    try:
        answer = x509_ocsp.load_der_ocsp_response(resp.dump())
        if answer.response_status is not x509_ocsp.OCSPResponseStatus.SUCCESSFUL:
            return False
        signers = [issuer]
        for candidate in answer.certificates:
            try:
                candidate.verify_directly_issued_by(issuer)
                eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                continue
            if x509.ExtendedKeyUsageOID.OCSP_SIGNING in eku:
                signers.append(candidate)
        hash_algorithm = answer.signature_hash_algorithm
        for signer in signers:
            key = signer.public_key()
            try:
                if isinstance(key, rsa.RSAPublicKey) and hash_algorithm is not None:
                    key.verify(answer.signature, answer.tbs_response_bytes, padding.PKCS1v15(), hash_algorithm)
                elif isinstance(key, ec.EllipticCurvePublicKey) and hash_algorithm is not None:
                    key.verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(hash_algorithm))
                else:
                    continue
                return True
            except InvalidSignature:
                continue
    except (ValueError, TypeError):
        return False
    return False


def _carries_revinfo(cert: x509.Certificate, *sources: _Revinfo) -> bool:
    """Whether the file (DSS or CMS) holds a CRL of the signer's issuer or an OCSP answer on its serial."""
    issuer = cert.issuer.public_bytes()
    for source in sources:
        if any(c["tbs_cert_list"]["issuer"].dump() == issuer for c in source.crls):
            return True
        for resp in source.ocsps:
            try:
                singles = resp["response_bytes"]["response"].parsed["tbs_response_data"]["responses"]
                if any(single["cert_id"]["serial_number"].native == cert.serial_number for single in singles):
                    return True
            except (KeyError, ValueError, TypeError):  # an unreadable answer carries nothing
                continue
    return False


def _level(
    sig: EmbeddedPdfSignature, status: PdfSignatureStatus, carries_revinfo: bool, doc_ts: list[TimestampInfo]
) -> str | None:
    """The PAdES baseline level the file's structure reaches (validity is the indication's business)."""
    if sig.sig_object.get("/SubFilter") != PADES_SUBFILTER:
        return None
    level = "B-B"
    ts = status.timestamp_validity
    if ts is None or not (ts.intact and ts.valid):
        return level
    level = "B-T"
    if not carries_revinfo:
        return level
    level = "B-LT"
    if any(t.valid for t in doc_ts):
        level = "B-LTA"
    return level


__all__ = ["MAX_SIGNATURES", "async_verify_pdf", "signed_revision", "verify_pdf"]
