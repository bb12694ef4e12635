"""XMLDSig and XAdES verification: one :class:`~esign.report.ValidationReport` per ``Signature``.

What verification accepts is narrow on purpose: same-document references (``""`` and bare
``#id``, resolved by an ID that is unique in the document) and detached ones only through a
resolver the caller gives; transforms limited to enveloped-signature, canonicalization, base64,
the common XPath 1.0 form ``not(ancestor-or-self::ds:Signature)`` and XPath Filter 2.0 with plain
location paths. XSLT, XPointer and network URIs are refused with :class:`~esign.errors.InvalidInput`
before any digest is computed.

A valid signature value is not the end: a signature-wrapping attack moves the signed element
somewhere no reader looks and puts a forged copy where readers look. So the document's shape is
checked against its profile (``einvoice``: exactly one ``/HDon/DLHDon``, covered by the seller's
signature in ``DSCKS/NBan``, nothing unsigned where invoice data is read; generic XMLDSig: no
unsigned element of the same name as a signed one, nothing foreign directly in a Signature), and
anything else is TOTAL-FAILED with a FORMAT_FAILURE that says why.

The result hands back the signed content itself (:attr:`XmlVerification.signed`, and each
report's references carry it too), as the canonical bytes that were digested: read the data from
there, never from the input document.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from esign.errors import EsignError, InvalidInput
from esign.report import (
    Indication,
    ReferenceInfo,
    RevocationInfo,
    SignerInfo,
    SubIndication,
    TimestampInfo,
    ValidationReport,
    summarize,
)
from esign.signers.file import load_certificates
from esign.trust import (
    PathValidation,
    check_timestamp_token,
    imprint_of,
    load_certificate,
    policy_applied,
    resolve_anchors,
    validate_path,
)
from esign.xml import tree as xtree
from esign.xml.c14n import canonicalize, check_namespace_work, digest_document, method_flags
from esign.xml.constants import (
    BASE64_TRANSFORM,
    C14N_INCLUSIVE,
    C14N_METHODS,
    DS11_NS,
    DS_NS,
    ENVELOPED,
    LEGACY_UNTIL,
    MANIFEST_TYPE,
    VERIFY_DIGESTS,
    VERIFY_SIGNATURES,
    VIETNAM_TIME,
    WEAK_DIGESTS,
    XADES141_NS,
    XADES_NS,
    XADES_SIGNED_PROPERTIES_TYPE,
    XPATH_FILTER2,
    XPATH_TRANSFORM,
)
from esign.xml.parsing import parse_xml

_DS = f"{{{DS_NS}}}"
_DS11 = f"{{{DS11_NS}}}"
_XADES_NAMESPACES = (XADES_NS, XADES141_NS)
_STRUCTURAL_NAMESPACES = (DS_NS, DS11_NS, XADES_NS, XADES141_NS)
MAX_REFERENCES = 64
MAX_SIGNATURES = 50
"""Each signature costs a certificate path validation (~20-35 ms); real documents carry a handful."""
MAX_TRANSFORMS = 4
MAX_MANIFEST_REFERENCES = 64
SIGNED_CONTENT_IN_REPORT = 1_000_000
"""Signed content up to this many bytes is copied into each report's references (``--json``, the API)."""
DIGEST_BUDGET_FACTOR = 16
"""Over all signatures, same-document references may cost this many passes over the document ..."""
DIGEST_BUDGET_FLOOR = 64_000_000
"""... or this many bytes, whichever is more (small documents may carry many signatures)."""
PROFILES = ("einvoice", "xades", "xmldsig")
"""What :func:`verify_xml` checks the document's shape against (``None``: detected from the document)."""

DetachedResolver = Mapping[str, bytes] | Callable[[str], bytes]
TrustAnchors = Sequence[x509.Certificate] | str | Path | bytes

# XPath Filter 2.0 and XPath 1.0 expressions are limited to plain location paths: no functions but
# here(), no predicates but positions, so evaluating one is a walk over the document at most.
_SAFE_XPATH = re.compile(r"^(?:here\(\)|[A-Za-z_][\w.\-]*:[A-Za-z_][\w.\-]*|[A-Za-z_][\w.\-]*|::|/|\||\[\d+\]|\s|\*)+$")
# Axes that stay linear: a descendant search once, then walks up or down. following/preceding (and their
# sibling forms) cost the document (or a level) per node: //*/following::* is quadratic.
_XPATH_AXES = re.compile(r"([A-Za-z\-]+)::")
_LINEAR_AXES = {
    "child",
    "self",
    "parent",
    "ancestor",
    "ancestor-or-self",
    "descendant",
    "descendant-or-self",
    "attribute",
}


def _linear_xpath(expression: str) -> bool:
    """Per path (at most 4 in a union), at most one descendant search (``//`` or a descendant axis) and
    only axes that walk up or down."""
    branches = expression.split("|")
    if len(branches) > 4:
        return False
    for branch in branches:  # each path of a union on its own: chained descendant searches multiply
        axes = _XPATH_AXES.findall(branch)
        if any(axis not in _LINEAR_AXES for axis in axes):
            return False
        if branch.count("//") + sum(axis.startswith("descendant") for axis in axes) > 1:
            return False
    return True


_XPATH_ENVELOPED = re.compile(r"^not\(\s*ancestor-or-self::([A-Za-z_][\w.\-]*):Signature\s*\)$")


@dataclass(frozen=True)
class SignedContent:
    """What one reference of a valid signature covers, as the exact bytes that were digested."""

    signature_id: str
    uri: str
    kind: str
    """``content`` (the data), ``signed-properties`` (XAdES) or ``signature-properties`` (e-invoice time)."""
    data: bytes
    """The canonical form that was digested (raw bytes for a detached reference without C14N)."""
    location: str = ""
    """Where the signed element is in the document (``/HDon/DLHDon[@Id='data']``), or the detached URI."""

    def xml(self) -> etree._Element:
        """The signed content parsed (hardened), detached from the input document."""
        return parse_xml(self.data, huge_tree=len(self.data) > 10_000_000).getroot()


@dataclass(frozen=True)
class SignedReference(ReferenceInfo):
    """A reference of an XML signature whose value verified, with the content it signed."""

    signed_content: str | None = None
    """The canonical XML that was digested (base64 for detached data); None when over
    :data:`SIGNED_CONTENT_IN_REPORT` bytes (then read :attr:`XmlVerification.signed`)."""
    signed_bytes: int = 0
    """How many bytes were digested."""


@dataclass(frozen=True)
class XmlVerification:
    """The reports of every Signature in a document and the content they sign."""

    reports: tuple[ValidationReport, ...]
    signed: tuple[SignedContent, ...] = field(default=(), repr=False)
    """Content covered by signatures whose references and signature value verified."""
    profile: str = "xmldsig"
    """The profile whose shape the document was checked against (detected or forced)."""

    @property
    def passed(self) -> bool:
        """True only when there is at least one signature and every one is TOTAL-PASSED."""
        return summarize(list(self.reports)) is Indication.TOTAL_PASSED

    @property
    def indication(self) -> Indication:
        """The bottom line over all signatures."""
        return summarize(list(self.reports))

    @property
    def signed_xml(self) -> list[etree._Element]:
        """The signed data elements (not the signature properties), parsed from the signed bytes."""
        return [s.xml() for s in self.signed if s.kind == "content"]


