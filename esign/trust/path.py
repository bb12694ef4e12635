"""Certificate path validation at a given time, on pyhanko-certvalidator: the one engine for PDF, XML and the server.

:func:`validate_path` builds and checks (RFC 5280 section 6) the path from a certificate to an anchor,
with the caller's intermediates and revocation data (CRLs, OCSP responses: embedded in a document,
supplied, or fetched when ``allow_fetching`` is set — which also follows the certificates' caIssuers
AIA links), and answers in ETSI EN 319 102-1 terms (:class:`PathValidation`). It never raises on a
certificate that does not validate: the answer says why.

Revocation modes (``revocation=``):

* ``"require"`` (the default): every certificate below the anchor needs a CRL or OCSP answer that
  covers the validation time; none at all gives INDETERMINATE/TRY_LATER. Supplied CRLs are read even
  for certificates that name no distribution point.
* ``"hard-fail"``: checked when the certificate names where to look, or when data is supplied and usable.
* ``"soft-fail"``: as hard-fail, but an unreachable responder is not a failure.
* ``"none"``: not checked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias, TypeVar

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from esign.thirdparty import quiet_imports

# quiet_imports gives certvalidator's loggers their NullHandler: a failed path build is in the report,
# not a traceback on stderr (esign.thirdparty).
with quiet_imports():
    from pyhanko_certvalidator import CertificateValidator, PKIXValidationParams, ValidationContext
    from pyhanko_certvalidator.errors import (
        DisallowedAlgorithmError,
        ExpiredError,
        InsufficientPOEError,
        InsufficientRevinfoError,
        InvalidCertificateError,
        NotYetValidError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
        StaleRevinfoError,
        ValidationError,
    )
    from pyhanko_certvalidator.path import ValidationPath
    from pyhanko_certvalidator.policy_decl import AlgorithmUsagePolicy
    from pyhanko_certvalidator.revinfo.archival import (
        CRLContainer,
        OCSPContainer,
        RevinfoContainer,
        RevinfoUsabilityRating,
        sort_freshest_first,
    )
    from pyhanko_certvalidator.revinfo.validate_crl import collect_relevant_crls_with_paths
    from pyhanko_certvalidator.revinfo.validate_ocsp import collect_relevant_responses_with_paths

from esign.der_limits import check_der
from esign.errors import InvalidInput
from esign.report import Indication, RevocationInfo, RevocationStatus, SubIndication
from esign.trust.store import bundled_store, default_store

FETCH_TIMEOUT = 10
"""Seconds to wait for an OCSP responder, a CRL distribution point or a caIssuers URL."""

REVOCATION_MODES = ("require", "hard-fail", "soft-fail", "none")

USAGES = ("signing", "timestamping", "any")

CrlInput: TypeAlias = bytes | asn1_crl.CertificateList
OcspInput: TypeAlias = bytes | asn1_ocsp.OCSPResponse
CertInput: TypeAlias = x509.Certificate | asn1_x509.Certificate | bytes

T = TypeVar("T")


def to_asn1(cert: CertInput) -> asn1_x509.Certificate:
    """The asn1crypto form of a certificate (certvalidator's currency) from either library's form or DER."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    if isinstance(cert, x509.Certificate):
        cert = cert.public_bytes(Encoding.DER)
    check_der(cert)
    return asn1_x509.Certificate.load(cert)


PARSED_BUDGET = 256 * 1024
"""DER bytes of certificates and CRLs whose parsed forms each thread keeps for the next validation."""
PARSED_LARGEST = 64 * 1024
"""A certificate or CRL larger than this is parsed afresh every time (a big CRL's parsed form is large)."""

_parsed = threading.local()

P = TypeVar("P", asn1_x509.Certificate, asn1_crl.CertificateList)


def _reused(der: bytes, kind: type[P]) -> P:
    """``kind.load(der)``, kept per thread for the next call with the same bytes.

    A certvalidator context over fresh asn1crypto objects normalises every name again (RFC 5280
    string preparation): ~1.5 ms of a ~4 ms path validation with the dev PKI. The object kept is
    fully parsed first (``.native``, the extensions), so nothing is left to parse lazily; what does not
    parse completely is never kept and is loaded afresh, as before. Per thread, so that no two threads
    share an object whose caches asn1crypto fills lazily; coroutines of one thread do not interleave
    inside that synchronous code.
    """
    if len(der) > PARSED_LARGEST:
        check_der(der)
        return kind.load(der)
    cache: OrderedDict[tuple[type, bytes], Any] | None = getattr(_parsed, "cache", None)
    if cache is None:
        cache = _parsed.cache = OrderedDict()
        _parsed.size = 0
    key = (kind, der)
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
        return found
    check_der(der)  # hostile DER: refused before asn1crypto spins on it (esign.der_limits)
    parsed = kind.load(der)
    try:
        _ = parsed.native, parsed.critical_extensions
    except Exception:  # damaged deeper than certvalidator may look: not kept, loaded afresh as before
        return kind.load(der)
    cache[key] = parsed
    _parsed.size += len(der)
    while _parsed.size > PARSED_BUDGET:
        (_, dropped), _ = cache.popitem(last=False)
        _parsed.size -= len(dropped)
    return parsed


def _parsed_certificate(cert: CertInput) -> asn1_x509.Certificate:
    """:func:`to_asn1`, reusing this thread's parse of the same DER (see :func:`_reused`)."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    der = cert.public_bytes(Encoding.DER) if isinstance(cert, x509.Certificate) else bytes(cert)
    return _reused(der, asn1_x509.Certificate)


def _to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _crypto_path(certs: Iterable[asn1_x509.Certificate]) -> tuple[x509.Certificate, ...]:
    # cryptography refuses a few legal but historical encodings (DSA keys inheriting their parameters,
    # PKITS 4.1.4); such certificates are left out of `path` and still named in `subjects`.
    out = []
    for cert in certs:
        try:
            out.append(_to_crypto(cert))
        except (ValueError, x509.InvalidVersion):
            continue
    return tuple(out)


def _subjects(certs: Iterable[asn1_x509.Certificate]) -> tuple[str, ...]:
    out = []
    for cert in certs:
        try:
            out.append(_to_crypto(cert).subject.rfc4514_string())
        except (ValueError, x509.InvalidVersion):
            out.append(cert.subject.human_friendly)
    return tuple(out)


class _ThreadRunner:
    """An ``asyncio.Runner`` kept for one thread, closed when the thread ends or the interpreter exits."""

    def __init__(self) -> None:
        # With a loop factory the Runner does not make its loop the thread's current one (asyncio.run's
        # semantics for code that asks for the current loop later).
        self.runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        weakref.finalize(self, self.runner.close)


_runners = threading.local()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when an event loop is already running here.

    Each thread keeps one event loop for its calls instead of making and closing one per call.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        held: _ThreadRunner | None = getattr(_runners, "held", None)
        if held is None:
            held = _runners.held = _ThreadRunner()
        return held.runner.run(coro, context=contextvars.copy_context())  # the caller's context, as asyncio.run
    # Called from inside a loop (a server handler calling the sync API): run in a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def validation_context(
    trust_roots: Iterable[x509.Certificate],
    *,
    other_certs: Iterable[CertInput] = (),
    moment: datetime | None = None,
    allow_fetching: bool = False,
    revocation_mode: str = "require",
    crls: Iterable[CrlInput] = (),
    ocsps: Iterable[OcspInput] = (),
    retroactive_revinfo: bool = False,
    algorithm_policy: AlgorithmUsagePolicy | None = None,
    best_signature_time: datetime | None = None,
) -> ValidationContext:
    """A certvalidator ``ValidationContext`` trusting exactly ``trust_roots`` (never the operating system's store).

    ``other_certs`` (intermediates, e.g. from a DSS) may be given in either library's form. With
    ``allow_fetching``, OCSP responders, CRL distribution points and caIssuers (AIA) URLs are
    fetched with ``requests`` (timeout :data:`FETCH_TIMEOUT` per request).
    """
    if revocation_mode not in REVOCATION_MODES:
        raise InvalidInput(f"unknown revocation mode {revocation_mode!r}; use one of {', '.join(REVOCATION_MODES)}")
    kwargs: dict[str, Any] = {}
    if allow_fetching:
        try:
            from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
        except ImportError:  # pragma: no cover - requests is a declared dependency
            raise InvalidInput("fetching revocation data needs the 'requests' package") from None
        kwargs["fetcher_backend"] = RequestsFetcherBackend(per_request_timeout=FETCH_TIMEOUT)
    if algorithm_policy is not None:
        kwargs["algorithm_usage_policy"] = algorithm_policy
    return ValidationContext(
        trust_roots=[_parsed_certificate(c) for c in trust_roots],
        other_certs=[_parsed_certificate(c) for c in other_certs],
        moment=moment,
        best_signature_time=best_signature_time,
        allow_fetching=allow_fetching,
        revocation_mode=revocation_mode,
        crls=list(crls),
        ocsps=list(ocsps),
        retroactive_revinfo=retroactive_revinfo,
        **kwargs,
    )


@dataclass(frozen=True)
class PathValidation:
    """The answer of :func:`validate_path`: an ETSI indication, the path found, and what decided revocation."""

    indication: Indication
    sub_indication: SubIndication | None = None
    path: tuple[x509.Certificate, ...] = ()
    """From the validated certificate (first) to the anchor (last); empty when no path was found."""
    subjects: tuple[str, ...] = ()
    """RFC 4514 subjects along the path, leaf first (also for certificates ``cryptography`` cannot load)."""
    anchor: x509.Certificate | None = None
    revocation: RevocationInfo | None = None
    """The leaf's revocation evidence (None when the leaf is itself an anchor or revocation was not checked)."""
    message: str = ""
    """Why it is not TOTAL-PASSED (English; see :mod:`esign.report` for translations of the indications)."""
    warnings: tuple[str, ...] = ()
    at: datetime | None = None
    """The validation time used."""

    @property
    def passed(self) -> bool:
        """True only for TOTAL-PASSED."""
        return self.indication is Indication.TOTAL_PASSED


PATH_CACHE_SIZE = 512
"""Answers of :func:`validate_path` kept for the next call asking the same question (see :class:`PathCache`)."""
PATH_CACHE_SECONDS = 60.0
"""How long (wall clock) an answer is reused at most, whatever its validity window."""
TIME_MARGIN = timedelta(seconds=2)
"""An answer is not reused this close to a time at which it may change (twice certvalidator's tolerance of 1 s)."""


@dataclass(frozen=True)
class _Cached:
    answer: PathValidation
    start: datetime  # the answer holds for validation times strictly between start and end
    end: datetime
    stored: float  # time.monotonic() when stored


class PathCache:
    """Answers of :func:`validate_path` for repeated questions: the same certificate, intermediates, anchors,
    revocation data (by digest), mode and usage, at a validation time where nothing can have changed.

    Thousands of invoices from one seller carry the same certificates and are checked against the same
    CRLs; certvalidator would rebuild and re-check the same path for each. An answer is reused only

    * for the same question: every input that can change it is in the key, the DER of each certificate,
      CRL and OCSP response included (a new CRL is a new question);
    * at a validation time in the same window as the answer's: no certificate's notBefore/notAfter, no
      CRL's thisUpdate/nextUpdate or revocation date, no OCSP thisUpdate/nextUpdate/producedAt/revocation
      time lies between the two times (nor within :data:`TIME_MARGIN` of either);
    * for :data:`PATH_CACHE_SECONDS` at most (certvalidator dates the revocation data it sees by the clock);
    * never when revocation data may be fetched, or with custom PKIX or algorithm policies.
    """

    def __init__(self, size: int = PATH_CACHE_SIZE, seconds: float = PATH_CACHE_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes, moment: datetime) -> PathValidation | None:
        """The answer stored under ``key`` if it holds at ``moment``, with ``at`` set to ``moment``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry.stored > self.seconds:
                del self._entries[key]
                entry = None
            if entry is None or not entry.start < moment < entry.end:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return dataclasses.replace(entry.answer, at=moment)

    def put(self, key: bytes, answer: PathValidation, moment: datetime, changes: Iterable[datetime]) -> None:
        """Keep ``answer`` (given at ``moment``) for the window between the ``changes`` around ``moment``."""
        start, end = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        for when in changes:
            if when <= moment:
                start = max(start, when)
            else:
                end = min(end, when)
        if start != datetime.min.replace(tzinfo=UTC):
            start += TIME_MARGIN
        if end != datetime.max.replace(tzinfo=UTC):
            end -= TIME_MARGIN
        if not start < moment < end:
            return  # too close to a change: not kept
        with self._lock:
            self._entries[key] = _Cached(answer, start, end, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer (and the counts)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


path_cache = PathCache()
"""The process's :class:`PathCache` (``path_cache.clear()`` forgets; ``hits``/``misses`` count look-ups)."""


def _der(cert: CertInput) -> bytes:
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(Encoding.DER)
    if isinstance(cert, asn1_x509.Certificate):
        return cert.dump()
    return bytes(cert)


def _question_key(
    leaf: bytes,
    others: Iterable[bytes],
    anchors: Iterable[bytes],
    revinfo: Iterable[bytes],
    settings: tuple[str, ...],
) -> bytes:
    """A digest of everything that decides :func:`validate_path`'s answer apart from the time."""
    digest = hashlib.sha256()
    for group in (
        [leaf],
        sorted(set(others)),
        sorted(set(anchors)),
        sorted(set(revinfo)),
        [s.encode() for s in settings],
    ):
        digest.update(len(group).to_bytes(4, "big"))
        for part in group:
            digest.update(len(part).to_bytes(4, "big"))
            digest.update(part)
    return digest.digest()


def _changes(
    certs: Iterable[asn1_x509.Certificate],
    crls: Iterable[asn1_crl.CertificateList],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
) -> list[datetime] | None:
    """Every time at which a validation with these inputs may answer differently (None: cannot tell)."""
    out: list[datetime] = []
    try:
        for cert in certs:
            validity = cert["tbs_certificate"]["validity"]
            out += [validity["not_before"].native, validity["not_after"].native]
        for crl in crls:
            parsed = x509.load_der_x509_crl(crl.dump())  # cryptography: fast over long revocation lists
            out.append(parsed.last_update_utc)
            if parsed.next_update_utc is not None:
                out.append(parsed.next_update_utc)
            out += [entry.revocation_date_utc for entry in parsed]
        for ocsp in ocsps:
            basic = ocsp.basic_ocsp_response
            if basic is None:
                continue
            data = basic["tbs_response_data"]
            out.append(data["produced_at"].native)
            for single in data["responses"]:
                out += [t for t in (single["this_update"].native, single["next_update"].native) if t is not None]
                if single["cert_status"].name == "revoked":
                    out.append(single["cert_status"].chosen["revocation_time"].native)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return [t if t.tzinfo is not None else t.replace(tzinfo=UTC) for t in out]


def validate_path(
    cert: CertInput,
    *,
    at: datetime | None = None,
    anchors: Sequence[x509.Certificate] | None = None,
    intermediates: Iterable[CertInput] = (),
    crls: Iterable[CrlInput] = (),
    ocsps: Iterable[OcspInput] = (),
    revocation: str = "require",
    allow_fetching: bool = False,
    usage: str = "signing",
    revinfo_source: str = "supplied",
    pkix_params: PKIXValidationParams | None = None,
    algorithm_policy: AlgorithmUsagePolicy | None = None,
    retroactive_revinfo: bool = False,
) -> PathValidation:
    """Validate ``cert``'s path to an anchor at time ``at`` (default: now).

    :param anchors: the trust anchors; None → :func:`esign.trust.resolve_anchors` (the default store).
        The bundled intermediates (VNPT-CA, the VGCA state-agencies CA) are always offered to path
        building, never trusted by themselves.
    :param intermediates: certificates that may help build the path (from the signature, a DSS, ...).
    :param crls: CRLs (DER or asn1crypto), read for every certificate of the path.
    :param ocsps: OCSP responses (DER or asn1crypto).
    :param revocation: ``require`` (default), ``hard-fail``, ``soft-fail`` or ``none`` (see the module).
    :param allow_fetching: fetch OCSP/CRLs and missing issuers (caIssuers) over the network.
    :param usage: ``signing`` (key usage digitalSignature or nonRepudiation), ``timestamping``
        (extended key usage timeStamping) or ``any``.
    :param revinfo_source: how to name the supplied CRLs/OCSPs in the report (``embedded``, ``supplied``).
    :param pkix_params: RFC 5280 policy inputs (initial policy set, explicit policy, ...).
    :param retroactive_revinfo: accept revocation data issued after ``at`` as evidence of the status
        at ``at`` (a revocation it lists still counts from its own date). For a time proven by a
        time-stamp, validated later with the data a long-term signature (B-LT) embedded then.
    :raises InvalidInput: for a bad ``revocation``/``usage`` value or unreadable revocation data.
    """
    question = _Question.read(
        cert,
        at=at,
        anchors=anchors,
        intermediates=intermediates,
        crls=crls,
        ocsps=ocsps,
        revocation=revocation,
        allow_fetching=allow_fetching,
        usage=usage,
        revinfo_source=revinfo_source,
        pkix_params=pkix_params,
        algorithm_policy=algorithm_policy,
        retroactive_revinfo=retroactive_revinfo,
    )
    # A question answered a moment ago is answered without an event loop or a certvalidator context.
    return question.cached() or run_sync(question.answer())


async def async_validate_path(
    cert: CertInput,
    *,
    at: datetime | None = None,
    anchors: Sequence[x509.Certificate] | None = None,
    intermediates: Iterable[CertInput] = (),
    crls: Iterable[CrlInput] = (),
    ocsps: Iterable[OcspInput] = (),
    revocation: str = "require",
    allow_fetching: bool = False,
    usage: str = "signing",
    revinfo_source: str = "supplied",
    pkix_params: PKIXValidationParams | None = None,
    algorithm_policy: AlgorithmUsagePolicy | None = None,
    retroactive_revinfo: bool = False,
) -> PathValidation:
    """The asynchronous form of :func:`validate_path` (same parameters)."""
    question = _Question.read(
        cert,
        at=at,
        anchors=anchors,
        intermediates=intermediates,
        crls=crls,
        ocsps=ocsps,
        revocation=revocation,
        allow_fetching=allow_fetching,
        usage=usage,
        revinfo_source=revinfo_source,
        pkix_params=pkix_params,
        algorithm_policy=algorithm_policy,
        retroactive_revinfo=retroactive_revinfo,
    )
    return question.cached() or await question.answer()


@dataclass(frozen=True)
class _Question:
    """One :func:`validate_path` question, its inputs read (and refused when unreadable)."""

    cert: CertInput
    moment: datetime
    anchors: Sequence[x509.Certificate]
    others: list[CertInput]
    crls: list[asn1_crl.CertificateList]
    ocsps: list[asn1_ocsp.OCSPResponse]
    supplied: set[bytes]
    options: dict[str, Any]
    key: bytes | None
    """Its :data:`path_cache` key; None when its answer is never kept (fetching, custom policies)."""

    @classmethod
    def read(
        cls,
        cert: CertInput,
        *,
        at: datetime | None,
        anchors: Sequence[x509.Certificate] | None,
        intermediates: Iterable[CertInput],
        crls: Iterable[CrlInput],
        ocsps: Iterable[OcspInput],
        revocation: str,
        allow_fetching: bool,
        usage: str,
        revinfo_source: str,
        pkix_params: PKIXValidationParams | None,
        algorithm_policy: AlgorithmUsagePolicy | None,
        retroactive_revinfo: bool,
    ) -> _Question:
        if usage not in USAGES:
            raise InvalidInput(f"unknown certificate usage {usage!r}; use one of {', '.join(USAGES)}")
        # The bundled intermediates help build paths whatever the anchors (never trusted by themselves):
        # Vietnamese signatures often carry only the signer's certificate.
        others = [*intermediates, *bundled_store().intermediates]
        if anchors is None:
            anchors = default_store().certificates()
        crl_list = [_load_crl(c) for c in crls]
        ocsp_list = [_load_ocsp(o) for o in ocsps]
        supplied = {c.dump() for c in crl_list} | {o.dump() for o in ocsp_list}
        key = None
        if not allow_fetching and pkix_params is None and algorithm_policy is None:
            settings = (revocation, usage, revinfo_source, str(retroactive_revinfo))
            try:
                key = _question_key(_der(cert), map(_der, others), map(_der, anchors), supplied, settings)
            except (ValueError, TypeError):
                key = None  # unreadable input: answered (refused) by the validation itself, never kept
        options = {
            "revocation": revocation,
            "allow_fetching": allow_fetching,
            "usage": usage,
            "revinfo_source": revinfo_source,
            "pkix_params": pkix_params,
            "algorithm_policy": algorithm_policy,
            "retroactive_revinfo": retroactive_revinfo,
        }
        moment = at or datetime.now(UTC)
        return cls(cert, moment, anchors, others, crl_list, ocsp_list, supplied, options, key)

    def cached(self) -> PathValidation | None:
        """The answer kept for this question at this time, if any."""
        return path_cache.get(self.key, self.moment) if self.key is not None else None

    async def answer(self) -> PathValidation:
        """Validate, and keep the answer for the window in which it cannot change."""
        answer = await _validate(
            self.cert, self.moment, self.anchors, self.others, self.crls, self.ocsps, self.supplied, **self.options
        )
        if self.key is not None:
            certs = [_parsed_certificate(c) for c in (self.cert, *self.others, *self.anchors)]
            changes = _changes(certs, self.crls, self.ocsps)
            if changes is not None:
                path_cache.put(self.key, answer, self.moment, changes)
        return answer


async def _validate(
    cert: CertInput,
    moment: datetime,
    anchors: Sequence[x509.Certificate],
    others: list[CertInput],
    crl_list: list[asn1_crl.CertificateList],
    ocsp_list: list[asn1_ocsp.OCSPResponse],
    supplied: set[bytes],
    *,
    revocation: str,
    allow_fetching: bool,
    usage: str,
    revinfo_source: str,
    pkix_params: PKIXValidationParams | None,
    algorithm_policy: AlgorithmUsagePolicy | None,
    retroactive_revinfo: bool,
) -> PathValidation:
    """:func:`async_validate_path`'s work, on inputs already read."""
    try:
        context = validation_context(
            anchors,
            other_certs=others,
            moment=moment,
            allow_fetching=allow_fetching,
            revocation_mode=revocation,
            crls=crl_list,
            ocsps=ocsp_list,
            algorithm_policy=algorithm_policy,
            retroactive_revinfo=retroactive_revinfo,
        )
    except ValueError as exc:
        raise InvalidInput(f"cannot set up path validation: {exc}") from None
    try:
        leaf = _parsed_certificate(cert)
        leaf_only = (_crypto_path([leaf]), _subjects([leaf]))
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"the certificate to validate cannot be read: {exc}") from None
    validator = CertificateValidator(leaf, validation_context=context, pkix_params=pkix_params)
    try:
        vpath = await validator.async_validate_path()
    except ValidationError as exc:
        return await _failure(exc, leaf, context, moment, supplied, revinfo_source)
    except PathBuildingError as exc:
        return PathValidation(
            Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND, *leaf_only, message=str(exc), at=moment
        )
    except (ValueError, TypeError, KeyError) as exc:  # malformed extensions in a hostile certificate
        return PathValidation(
            Indication.INDETERMINATE,
            SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
            *leaf_only,
            message=f"the certificate path could not be processed: {exc}",
            at=moment,
        )
    chain = list(reversed(list(vpath.iter_certs(include_root=True))))
    path, subjects = _crypto_path(chain), _subjects(chain)
    anchor = next(iter(_crypto_path(chain[-1:])), None)
    try:
        usage_error = _check_usage(leaf, usage)
    except (ValueError, TypeError, KeyError) as exc:
        usage_error = f"the certificate's key usage cannot be read: {exc}"
    if usage_error:
        return PathValidation(
            Indication.INDETERMINATE,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            path,
            subjects,
            anchor,
            message=usage_error,
            at=moment,
        )
    revinfo = None
    if len(chain) > 1 and revocation != "none":
        revinfo = await _deciding_revinfo(leaf, vpath, context, moment, supplied, revinfo_source)
    warnings = tuple(str(e) for e in context.soft_fail_exceptions)
    return PathValidation(Indication.TOTAL_PASSED, None, path, subjects, anchor, revinfo, warnings=warnings, at=moment)


def _load_crl(value: CrlInput) -> asn1_crl.CertificateList:
    if isinstance(value, asn1_crl.CertificateList):
        return value
    try:
        parsed = _reused(bytes(value), asn1_crl.CertificateList)
        _ = parsed["tbs_cert_list"]["this_update"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"a CRL cannot be read: {exc}") from None
    return parsed


def _load_ocsp(value: OcspInput) -> asn1_ocsp.OCSPResponse:
    if isinstance(value, asn1_ocsp.OCSPResponse):
        return value
    try:
        data = bytes(value)
        check_der(data)
        parsed = asn1_ocsp.OCSPResponse.load(data)
        _ = parsed["response_status"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"an OCSP response cannot be read: {exc}") from None
    return parsed


def _check_usage(cert: asn1_x509.Certificate, usage: str) -> str | None:
    if usage == "signing":
        ku = cert.key_usage_value
        if ku is None:
            return None  # RFC 5280 4.2.1.3: no key usage extension, no restriction
        if not ({"digital_signature", "non_repudiation"} & set(ku.native)):
            return "the certificate's key usage allows neither digitalSignature nor nonRepudiation"
    elif usage == "timestamping":
        eku = cert.extended_key_usage_value
        if eku is None:
            return "a time-stamping certificate must have the extended key usage timeStamping (RFC 3161)"
        if "time_stamping" not in eku.native:
            return "the certificate's extended key usage does not include timeStamping (RFC 3161)"
    return None


def _is_leaf_error(exc: PathValidationError) -> bool:
    return bool(exc.is_ee_cert) and not exc.is_side_validation


async def _failure(
    exc: ValidationError,
    cert: asn1_x509.Certificate,
    context: ValidationContext,
    moment: datetime,
    supplied: set[bytes],
    source: str,
) -> PathValidation:
    chain = [cert]
    anchor = None
    if isinstance(exc, PathValidationError):
        try:
            chain = list(reversed(list(exc.original_path.iter_certs(include_root=True))))
            anchor = next(iter(_crypto_path(chain[-1:])), None)
        except (ValueError, LookupError, AttributeError):
            chain = [cert]
    msg = str(exc)
    ind, sub = Indication.INDETERMINATE, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    revinfo: RevocationInfo | None = None
    if isinstance(exc, RevokedError):
        if _is_leaf_error(exc):
            # ETSI EN 319 102-1 5.2.6: the signer's certificate was revoked at or before the validation time.
            ind, sub = Indication.TOTAL_FAILED, SubIndication.REVOKED
            kind = "ocsp" if msg.lower().startswith("ocsp") else "crl"
            revinfo = await _revoked_info(exc, cert.serial_number, context, moment, supplied, source, kind)
        else:
            sub = SubIndication.REVOKED_CA_NO_POE
    elif isinstance(exc, StaleRevinfoError | InsufficientRevinfoError):
        sub = SubIndication.TRY_LATER
        if _is_leaf_error(exc):
            revinfo = RevocationInfo(RevocationStatus.UNKNOWN, reason=msg)
    elif isinstance(exc, ExpiredError):
        sub = SubIndication.OUT_OF_BOUNDS_NO_POE if _is_leaf_error(exc) else SubIndication.EXPIRED
    elif isinstance(exc, NotYetValidError):
        sub = SubIndication.NOT_YET_VALID
    elif isinstance(exc, DisallowedAlgorithmError):
        sub = SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE
    elif isinstance(exc, InsufficientPOEError):
        sub = SubIndication.NO_POE
    elif isinstance(exc, InvalidCertificateError):
        sub = SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    elif isinstance(exc, PathValidationError):
        sub = SubIndication.CHAIN_CONSTRAINTS_FAILURE
    return PathValidation(ind, sub, _crypto_path(chain), _subjects(chain), anchor, revinfo, message=msg, at=moment)


def _source_of(container: CRLContainer | OCSPContainer, supplied: set[bytes], source: str) -> str:
    data = container.crl_data if isinstance(container, CRLContainer) else container.ocsp_response_data
    return source if data.dump() in supplied else "fetched"


def _crl_info(
    container: CRLContainer,
    status: RevocationStatus,
    source: str,
    revoked_at: datetime | None = None,
    reason: str | None = None,
) -> RevocationInfo:
    tbs = container.crl_data["tbs_cert_list"]
    return RevocationInfo(
        status,
        source=source,
        kind="crl",
        produced_at=tbs["this_update"].native,
        this_update=tbs["this_update"].native,
        next_update=tbs["next_update"].native,
        issuer=tbs["issuer"].human_friendly,
        revoked_at=revoked_at,
        reason=reason,
    )


def _ocsp_info(container: OCSPContainer, status: RevocationStatus, source: str) -> RevocationInfo:
    single = container.extract_single_response()
    basic = container.extract_basic_ocsp_response()
    produced = basic["tbs_response_data"]["produced_at"].native if basic is not None else None
    revoked_at = reason = None
    this_update = next_update = None
    if single is not None:
        this_update = single["this_update"].native
        next_update = single["next_update"].native
        if single["cert_status"].name == "revoked":
            info = single["cert_status"].chosen
            revoked_at = info["revocation_time"].native
            reason = info["revocation_reason"].native
    return RevocationInfo(
        status,
        source=source,
        kind="ocsp",
        produced_at=produced,
        this_update=this_update,
        next_update=next_update,
        revoked_at=revoked_at,
        reason=reason,
    )


async def _collect(
    leaf: asn1_x509.Certificate, vpath: ValidationPath, context: ValidationContext, moment: datetime
) -> tuple[list[OCSPContainer], list[CRLContainer]]:
    """The OCSP answers and CRLs about ``leaf`` that certvalidator could use at ``moment``, freshest first."""
    manager = context.revinfo_manager
    # certvalidator gives revocation data its proof of existence when first seen (now): collect up to now,
    # then keep what its own freshness policy accepts at the validation time.
    horizon = max(moment, datetime.now(UTC)) + timedelta(seconds=1)
    ocsp_found: list[OCSPContainer] = []
    crl_found: list[CRLContainer] = []
    try:
        ocsp_result = await collect_relevant_responses_with_paths(leaf, vpath, manager, horizon)
        ocsp_found = [r.ocsp_response for r in ocsp_result.responses]
    except Exception:  # noqa: S110 - OCSPNoMatchesError, fetch errors: then there is no OCSP evidence
        pass
    try:
        crl_result = await collect_relevant_crls_with_paths(leaf, vpath, manager, horizon)
        crl_found = [c.crl for c in crl_result.crls]
    except Exception:  # noqa: S110 - CRLNoMatchesError, fetch errors: then there is no CRL evidence
        pass

    def usable(container: RevinfoContainer) -> bool:
        return container.usable_at(context.revinfo_policy, context.timing_params).rating is RevinfoUsabilityRating.OK

    return (
        sort_freshest_first(o for o in ocsp_found if usable(o)),
        sort_freshest_first(c for c in crl_found if usable(c)),
    )


async def _deciding_revinfo(
    leaf: asn1_x509.Certificate,
    vpath: ValidationPath,
    context: ValidationContext,
    moment: datetime,
    supplied: set[bytes],
    source: str,
) -> RevocationInfo:
    ocsp_found, crl_found = await _collect(leaf, vpath, context, moment)
    # certvalidator prefers OCSP when the certificate names a responder, then CRLs: report in that order,
    # what the caller supplied (the document's own evidence) before what was fetched.
    ocsp_found.sort(key=lambda c: _source_of(c, supplied, source) == "fetched")
    crl_found.sort(key=lambda c: _source_of(c, supplied, source) == "fetched")
    for ocsp_cont in ocsp_found:
        return _ocsp_info(ocsp_cont, RevocationStatus.GOOD, _source_of(ocsp_cont, supplied, source))
    for crl_cont in crl_found:
        return _crl_info(crl_cont, RevocationStatus.GOOD, _source_of(crl_cont, supplied, source))
    return RevocationInfo(
        RevocationStatus.NOT_CHECKED, reason="no CRL or OCSP response applied (revocation not required)"
    )


async def _revoked_info(
    exc: RevokedError,
    serial: int,
    context: ValidationContext,
    moment: datetime,
    supplied: set[bytes],
    source: str,
    kind: str,
) -> RevocationInfo:
    reason = exc.reason.human_friendly if exc.reason is not None else None
    try:
        vpath = exc.original_path
        leaf = vpath.leaf
        ocsp_found, crl_found = await _collect(leaf, vpath, context, moment) if leaf is not None else ([], [])
    except (ValueError, LookupError, AttributeError):
        ocsp_found, crl_found = [], []
    if kind == "ocsp":
        for ocsp_cont in ocsp_found:
            single = ocsp_cont.extract_single_response()
            if single is not None and single["cert_status"].name == "revoked":
                return _ocsp_info(ocsp_cont, RevocationStatus.REVOKED, _source_of(ocsp_cont, supplied, source))
    for crl_cont in crl_found:
        for entry in crl_cont.crl_data["tbs_cert_list"]["revoked_certificates"]:
            if entry["user_certificate"].native == serial:
                return _crl_info(
                    crl_cont,
                    RevocationStatus.REVOKED,
                    _source_of(crl_cont, supplied, source),
                    exc.revocation_dt,
                    reason,
                )
    return RevocationInfo(RevocationStatus.REVOKED, kind=kind, revoked_at=exc.revocation_dt, reason=reason)