def verify_xml(
    data: bytes,
    *,
    trust_anchors: TrustAnchors | None = None,
    allow_fetching: bool = False,
    allow_weak: bool = False,
    reveal: bool = False,
    detached: DetachedResolver | None = None,
    validation_time: datetime | None = None,
    huge_tree: bool = False,
    keep_signed: bool = True,
    profile: str | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    policy: bool = True,
) -> XmlVerification:
    """Verify every ``Signature`` in ``data`` against ``trust_anchors`` (certificates, or a PEM file/bytes;
    ``None``: the default trust store, :func:`esign.trust.resolve_anchors` — Vietnam's roots plus the operator's).

    No network access happens unless ``allow_fetching`` (then to the OCSP responders, CRL distribution
    points and caIssuers URLs the certificates name).
    Hostile or disallowed constructs raise :class:`~esign.errors.InvalidInput`; a signature that is
    merely invalid gets a TOTAL-FAILED or INDETERMINATE report. ``crls`` and ``ocsps`` (DER) add
    revocation data to what the signatures embed (every certificate below the anchor needs some:
    :func:`esign.trust.validate_path` runs in ``require`` mode). ``profile`` (``einvoice``, ``xades``
    or ``xmldsig``) forces the shape checks; by default it is detected from the document. Weak
    algorithms (SHA-1, MD5, RSA/DSA-1024) are judged by the date the signature is proven or claimed
    to exist (:data:`~esign.xml.constants.LEGACY_UNTIL`); ``allow_weak`` accepts them whatever the date.
    Each report carries the Vietnamese validation policy ``VN-TT15-2025`` (:func:`esign.trust.policy_applied`,
    as :func:`esign.verify_pdf` does): a TOTAL-PASSED that breaks one of its rules becomes INDETERMINATE;
    ``policy=False`` gives the verdict without it.

    >>> result = verify_xml(signed, trust_anchors="root.pem")               # doctest: +SKIP
    >>> result.passed, result.signed_xml[0].tag                             # doctest: +SKIP
    """
    result, _ = verify_keeping_tree(
        data,
        trust_anchors=trust_anchors,
        allow_fetching=allow_fetching,
        allow_weak=allow_weak,
        reveal=reveal,
        detached=detached,
        validation_time=validation_time,
        huge_tree=huge_tree,
        keep_signed=keep_signed,
        profile=profile,
        intermediates=intermediates,
        crls=crls,
        ocsps=ocsps,
        policy=policy,
    )
    return result


def verify_keeping_tree(
    data: bytes,
    *,
    trust_anchors: TrustAnchors | None = None,
    allow_fetching: bool = False,
    allow_weak: bool = False,
    reveal: bool = False,
    detached: DetachedResolver | None = None,
    validation_time: datetime | None = None,
    huge_tree: bool = False,
    keep_signed: bool = True,
    profile: str | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    policy: bool = True,
) -> tuple[XmlVerification, etree._ElementTree]:
    """:func:`verify_xml`, also handing back the parsed document (internal: for ``esign xml verify``).

    Freeing the tree of a 50 MB document (millions of libxml2 nodes, then glibc merging the freed
    chunks) costs ~0.2 s; a process that ends right after the report can leave that to the kernel.
    """
    if profile is not None and profile not in PROFILES:
        raise InvalidInput(f"unknown verification profile {profile!r}; use one of {', '.join(PROFILES)}")
    anchors = _anchors(trust_anchors)
    tree = parse_xml(data, huge_tree=huge_tree)
    root = tree.getroot()
    check_namespace_work(root, len(data), raw=data if isinstance(data, bytes) else bytes(data))
    signatures = [root] if root.tag == _DS + "Signature" else list(root.iter(_DS + "Signature"))
    if not signatures:
        raise InvalidInput("the document holds no XML signature (ds:Signature)")
    if len(signatures) > MAX_SIGNATURES:
        raise InvalidInput(
            f"the document holds {len(signatures)} signatures; more than {MAX_SIGNATURES} are refused as a "
            "denial-of-service risk (each needs its own certificate path and revocation check)"
        )
    profile = profile or _detect_profile(root, data, signatures)
    when = validation_time or datetime.now(UTC)
    reports: list[ValidationReport] = []
    signed: list[SignedContent] = []
    budget = _DigestBudget(len(data))
    for position, signature in enumerate(signatures):
        checker = _SignatureCheck(
            tree,
            signature,
            position,
            anchors=anchors,
            allow_fetching=allow_fetching,
            allow_weak=allow_weak,
            reveal=reveal,
            detached=detached,
            at=when,
            keep=keep_signed,
            budget=budget,
            profile=profile,
            intermediates=list(intermediates),
            supplied_revocation=(list(crls), list(ocsps)),
        )
        try:
            report = checker.run()
        except EsignError:
            raise
        except Exception as exc:
            # Last line of defence: a parser deep below (asn1crypto, cryptography) failing on some
            # damage nobody foresaw is still hostile input, not a crash. The cause stays attached.
            raise InvalidInput(
                f"signature {checker.signature_id} cannot be read: {exc.__class__.__name__}: {exc}"
            ) from exc
        reports.append(policy_applied(report) if policy else report)
        if checker.core_valid:
            signed.extend(checker.contents)
    return XmlVerification(tuple(reports), tuple(signed), profile), tree


def _detect_profile(root: etree._Element, data: bytes, signatures: list[etree._Element]) -> str:
    """``einvoice`` when the document looks like one anywhere (a wrapped invoice is still an invoice),
    ``xades`` when a signature carries QualifyingProperties, else ``xmldsig``."""
    if xtree.local_name(root) == "HDon":
        return "einvoice"
    if b"DLHDon" in data and next(root.iter("{*}DLHDon"), None) is not None:  # an element, not a mention
        return "einvoice"
    for signature in signatures:
        for holder in signature.iterfind(_DS + "Object"):
            if any(holder.find(f"{{{ns}}}QualifyingProperties") is not None for ns in _XADES_NAMESPACES):
                return "xades"
    return "xmldsig"


def _anchors(trust_anchors: TrustAnchors | None) -> list[x509.Certificate]:
    if trust_anchors is None:  # the same default store as verify_pdf and the CLI
        return resolve_anchors()
    if isinstance(trust_anchors, str | Path | bytes):
        return load_certificates(trust_anchors)
    anchors = list(trust_anchors)
    if not anchors:
        raise InvalidInput("give at least one trust anchor (the root CA certificate)")
    return anchors


class _DigestBudget:
    """What the references of one document may cost, so that its size bounds the verifier's work.

    Every same-document reference costs a pass over the document: finding an ``#id`` scans every
    attribute, and ``URI=""`` canonicalizes all of it. Without a bound, copies of a signature
    (found by fuzzing: 200 copies of an enveloped Signature, 1.1 MB, took 8 s; 2,000 would take
    about 15 minutes) or signatures full of references make the work grow with the square of the
    size. Real documents need a handful of passes: an e-invoice signed by seller and buyer, four.
    """

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self.limit = max(DIGEST_BUDGET_FLOOR, DIGEST_BUDGET_FACTOR * self.size)
        self.spent = 0

    def charge(self, cost: int) -> None:
        """Account for ``cost`` bytes of work before doing it; :class:`InvalidInput` past the limit."""
        self.spent += cost
        if self.spent > self.limit:
            raise InvalidInput(
                f"the signatures in this document ask for more than {self.limit // self.size} passes over its "
                f"{self.size} bytes (references over all signatures); refused as a denial-of-service risk"
            )


class _Failure(Exception):
    """A signature that does not verify, with the sub-indication that says why."""

    def __init__(self, indication: Indication, sub: SubIndication, message: str) -> None:
        super().__init__(message)
        self.indication = indication
        self.sub = sub
        self.message = message


@dataclass(frozen=True)
class _Algorithm:
    """A signature method: scheme (``rsa``, ``rsa-pss``, ``ecdsa``, ``dsa``, ``ed25519``, ``ed448``) and digest."""

    scheme: str
    digest: str

    @property
    def name(self) -> str:
        if self.scheme in ("ed25519", "ed448"):
            return self.scheme
        if self.scheme == "rsa-pss":
            return f"{self.digest}_rsassa_pss"
        return f"{self.digest}_{self.scheme}"

    def hash(self) -> hashes.HashAlgorithm:
        return _hash_object(self.digest)


def _hash_object(name: str) -> hashes.HashAlgorithm:
    classes: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1,
        "md5": hashes.MD5,
        "sha224": hashes.SHA224,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
        "sha3_224": hashes.SHA3_224,
        "sha3_256": hashes.SHA3_256,
        "sha3_384": hashes.SHA3_384,
        "sha3_512": hashes.SHA3_512,
    }
    return classes[name]()


class _Resolved:
    """What a reference resolved to: canonical bytes (or None for a streamed whole document)."""

    def __init__(
        self, data: bytes | None, covers: tuple[str, ...], target: etree._Element | None, exclude: list[etree._Element]
    ) -> None:
        self.data = data
        self.covers = covers
        self.target = target
        self.exclude = exclude


class _SignatureCheck:
    def __init__(
        self,
        tree: etree._ElementTree,
        signature: etree._Element,
        position: int,
        *,
        anchors: list[x509.Certificate],
        allow_fetching: bool,
        allow_weak: bool,
        reveal: bool,
        detached: DetachedResolver | None,
        at: datetime,
        keep: bool,
        budget: _DigestBudget,
        profile: str = "xmldsig",
        intermediates: list[x509.Certificate] | None = None,
        supplied_revocation: tuple[list[bytes], list[bytes]] = ([], []),
    ) -> None:
        self.budget = budget
        self.tree = tree
        self.root = tree.getroot()
        self.signature = signature
        self.signature_id = signature.get("Id") or f"#{position + 1}"
        self.anchors = anchors
        self.allow_fetching = allow_fetching
        self.allow_weak = allow_weak
        self.reveal = reveal
        self.detached = detached
        self.at = at
        self.keep = keep
        self.profile = profile
        self.intermediates = intermediates or []
        self.supplied_crls, self.supplied_ocsps = supplied_revocation
        self.references: list[ReferenceInfo] = []
        self.contents: list[SignedContent] = []
        self.referenced: list[etree._Element] = []
        self.excluded: list[etree._Element] = []
        self.core_valid = False
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.weak: list[str] = []
        self.missing: list[str] = []
        self.manifest_failed: list[str] = []
        self.is_xades = False
        self.xades_ns = XADES_NS
        self._other_uris: set[str] | None = None

    # -- the run --------------------------------------------------------------------------

    def run(self) -> ValidationReport:
        signed_info = self._one(self.signature, "SignedInfo")
        c14n_uri = self._one(signed_info, "CanonicalizationMethod").get("Algorithm") or ""
        method_flags(c14n_uri)
        algorithm = self._signature_algorithm(self._one(signed_info, "SignatureMethod").get("Algorithm") or "")
        references = signed_info.findall(_DS + "Reference")
        if not references:
            raise InvalidInput(f"signature {self.signature_id} has no Reference")
        if len(references) > MAX_REFERENCES:
            raise InvalidInput(f"signature {self.signature_id} has more than {MAX_REFERENCES} references")
        qualifying = self._qualifying_properties()
        self.is_xades = qualifying is not None
        extra_certs, ocsp_values, crl_values = self._validation_data(qualifying)
        certs = self._key_info_certificates()
        leaf = self._leaf(certs, extra_certs, qualifying)
        signer = _signer_info(leaf, self.reveal) if leaf is not None else None
        claimed: datetime | None = None
        timestamps: tuple[TimestampInfo, ...] = ()
        path: PathValidation | None = None
        revocation: RevocationInfo | None = None
        level: str | None = None
        try:
            digests_ok = [self._check_reference(ref) for ref in references]
            if not all(digests_ok):
                bad = [r.uri or '""' for r in self.references if not r.digest_ok]
                raise _Failure(
                    Indication.TOTAL_FAILED,
                    SubIndication.HASH_FAILURE,
                    f"the digest of reference {', '.join(bad)} does not match: the content was changed",
                )
            key = leaf.public_key() if leaf is not None else self._key_value()
            if key is None:
                raise _Failure(
                    Indication.INDETERMINATE,
                    SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                    "the signature carries no X509Certificate or KeyValue to verify it with",
                )
            self._check_signature_value(signed_info, c14n_uri, algorithm, key)
            if self.manifest_failed:
                raise _Failure(
                    Indication.TOTAL_FAILED,
                    SubIndication.HASH_FAILURE,
                    "the signed Manifest names content that was changed: " + ", ".join(self.manifest_failed),
                )
            if self.missing:
                raise _Failure(
                    Indication.INDETERMINATE,
                    SubIndication.SIGNED_DATA_NOT_FOUND,
                    "the signature verifies, but the data of reference "
                    + ", ".join(self.missing)
                    + " was not given (pass it as detached content)",
                )
            self.core_valid = True
            self._check_shape()
            if leaf is None:
                raise _Failure(
                    Indication.INDETERMINATE,
                    SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                    "the signature verifies with the bare public key it carries, "
                    "but it has no certificate that could be trusted",
                )
            if qualifying is not None:
                claimed = self._check_signed_properties(qualifying, leaf)
                timestamps = self._check_timestamps(qualifying, c14n_uri)
                level = "B-B"
            else:
                claimed = self._einvoice_signing_time()
            self._algorithm_policy(timestamps, claimed)
            path, revocation = self._trust_and_revocation(
                leaf, certs + extra_certs + self.intermediates, ocsp_values, crl_values, timestamps
            )
            if level and any(t.valid and t.trusted for t in timestamps):
                level = "B-T"
                if (ocsp_values or crl_values) and revocation and revocation.source == "embedded":
                    level = "B-LT"
            indication, sub = Indication.TOTAL_PASSED, None
        except _Failure as failure:
            indication, sub = failure.indication, failure.sub
            self.errors.append(failure.message)
        return ValidationReport(
            format="XAdES" if self.is_xades else "XMLDSig",
            signature_id=self.signature_id,
            indication=indication,
            sub_indication=sub,
            signer=signer,
            claimed_signing_time=claimed,
            timestamps=timestamps,
            trust_path=tuple(self._name(c) for c in path.path) if path else (),
            trust_anchor=path.anchor.subject.rfc4514_string() if path and path.anchor else None,
            revocation=revocation,
            digest_algorithm=algorithm.digest or None,
            signature_algorithm=algorithm.name,
            coverage="references",
            references=self._reported_references(),
            level=level,
            validation_time=self.at,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
        )

    def _reported_references(self) -> tuple[ReferenceInfo, ...]:
        """The references, each with the content it signed when the signature value verified."""
        if not self.core_valid or not self.keep:
            return tuple(self.references)
        reported: list[ReferenceInfo] = []
        for info, content in zip(self.references, self.contents, strict=False):
            text = None
            if len(content.data) <= SIGNED_CONTENT_IN_REPORT:
                same_document = info.uri == "" or info.uri.startswith("#")
                text = (
                    content.data.decode("utf-8", "replace")
                    if same_document
                    else base64.b64encode(content.data).decode()
                )
            fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(ReferenceInfo)}
            reported.append(SignedReference(**fields, signed_content=text, signed_bytes=len(content.data)))
        return tuple(reported) + tuple(self.references[len(self.contents) :])

    def _name(self, cert: x509.Certificate) -> str:
        name = cert.subject.rfc4514_string()
        if self.reveal:
            return name
        try:
            from esign.identity import mask_personal_numbers
        except ImportError:
            return name
        return mask_personal_numbers(name)

    # -- structure and algorithms -------------------------------------------------------------

    def _one(self, parent: etree._Element, local: str) -> etree._Element:
        found = parent.findall(_DS + local)
        if len(found) != 1:
            raise InvalidInput(f"signature {self.signature_id}: expected one ds:{local}, found {len(found)}")
        return found[0]

    def _signature_children(self) -> None:
        """XMLDSig's schema: SignedInfo, SignatureValue, KeyInfo?, Object*; a wrapper hidden here is refused."""
        for child in self.signature:
            if not isinstance(child.tag, str):
                continue
            if child.tag not in (_DS + "SignedInfo", _DS + "SignatureValue", _DS + "KeyInfo", _DS + "Object"):
                self._fail_shape(
                    f"the signature holds a {child.tag!r} element, which XMLDSig does not allow there: "
                    "unsigned content hidden in a signature (signature wrapping)"
                )

    def _signature_algorithm(self, uri: str) -> _Algorithm:
        try:
            scheme, digest = VERIFY_SIGNATURES[uri]
        except KeyError:
            raise InvalidInput(f"signature method {uri!r} is not supported") from None
        if digest in WEAK_DIGESTS:
            self.weak.append(digest)
        return _Algorithm(scheme, digest)

    def _digest_method(self, reference: etree._Element) -> str:
        uri = self._one(reference, "DigestMethod").get("Algorithm") or ""
        try:
            digest = VERIFY_DIGESTS[uri]
        except KeyError:
            raise InvalidInput(f"digest method {uri!r} is not supported") from None
        if digest in WEAK_DIGESTS and digest not in self.weak:
            self.weak.append(digest)
        return digest

    def _algorithm_policy(self, timestamps: tuple[TimestampInfo, ...], claimed: datetime | None) -> None:
        """Judge weak algorithms at the time the signature is proven (else claimed) to exist."""
        if not self.weak:
            return
        names = ", ".join(sorted(set(self.weak)))
        if self.allow_weak:
            self.warnings.append(f"weak algorithm(s) {names} accepted because allow_weak was asked for")
            return
        proven = [t.time for t in timestamps if t.valid and t.trusted]
        if proven:
            when, how = min(proven), "proven by a time-stamp"
        elif claimed is not None:
            when, how = claimed, "claimed by the signer (nothing proves it)"
        else:
            when, how = self.at, "the validation time (no signing time given)"
        for weak in sorted(set(self.weak)):
            until, source = LEGACY_UNTIL.get(weak, ("1970-01-01", "never acceptable"))
            limit = datetime.fromisoformat(until).replace(tzinfo=UTC)
            if when >= limit:
                raise _Failure(
                    Indication.INDETERMINATE,
                    SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                    f"the signature uses {weak}, acceptable only for signatures made before {until} ({source}); "
                    f"this one dates from {when.isoformat()} ({how})",
                )
            self.warnings.append(
                f"legacy algorithm {weak}: accepted because the signature dates from {when.date().isoformat()} "
                f"({how}), before {until} ({source})"
            )

    # -- references -----------------------------------------------------------------------

    def _check_reference(self, reference: etree._Element, *, manifest: bool = False) -> bool:
        uri = reference.get("URI")
        if uri is None:
            raise InvalidInput("a Reference without URI is not accepted (the data it means is ambiguous)")
        digest = self._digest_method(reference)
        transforms = reference.findall(f"{_DS}Transforms/{_DS}Transform")
        if len(transforms) > MAX_TRANSFORMS:
            raise InvalidInput(f"a Reference with {len(transforms)} transforms is not accepted")
        algorithms = [t.get("Algorithm") or "" for t in transforms]
        for transform in algorithms:
            if transform not in (ENVELOPED, BASE64_TRANSFORM, XPATH_TRANSFORM, XPATH_FILTER2) and (
                transform not in C14N_METHODS
            ):
                raise InvalidInput(f"transform {transform!r} is not allowed (XSLT and unknown transforms are refused)")
        if BASE64_TRANSFORM in algorithms and algorithms[-1] != BASE64_TRANSFORM:
            raise InvalidInput("the base64 transform is accepted only as the last transform of a reference")
        c14n_list = [t for t in algorithms if t in C14N_METHODS]
        c14n = c14n_list[-1] if c14n_list else C14N_INCLUSIVE
        inclusive_prefixes = self._inclusive_prefixes(reference)
        expected = _decode_base64(self._one(reference, "DigestValue").text, "a DigestValue")
        if uri == "" or uri.startswith("#"):
            self.budget.charge(self.budget.size)
            resolved = self._same_document(uri, c14n, transforms, inclusive_prefixes)
        else:
            try:
                resolved = _Resolved(self._detached(uri, c14n if c14n_list else None), (uri,), None, [])
            except _MissingData:
                self.missing.append(uri)
                self.references.append(ReferenceInfo(uri=uri, digest_algorithm=digest, digest_ok=True, covers=(uri,)))
                return True
        data = resolved.data
        if data is None:
            actual, data = self._whole_document_digest(c14n, digest, resolved.exclude)
        else:
            actual = hashlib.new(digest, data).digest()
        ok = hmac.compare_digest(actual, expected)
        info = ReferenceInfo(uri=uri, digest_algorithm=digest, digest_ok=ok, covers=resolved.covers)
        target = resolved.target
        if manifest and not ok:
            self.manifest_failed.append(uri or '""')
        self.references.append(info)
        if target is not None:
            self.referenced.append(target)
            self.excluded.extend(resolved.exclude)
        location = resolved.covers[0] if resolved.covers else uri
        self.contents.append(SignedContent(self.signature_id, uri, self._kind(reference, target), data, location))
        if ok and target is not None and (target.tag == _DS + "Manifest" or reference.get("Type") == MANIFEST_TYPE):
            self._check_manifest(target, manifest)
        return ok

    def _check_manifest(self, manifest: etree._Element, nested: bool) -> None:
        """A signed Manifest vouches for its references: check each (EU DSS does as well)."""
        if nested or manifest.tag != _DS + "Manifest":
            raise InvalidInput("a Manifest reference must point at a ds:Manifest, not nested in another Manifest")
        references = manifest.findall(_DS + "Reference")
        if not references or len(references) > MAX_MANIFEST_REFERENCES:
            raise InvalidInput(f"a Manifest must hold 1 to {MAX_MANIFEST_REFERENCES} references")
        for reference in references:
            self._check_reference(reference, manifest=True)

    def _inclusive_prefixes(self, reference: etree._Element) -> list[str] | None:
        for transform in reference.findall(f"{_DS}Transforms/{_DS}Transform"):
            for child in transform:
                if isinstance(child.tag, str) and etree.QName(child).localname == "InclusiveNamespaces":
                    return (child.get("PrefixList") or "").split() or None
        return None

    def _kind(self, reference: etree._Element, target: etree._Element | None) -> str:
        if reference.get("Type") == XADES_SIGNED_PROPERTIES_TYPE or (
            target is not None and isinstance(target.tag, str) and etree.QName(target).localname == "SignedProperties"
        ):
            return "signed-properties"
        # The tag first: for URI="" the target is the root, and find() would scan all its children.
        if (
            target is not None
            and target.tag == _DS + "Object"
            and (target.find("SignatureProperties") is not None or target.find(_DS + "SignatureProperties") is not None)
        ):
            return "signature-properties"
        return "content"

    def _same_document(
        self, uri: str, c14n: str, transforms: list[etree._Element], prefixes: list[str] | None
    ) -> _Resolved:
        if uri == "":
            target = self.root
        elif uri.startswith("#xpointer("):
            raise InvalidInput("XPointer references are not allowed; use a bare '#id'")
        else:
            target = xtree.find_by_id(self.root, uri[1:])
        exclude = self._excluded_by(transforms, target)
        where = xtree.describe(target)
        if uri == "":
            where += " (whole document" + (", signatures excluded)" if exclude else ")")
        elif exclude:
            where += " (signatures excluded)"
        covers = (where,)
        if any(t.get("Algorithm") == BASE64_TRANSFORM for t in transforms):
            if exclude:
                raise InvalidInput("the base64 transform over a node-set with excluded signatures is not accepted")
            return _Resolved(
                _decode_base64("".join(str(t) for t in target.itertext()), f"the base64 content of {uri}"),
                covers,
                target,
                [],
            )
        if uri == "":
            return _Resolved(None, covers, target, exclude)
        return _Resolved(
            canonicalize(target, c14n, inclusive_prefixes=prefixes, with_comments=False, exclude=exclude),
            covers,
            target,
            exclude,
        )

    def _excluded_by(self, transforms: list[etree._Element], target: etree._Element) -> list[etree._Element]:
        """The elements the node-set transforms take out of ``target`` (whole subtrees, outermost only)."""
        found: list[etree._Element] = []
        for transform in transforms:
            algorithm = transform.get("Algorithm")
            if algorithm == ENVELOPED:
                if _is_ancestor_or_self(target, self.signature):
                    if self.signature is target:
                        raise InvalidInput("the enveloped-signature transform cannot remove the whole reference")
                    found.append(self.signature)
            elif algorithm == XPATH_TRANSFORM:
                expression = " ".join((transform.findtext(_DS + "XPath") or "").split())
                match = _XPATH_ENVELOPED.match(expression)
                holder = transform.find(_DS + "XPath")
                if match is None or holder is None or holder.nsmap.get(match.group(1)) != DS_NS:
                    raise InvalidInput("only the XPath 1.0 filter not(ancestor-or-self::ds:Signature) is accepted")
                found.extend(s for s in target.iter(_DS + "Signature") if s is not target)
            elif algorithm == XPATH_FILTER2:
                found.extend(self._filter2(transform, target))
        outermost = [e for e in found if not any(o is not e and _is_ancestor_or_self(o, e) for o in found)]
        unique: list[etree._Element] = []
        for element in outermost:
            if not any(element is u for u in unique):
                unique.append(element)
        return unique

    def _filter2(self, transform: etree._Element, target: etree._Element) -> list[etree._Element]:
        """XPath Filter 2.0 as signers use it: ``subtract`` of element subtrees (the signatures), and
        ``intersect``/``union`` with the whole reference. Expressions are plain location paths."""
        removed: list[etree._Element] = []
        filters = transform.findall(f"{{{XPATH_FILTER2}}}XPath")
        if not filters or len(filters) > 4:
            raise InvalidInput("an XPath Filter 2.0 transform must hold 1 to 4 XPath elements")
        here = self.signature if transform is None else transform
        for item in filters:
            expression = " ".join((item.text or "").split())
            if (
                not expression
                or len(expression) > 200
                or not _SAFE_XPATH.match(expression)
                or not _linear_xpath(expression)
            ):
                raise InvalidInput(f"XPath Filter 2.0 expression {expression[:80]!r} is not a plain location path")
            self.budget.charge(self.budget.size)
            namespaces = {k: v for k, v in item.nsmap.items() if k}
            try:
                xpath = etree.XPath(
                    expression, namespaces=namespaces, extensions={(None, "here"): lambda _context: [here]}
                )
                nodes = xpath(self.root)
            except (etree.XPathError, TypeError) as exc:
                raise InvalidInput(f"XPath Filter 2.0 expression {expression[:80]!r} cannot be used: {exc}") from None
            if not isinstance(nodes, list) or not all(isinstance(n, etree._Element) for n in nodes):
                raise InvalidInput("an XPath Filter 2.0 expression must select elements")
            kind = item.get("Filter")
            elements = [n for n in nodes if isinstance(n, etree._Element)]
            if kind == "subtract":
                # Only signatures may be taken out of signed content: anything else subtracted would be
                # unsigned data inside the signed element, where readers read it.
                if any(n.tag != _DS + "Signature" for n in elements):
                    raise InvalidInput("XPath Filter 2.0 subtract is accepted for ds:Signature elements only")
                removed.extend(n for n in elements if _is_ancestor_or_self(target, n))
            elif kind in ("intersect", "union"):
                if not any(_is_ancestor_or_self(n, target) for n in elements):
                    raise InvalidInput(
                        "an XPath Filter 2.0 intersect/union narrower than the reference is not accepted"
                    )
            else:
                raise InvalidInput(f"XPath Filter 2.0 filter {kind!r} is not known")
        return removed

    def _whole_document_digest(self, c14n: str, digest: str, exclude: list[etree._Element]) -> tuple[bytes, bytes]:
        return digest_document(self.tree, c14n, digest, keep=self.keep, exclude=exclude)

    def _detached(self, uri: str, c14n: str | None) -> bytes:
        if "://" in uri and self.detached is None:
            raise _MissingData(uri)
        if self.detached is None:
            raise _MissingData(uri)
        try:
            data = self.detached(uri) if callable(self.detached) else self.detached[uri]
        except KeyError:
            raise _MissingData(uri) from None
        if c14n is None:
            return bytes(data)
        return canonicalize(parse_xml(bytes(data)), c14n, with_comments=False)

    # -- the document's shape (signature wrapping) ------------------------------------------------

    def _check_shape(self) -> None:
        """Raise a TOTAL-FAILED/FORMAT_FAILURE when readers could be shown content this signature does not sign."""
        self._signature_children()
        if self.profile == "einvoice":
            self._einvoice_shape()
        self._unsigned_decoys()
        self._no_unsigned_twins()

    def _fail_shape(self, message: str) -> NoReturn:
        raise _Failure(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, message)

    def _covers(self, element: etree._Element) -> bool:
        return any(_is_ancestor_or_self(t, element) for t in self.referenced) and not any(
            _is_ancestor_or_self(e, element) for e in self.excluded
        )

    def _einvoice_shape(self) -> None:
        root = self.root
        if root.tag != "HDon":
            self._fail_shape(
                f"an e-invoice's root must be HDon (no namespace); this document's root is "
                f"{root.tag!r} (the invoice may have been wrapped)"
            )
        data = list(root.iter("{*}DLHDon"))
        if len(data) != 1 or data[0].tag != "DLHDon" or data[0].getparent() is not root:
            where = ", ".join(
                xtree.describe(d) + (f" in {etree.QName(d).namespace}" if etree.QName(d).namespace else "")
                for d in data[:4]
            )
            self._fail_shape(
                f"an e-invoice must hold exactly one DLHDon, as /HDon/DLHDon; found {len(data)}"
                + (f": {where}" if where else "")
                + " (a forged copy beside the signed one?)"
            )
        invoice = data[0]
        codes = list(root.iter("{*}MCCQT"))
        if len(codes) > 1 or (codes and (codes[0].tag != "MCCQT" or codes[0].getparent() is not root)):
            self._fail_shape(f"an e-invoice holds at most one MCCQT, as /HDon/MCCQT; found {len(codes)}")
        whole = self._covers(root)  # URI="": everything but the signatures is signed
        allowed = {"DLHDon", "MCCQT", "DSCKS", "DLQRCode", _DS + "Signature"}
        for child in root:
            if isinstance(child.tag, str) and child.tag not in allowed:
                self._fail_shape(f"an e-invoice has no place for {child.tag!r} under HDon: content there is not signed")
        holders = root.findall("DSCKS")
        if len(holders) > 1:
            self._fail_shape(f"an e-invoice holds at most one /HDon/DSCKS; found {len(holders)}")
        roles = {"NBan", "NMua", "CQT", "CCKSKhac"}
        for role in holders[0] if holders else ():
            if not isinstance(role.tag, str):
                continue
            if role.tag not in roles:
                self._fail_shape(f"DSCKS has no place for {role.tag!r} (only NBan, NMua, CQT, CCKSKhac)")
            for item in role:
                if isinstance(item.tag, str) and item.tag != _DS + "Signature":
                    self._fail_shape(f"DSCKS/{role.tag} holds {item.tag!r}; only signatures belong there")
        parent = self.signature.getparent()
        in_role = parent is not None and bool(holders) and parent.getparent() is holders[0]
        if parent is None or not (in_role or (whole and parent is root)):
            self._fail_shape(
                "an e-invoice's signature must be in DSCKS/NBan, DSCKS/NMua, DSCKS/CQT or DSCKS/CCKSKhac "
                "(or, signing the whole document, directly under HDon)"
            )
        role_name = f"DSCKS/{parent.tag}" if in_role else "HDon"
        if not self._covers(invoice):
            self._fail_shape(
                f"the signature in {role_name} does not cover /HDon/DLHDon, the invoice data "
                "readers use (it signs " + ", ".join(r.covers[0] for r in self.references if r.covers) + ")"
            )
        if role_name == "DSCKS/CQT" and codes and not self._covers(codes[0]):
            self._fail_shape("the tax authority's signature (DSCKS/CQT) does not cover /HDon/MCCQT")
        if codes and not self._covers(codes[0]) and root.find(f"DSCKS/CQT/{_DS}Signature") is None:
            self.warnings.append(
                "the tax authority's code /HDon/MCCQT is not covered by any signature here (no DSCKS/CQT "
                "signature): it is unverified"
            )
        if root.find(f"DSCKS/NBan/{_DS}Signature") is None and not whole:
            self._fail_shape("the e-invoice has no seller's signature in DSCKS/NBan")

    def _unsigned_decoys(self) -> None:
        """Elements in this Signature that no reference covers (an unreferenced Object, KeyInfo...) and
        that share a name with signed data, or with data outside signatures, are decoys for readers: a
        moved enveloped signature can put them first in document order (XSW with an Object wrapper)."""
        foreign = 0
        seen: set[str] = set()  # one search per name: 200 nested copies of a name cost one walk, not 200
        for count, element in enumerate(self.signature.iter()):
            if count > 10_000:
                self._fail_shape("the signature holds more than 10,000 nodes")
            if not isinstance(element.tag, str) or etree.QName(element).namespace in _STRUCTURAL_NAMESPACES:
                continue
            if element.tag in seen or self._covers(element):
                continue
            seen.add(element.tag)
            foreign += 1
            if foreign > 100:
                self._fail_shape("the signature holds more than 100 unsigned elements of other vocabularies")
            self.budget.charge(self.budget.size)
            for twin in self.root.iter(element.tag):
                if twin is element or (_is_ancestor_or_self(self.signature, twin) and not self._covers(twin)):
                    continue  # unsigned, like the element itself
                if self._covers(twin) or not _inside_signature(twin):
                    self._fail_shape(
                        f"the signature holds an unsigned {xtree.local_name(element)!r}, the name of data in the "
                        f"document ({xtree.describe(twin)}): a decoy for readers (signature wrapping)"
                    )

    def _no_unsigned_twins(self) -> None:
        """No element with the same name as a signed element may sit outside the signed content (XSW1-8)."""
        for target in self.referenced:
            if target is self.root or not isinstance(target.tag, str):
                continue
            if etree.QName(target).namespace in _STRUCTURAL_NAMESPACES:
                continue
            self.budget.charge(self.budget.size)
            for twin in self.root.iter(target.tag):
                if twin is target or _is_ancestor_or_self(target, twin):
                    continue
                if _is_ancestor_or_self(twin, target):
                    self._fail_shape(
                        f"the signed {xtree.describe(target)} lies inside an unsigned element of the "
                        "same name: readers would read the unsigned one"
                    )
                if not self._signed_elsewhere(twin):
                    self._fail_shape(
                        f"{xtree.describe(twin)} has the same name as the signed "
                        f"{xtree.describe(target)} but is not signed: readers could take it for the "
                        "signed data (signature wrapping)"
                    )

    def _signed_elsewhere(self, element: etree._Element) -> bool:
        """Another Signature names ``element`` (or an ancestor) by ID; its own report says if that holds."""
        if self._other_uris is None:  # once per signature: twins x references would be quadratic
            self._other_uris = {
                reference.get("URI") or ""
                for reference in self.root.iter(_DS + "Reference")
                if not _is_ancestor_or_self(self.signature, reference)
            }
        node: etree._Element | None = element
        while node is not None:
            ident = xtree.element_id(node)
            if ident and "#" + ident in self._other_uris:
                return True
            node = node.getparent()
        return False

    # -- the signature value and the certificates --------------------------------------------

    def _key_info_certificates(self) -> list[x509.Certificate]:
        certs = []
        key_info = self._key_info()
        if key_info is None:
            return []
        for text in key_info.findall(f"{_DS}X509Data/{_DS}X509Certificate"):
            der = _decode_base64(text.text, "an X509Certificate in KeyInfo")
            certs.append(load_certificate(der, "an X509Certificate in KeyInfo"))
        return certs

    def _key_info(self) -> etree._Element | None:
        """KeyInfo, following one dsig11:KeyInfoReference to a KeyInfo elsewhere in the document."""
        key_info = self.signature.find(_DS + "KeyInfo")
        if key_info is None:
            return None
        pointer = key_info.find(_DS11 + "KeyInfoReference")
        if pointer is not None and key_info.find(f"{_DS}X509Data") is None and key_info.find(_DS + "KeyValue") is None:
            uri = pointer.get("URI") or ""
            if not uri.startswith("#") or len(uri) < 2:
                raise InvalidInput("a KeyInfoReference must name a KeyInfo in the document by '#id'")
            referenced = xtree.find_by_id(self.root, uri[1:])
            if referenced.tag != _DS + "KeyInfo":
                raise InvalidInput("a KeyInfoReference must point at a ds:KeyInfo")
            return referenced
        return key_info

    def _leaf(
        self, certs: list[x509.Certificate], extra: list[x509.Certificate], qualifying: etree._Element | None
    ) -> x509.Certificate | None:
        """The signing certificate: the one the XAdES SigningCertificate names, the one an X509Digest
        names, else the end of the chain given in KeyInfo."""
        pool = certs + [c for c in extra if c not in certs] + [c for c in self.intermediates if c not in certs]
        named = self._named_certificate(pool, qualifying)
        if named is not None:
            return named
        if not certs:
            return None
        issuers = {c.issuer for c in certs if c.issuer != c.subject}
        for cert in certs:
            if cert.subject not in issuers:
                return cert
        return certs[0]

    def _named_certificate(
        self, pool: list[x509.Certificate], qualifying: etree._Element | None
    ) -> x509.Certificate | None:
        wanted: list[tuple[str, bytes]] = []
        key_info = self._key_info()
        if key_info is not None:
            for item in key_info.findall(f"{_DS}X509Data/{_DS11}X509Digest"):
                algorithm = VERIFY_DIGESTS.get(item.get("Algorithm") or "")
                if algorithm is None:
                    raise InvalidInput("the X509Digest algorithm is not supported")
                wanted.append((algorithm, _decode_base64(item.text, "an X509Digest")))
        if qualifying is not None:
            xa = f"{{{self.xades_ns}}}"
            props = qualifying.find(f"{xa}SignedProperties/{xa}SignedSignatureProperties")
            if props is not None:
                for cert in props.findall(f"{xa}SigningCertificateV2/{xa}Cert") + props.findall(
                    f"{xa}SigningCertificate/{xa}Cert"
                ):
                    method = cert.find(f"{xa}CertDigest/{_DS}DigestMethod")
                    algorithm = VERIFY_DIGESTS.get(method.get("Algorithm") or "") if method is not None else None
                    if algorithm is not None:
                        wanted.append(
                            (
                                algorithm,
                                _decode_base64(cert.findtext(f"{xa}CertDigest/{_DS}DigestValue"), "a CertDigest"),
                            )
                        )
                    break  # the first Cert is the signer's
        for algorithm, value in wanted:
            for candidate in pool:
                der = candidate.public_bytes(serialization.Encoding.DER)
                if hmac.compare_digest(hashlib.new(algorithm, der).digest(), value):
                    return candidate
        return None

    def _key_value(self) -> object | None:
        key_info = self._key_info()
        if key_info is None:
            return None
        encoded = key_info.findtext(_DS11 + "DEREncodedKeyValue")
        if encoded is not None:
            try:
                return serialization.load_der_public_key(_decode_base64(encoded, "a DEREncodedKeyValue"))
            except (ValueError, UnsupportedAlgorithm):
                raise InvalidInput("the DEREncodedKeyValue is not a public key") from None
        holder = key_info.find(f"{_DS}KeyValue")
        if holder is None:
            return None
        try:
            modulus = holder.findtext(f"{_DS}RSAKeyValue/{_DS}Modulus")
            if modulus is not None:
                exponent = holder.findtext(f"{_DS}RSAKeyValue/{_DS}Exponent") or ""
                return rsa.RSAPublicNumbers(_b64int(exponent), _b64int(modulus)).public_key()
            point = holder.findtext(f"{_DS11}ECKeyValue/{_DS11}PublicKey")
            curve = holder.find(f"{_DS11}ECKeyValue/{_DS11}NamedCurve")
            if point is not None and curve is not None:
                oid = (curve.get("URI") or "").removeprefix("urn:oid:")
                ec_curve = ec.get_curve_for_oid(x509.ObjectIdentifier(oid))
                return ec.EllipticCurvePublicKey.from_encoded_point(ec_curve(), _b64(point))
            dsa_key = holder.find(f"{_DS}DSAKeyValue")
            if dsa_key is not None:
                numbers = {k: _b64int(dsa_key.findtext(_DS + k) or "") for k in ("P", "Q", "G", "Y")}
                parameters = dsa.DSAParameterNumbers(numbers["P"], numbers["Q"], numbers["G"])
                return dsa.DSAPublicNumbers(numbers["Y"], parameters).public_key()
        except (ValueError, LookupError, binascii.Error, UnsupportedAlgorithm):
            raise InvalidInput("the KeyValue in KeyInfo is not a valid public key") from None
        return None

    def _check_signature_value(
        self, signed_info: etree._Element, c14n: str, algorithm: _Algorithm, key: object
    ) -> None:
        value = _decode_base64(self._one(self.signature, "SignatureValue").text, "the SignatureValue")
        size = getattr(key, "key_size", 2048)
        if algorithm.scheme in ("rsa", "rsa-pss", "dsa") and isinstance(size, int) and size < 2048:
            kind = "dsa" if algorithm.scheme == "dsa" else "rsa"
            self.weak.append(f"{kind}-1024" if size >= 1024 else f"{kind}-{size}")
        data = canonicalize(signed_info, c14n)
        wrong_key = _Failure(
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            f"the signer's key cannot make a {algorithm.name} signature",
        )
        try:
            if algorithm.scheme in ("rsa", "rsa-pss"):
                if not isinstance(key, rsa.RSAPublicKey):
                    raise wrong_key
                pad: padding.AsymmetricPadding = padding.PKCS1v15()
                if algorithm.scheme == "rsa-pss":
                    pad = padding.PSS(mgf=padding.MGF1(algorithm.hash()), salt_length=algorithm.hash().digest_size)
                key.verify(value, data, pad, algorithm.hash())
            elif algorithm.scheme in ("ecdsa", "dsa"):
                # (cryptography warns on any use of its DSA classes: touched only for a DSA signature.)
                if algorithm.scheme == "ecdsa" and not isinstance(key, ec.EllipticCurvePublicKey):
                    raise wrong_key
                if algorithm.scheme == "dsa" and not isinstance(key, dsa.DSAPublicKey):
                    raise wrong_key
                # r||s, each half of the value: XMLDSig 1.1 pads to the key size, some signers do not.
                if not value or len(value) % 2:
                    raise InvalidSignature
                half = len(value) // 2
                der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
                if isinstance(key, ec.EllipticCurvePublicKey):
                    key.verify(der, data, ec.ECDSA(algorithm.hash()))
                elif isinstance(key, dsa.DSAPublicKey):
                    key.verify(der, data, algorithm.hash())
            elif algorithm.scheme == "ed25519":
                if not isinstance(key, ed25519.Ed25519PublicKey):
                    raise wrong_key
                key.verify(value, data)
            elif algorithm.scheme == "ed448":
                if not isinstance(key, ed448.Ed448PublicKey):
                    raise wrong_key
                key.verify(value, data)
            else:
                raise wrong_key
        except InvalidSignature:
            raise _Failure(
                Indication.TOTAL_FAILED,
                SubIndication.SIG_CRYPTO_FAILURE,
                "the signature value does not verify with the signer's certificate",
            ) from None

    # -- XAdES and e-invoice properties -----------------------------------------------------

    def _qualifying_properties(self) -> etree._Element | None:
        for ns in _XADES_NAMESPACES:
            found = self.signature.find(f"{_DS}Object/{{{ns}}}QualifyingProperties")
            if found is not None:
                self.xades_ns = ns
                return found
        return None

    def _check_signed_properties(self, qualifying: etree._Element, leaf: x509.Certificate) -> datetime | None:
        xa = f"{{{self.xades_ns}}}"
        target = qualifying.get("Target") or ""
        if target.lstrip("#") != (self.signature.get("Id") or ""):
            raise _Failure(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "QualifyingProperties/@Target does not name this signature",
            )
        signed_props = qualifying.find(xa + "SignedProperties")
        if signed_props is None or not any(signed_props is r for r in self.referenced):
            raise _Failure(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "the XAdES SignedProperties are not covered by the signature",
            )
        sig_props = signed_props.find(xa + "SignedSignatureProperties")
        if sig_props is None:
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "no SignedSignatureProperties")
        certs = sig_props.findall(f"{xa}SigningCertificateV2/{xa}Cert") or sig_props.findall(
            f"{xa}SigningCertificate/{xa}Cert"
        )
        if not certs:
            raise _Failure(
                Indication.INDETERMINATE,
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                "no SigningCertificate(V2) in the signed properties",
            )
        der = leaf.public_bytes(serialization.Encoding.DER)
        method = certs[0].find(f"{xa}CertDigest/{_DS}DigestMethod")
        value = certs[0].findtext(f"{xa}CertDigest/{_DS}DigestValue") or ""
        alg = VERIFY_DIGESTS.get(method.get("Algorithm") or "") if method is not None else None
        if alg is None:
            raise InvalidInput("the SigningCertificate digest method is not supported")
        # A certificate digest, not a signature: SHA-1 is tolerable here.
        if not hmac.compare_digest(
            hashlib.new(alg, der).digest(), _decode_base64(value, "the SigningCertificate digest")
        ):
            raise _Failure(
                Indication.INDETERMINATE,
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                "the signed SigningCertificate does not match the certificate in KeyInfo",
            )
        text = sig_props.findtext(xa + "SigningTime")
        return _parse_time(text) if text else None

    def _check_timestamps(self, qualifying: etree._Element, c14n: str) -> tuple[TimestampInfo, ...]:
        xa = f"{{{self.xades_ns}}}"
        found: list[TimestampInfo] = []
        value_element = self._one(self.signature, "SignatureValue")
        stamps = f"{xa}UnsignedProperties/{xa}UnsignedSignatureProperties/{xa}SignatureTimeStamp"
        for stamp in qualifying.iterfind(stamps):
            method = stamp.find(_DS + "CanonicalizationMethod")
            stamp_c14n = method.get("Algorithm") if method is not None else C14N_INCLUSIVE
            message = canonicalize(value_element, stamp_c14n or C14N_INCLUSIVE)
            token_text = stamp.findtext(xa + "EncapsulatedTimeStamp") or ""
            try:
                token = base64.b64decode("".join(token_text.split()), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("an EncapsulatedTimeStamp is not base64") from None
            info = check_timestamp_token(
                token, imprint_of(message), anchors=self.anchors, intermediates=self.intermediates
            )
            if info.message:
                self.warnings.append(f"signature time-stamp: {info.message}")
            found.append(info)
        return tuple(found)

    def _validation_data(
        self, qualifying: etree._Element | None
    ) -> tuple[list[x509.Certificate], list[bytes], list[bytes]]:
        if qualifying is None:
            return [], [], []
        xa = f"{{{self.xades_ns}}}"
        base = f"{xa}UnsignedProperties/{xa}UnsignedSignatureProperties/"

        def blobs(path: str) -> list[bytes]:
            return [_decode_base64(e.text, f"an {etree.QName(e).localname}") for e in qualifying.iterfind(base + path)]

        encapsulated = blobs(f"{xa}CertificateValues/{xa}EncapsulatedX509Certificate")
        certs = [load_certificate(b, "an EncapsulatedX509Certificate") for b in encapsulated]
        ocsps = blobs(f"{xa}RevocationValues/{xa}OCSPValues/{xa}EncapsulatedOCSPValue")
        crls = blobs(f"{xa}RevocationValues/{xa}CRLValues/{xa}EncapsulatedCRLValue")
        return certs, ocsps, crls

    def _einvoice_signing_time(self) -> datetime | None:
        """The e-invoice SigningTime: ``Object/SignatureProperties/SignatureProperty/SigningTime``, each
        of them with or without the XMLDSig namespace (producers differ), read only when signed."""
        for holder in self.signature.findall(_DS + "Object"):
            text = None
            for properties in holder:
                if not isinstance(properties.tag, str) or xtree.local_name(properties) != "SignatureProperties":
                    continue
                for prop in properties:
                    if isinstance(prop.tag, str) and xtree.local_name(prop) == "SignatureProperty":
                        for item in prop:
                            if isinstance(item.tag, str) and xtree.local_name(item) == "SigningTime":
                                text = item.text or ""
                                break
                    if text is not None:
                        break
                if text is not None:
                    break
            if text is None:
                continue
            if not self._covers(holder):
                self.warnings.append("the SigningTime is not covered by the signature and was ignored")
                return None
            parsed = _parse_time(text.strip(), default_zone=VIETNAM_TIME)
            if parsed is None:
                self.warnings.append(f"the SigningTime {text.strip()[:40]!r} cannot be read and was ignored")
            return parsed
        return None

    # -- trust and revocation -----------------------------------------------------------------

    def _trust_and_revocation(
        self,
        leaf: x509.Certificate,
        certs: list[x509.Certificate],
        ocsps: list[bytes],
        crls: list[bytes],
        timestamps: tuple[TimestampInfo, ...],
    ) -> tuple[PathValidation, RevocationInfo | None]:
        """The signer's path and its revocation status: one question to the trust engine when it passes.

        Each esign.trust call builds a certvalidator context and runs an event loop (~4 ms for a 10 KB
        document, ten times its XML work). A path that passes with revocation required also passes
        without; anything else (an expired certificate a time-stamp may rescue, no status current at the
        validation time, a revocation, unreadable revocation data) is decided by the two separate
        questions below, as before: certvalidator meets a missing CRL on the way down the path before,
        say, the expiry of the signer's certificate, and the path-only question must speak first. The
        first answer stands in for the revocation question when that would be asked about the same
        certificates at the same time.
        """
        result: PathValidation | None = None
        offered = {c for c in certs if c != leaf}
        if not self.allow_fetching:  # fetching may find issuers (caIssuers) the path-only question does not
            try:
                result = validate_path(
                    leaf,
                    at=self.at,
                    anchors=self.anchors,
                    intermediates=certs,
                    crls=[*crls, *self.supplied_crls],
                    ocsps=[*ocsps, *self.supplied_ocsps],
                    revocation="require",
                    revinfo_source="embedded",
                )
            except InvalidInput:  # unreadable revocation data: raised below only once the path holds
                result = None
            # certvalidator takes the first candidate path that validates; with another chain among the
            # signature's certificates, the path-only question may settle on one that has no revocation data.
            if result is not None and result.passed and offered <= set(result.path):
                return result, result.revocation if len(result.path) >= 2 else None
        path = self._trust(leaf, certs, timestamps)
        # The answer above is the revocation question's own when the path-only question found the path the
        # signature's certificates make, at the same time (not rescued by a time-stamp): no need to ask it twice.
        if result is not None and path.at == self.at and path.path[:1] == (leaf,) and offered <= set(path.path):
            return path, self._revocation(path, ocsps, crls, timestamps, asked=result)
        return path, self._revocation(path, ocsps, crls, timestamps)

    def _trust(
        self, leaf: x509.Certificate, certs: list[x509.Certificate], timestamps: tuple[TimestampInfo, ...]
    ) -> PathValidation:
        # The path and the signer's key usage (esign.trust, the engine PDF uses too); revocation follows.
        path = validate_path(leaf, at=self.at, anchors=self.anchors, intermediates=certs, revocation="none")
        if path.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE:
            proven = [t.time for t in timestamps if t.valid and t.trusted]
            if proven and min(proven) <= leaf.not_valid_after_utc:
                earlier = validate_path(
                    leaf, at=min(proven), anchors=self.anchors, intermediates=certs, revocation="none"
                )
                if earlier.passed:
                    self.warnings.append(
                        "the signing certificate has expired since; a time-stamp proves it signed in time"
                    )
                    path = earlier
        if not path.passed:
            sub = path.sub_indication or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            raise _Failure(path.indication, sub, path.message)
        return path

    def _revocation(
        self,
        path: PathValidation,
        ocsps: list[bytes],
        crls: list[bytes],
        timestamps: tuple[TimestampInfo, ...],
        asked: PathValidation | None = None,
    ) -> RevocationInfo | None:
        if len(path.path) < 2:
            return None  # the signer's certificate is itself a trust anchor
        # ETSI EN 319 102-1 through esign.trust: every certificate of the path needs a CRL or OCSP answer
        # (embedded in the signature, or fetched when allowed); none at all is INDETERMINATE/TRY_LATER.
        result = asked or validate_path(
            path.path[0],
            at=path.at,
            anchors=self.anchors,
            intermediates=path.path[1:],
            crls=[*crls, *self.supplied_crls],
            ocsps=[*ocsps, *self.supplied_ocsps],
            revocation="require",
            allow_fetching=self.allow_fetching,
            revinfo_source="embedded",
        )
        if result.passed:
            return result.revocation
        info = result.revocation
        proven = [t.time for t in timestamps if t.valid and t.trusted]
        if result.sub_indication is SubIndication.TRY_LATER and proven:
            # No status current at the validation time, but a trusted time-stamp proves when the signature
            # existed: the data embedded then (B-LT) decides the status at that time (EN 319 102-1 past
            # certificate validation); a revocation it lists still counts from its own date.
            earlier = validate_path(
                path.path[0],
                at=min(proven),
                anchors=self.anchors,
                intermediates=path.path[1:],
                crls=[*crls, *self.supplied_crls],
                ocsps=[*ocsps, *self.supplied_ocsps],
                revocation="require",
                allow_fetching=self.allow_fetching,
                revinfo_source="embedded",
                retroactive_revinfo=True,
            )
            if earlier.passed:
                self.warnings.append(
                    "revocation status established at the signature time-stamp's time from the embedded data"
                )
                return earlier.revocation
            if earlier.sub_indication is SubIndication.REVOKED:
                result, info = earlier, earlier.revocation
        if result.sub_indication is SubIndication.REVOKED and info is not None:
            reason = info.reason or "no reason given"
            if proven and info.revoked_at and min(proven) < info.revoked_at:
                raise _Failure(
                    Indication.INDETERMINATE,
                    SubIndication.REVOKED_NO_POE,
                    f"the signing certificate was revoked on {info.revoked_at.isoformat()} ({reason}), after the "
                    "signature time-stamp; the signature may predate the revocation",
                )
            message = f"the signing certificate is revoked ({reason})"
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.REVOKED, message)
        raise _Failure(result.indication, result.sub_indication or SubIndication.TRY_LATER, result.message)


class _MissingData(Exception):
    """The data of a detached reference was not given."""


def _is_ancestor_or_self(node: etree._Element, descendant: etree._Element) -> bool:
    current: etree._Element | None = descendant
    while current is not None:
        if current is node:
            return True
        current = current.getparent()
    return False


def _inside_signature(element: etree._Element) -> bool:
    current: etree._Element | None = element
    while current is not None:
        if current.tag == _DS + "Signature":
            return True
        current = current.getparent()
    return False


@functools.lru_cache(maxsize=256)
def _signer_info(cert: x509.Certificate, reveal: bool) -> SignerInfo:
    return SignerInfo.from_certificate(cert, reveal=reveal)


def _decode_base64(text: str | None, what: str) -> bytes:
    """Strict base64 (whitespace allowed, as XML wraps lines); :class:`InvalidInput` naming ``what``."""
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not base64") from None


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def _b64int(text: str) -> int:
    return int.from_bytes(_b64(text), "big")


def _parse_time(text: str, default_zone: Any = UTC) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_zone)
    return value.astimezone(UTC)


__all__ = ["PROFILES", "SignedContent", "SignedReference", "XmlVerification", "verify_xml"]
