"""XMLDSig and XAdES verification: one :class:`~esign.report.ValidationReport` per ``Signature``.

What verification accepts is narrow on purpose: same-document references (``""`` and bare
``#id``) and detached ones only through a resolver the caller gives; transforms limited to
enveloped-signature and canonicalization; no SHA-1/MD5 unless asked for by name; unique IDs.
Anything else is refused with :class:`~esign.errors.InvalidInput` before any digest is computed.

The result hands back the signed content itself (:attr:`XmlVerification.signed`), as the canonical
bytes that were digested: read the data from there, never from the input document, and a
signature-wrapping attack has nothing to hide behind.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme, digest_algorithm
from esign.errors import EsignError, InvalidInput, WeakAlgorithm
from esign.report import (
    Indication,
    ReferenceInfo,
    RevocationInfo,
    RevocationStatus,
    SignerInfo,
    SubIndication,
    TimestampInfo,
    ValidationReport,
    summarize,
)
from esign.signers.base import rsa_padding
from esign.signers.file import load_certificates
from esign.xml import tree as xtree
from esign.xml.c14n import canonicalize, digest_document, method_flags
from esign.xml.chain import CertificatePath, build_path, check_revocation, load_certificate
from esign.xml.constants import (
    C14N_INCLUSIVE,
    C14N_METHODS,
    DIGEST_URIS,
    DS11_NS,
    DS_NS,
    ENVELOPED,
    SIGNATURE_URIS,
    VIETNAM_TIME,
    XADES141_NS,
    XADES_NS,
    XADES_SIGNED_PROPERTIES_TYPE,
)
from esign.xml.parsing import parse_xml

_DS = f"{{{DS_NS}}}"
_XADES_NAMESPACES = (XADES_NS, XADES141_NS)
MAX_REFERENCES = 64
MAX_TRANSFORMS = 4
DIGEST_BUDGET_FACTOR = 16
"""Over all signatures, same-document references may cost this many passes over the document ..."""
DIGEST_BUDGET_FLOOR = 64_000_000
"""... or this many bytes, whichever is more (small documents may carry many signatures)."""

DetachedResolver = Mapping[str, bytes] | Callable[[str], bytes]
TrustAnchors = Sequence[x509.Certificate] | str | Path | bytes


@dataclass(frozen=True)
class SignedContent:
    """What one reference of a valid signature covers, as the exact bytes that were digested."""

    signature_id: str
    uri: str
    kind: str
    """``content`` (the data), ``signed-properties`` (XAdES) or ``signature-properties`` (e-invoice time)."""
    data: bytes
    """The canonical form that was digested (raw bytes for a detached reference without C14N)."""

    def xml(self) -> etree._Element:
        """The signed content parsed (hardened), detached from the input document."""
        return parse_xml(self.data, huge_tree=len(self.data) > 10_000_000).getroot()


@dataclass(frozen=True)
class XmlVerification:
    """The reports of every Signature in a document and the content they sign."""

    reports: tuple[ValidationReport, ...]
    signed: tuple[SignedContent, ...] = field(default=(), repr=False)
    """Content covered by signatures whose references and signature value verified."""

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
    trust_anchors: TrustAnchors,
    allow_fetching: bool = False,
    allow_weak: bool = False,
    reveal: bool = False,
    detached: DetachedResolver | None = None,
    validation_time: datetime | None = None,
    huge_tree: bool = False,
    keep_signed: bool = True,
) -> XmlVerification:
    """Verify every ``Signature`` in ``data`` against ``trust_anchors`` (certificates, or a PEM file/bytes).

    No network access happens unless ``allow_fetching`` (then only to the signer's OCSP responder).
    Hostile or disallowed constructs raise :class:`~esign.errors.InvalidInput`; a signature that is
    merely invalid gets a TOTAL-FAILED or INDETERMINATE report.

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
    )
    return result


def verify_keeping_tree(
    data: bytes,
    *,
    trust_anchors: TrustAnchors,
    allow_fetching: bool = False,
    allow_weak: bool = False,
    reveal: bool = False,
    detached: DetachedResolver | None = None,
    validation_time: datetime | None = None,
    huge_tree: bool = False,
    keep_signed: bool = True,
) -> tuple[XmlVerification, etree._ElementTree]:
    """:func:`verify_xml`, also handing back the parsed document (internal: for ``esign xml verify``).

    Freeing the tree of a 50 MB document (millions of libxml2 nodes, then glibc merging the freed
    chunks) costs ~0.2 s; a process that ends right after the report can leave that to the kernel.
    """
    anchors = _anchors(trust_anchors)
    tree = parse_xml(data, huge_tree=huge_tree)
    root = tree.getroot()
    signatures = [root] if root.tag == _DS + "Signature" else list(root.iter(_DS + "Signature"))
    if not signatures:
        raise InvalidInput("the document holds no XML signature (ds:Signature)")
    when = validation_time or datetime.now(UTC)
    reports: list[ValidationReport] = []
    signed: list[SignedContent] = []
    budget = _DigestBudget(len(data))
    for position, signature in enumerate(signatures):
        checker = _SignatureCheck(
            tree, signature, position, anchors=anchors, allow_fetching=allow_fetching, allow_weak=allow_weak,
            reveal=reveal, detached=detached, at=when, keep=keep_signed, budget=budget,
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
        reports.append(report)
        if checker.core_valid:
            signed.extend(checker.contents)
    return XmlVerification(tuple(reports), tuple(signed)), tree


def _anchors(trust_anchors: TrustAnchors) -> list[x509.Certificate]:
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
        self.references: list[ReferenceInfo] = []
        self.contents: list[SignedContent] = []
        self.referenced: list[etree._Element] = []
        self.core_valid = False
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.is_xades = False
        self.xades_ns = XADES_NS

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
        certs = self._key_info_certificates()
        leaf = self._leaf(certs)
        signer = _signer_info(leaf, self.reveal) if leaf is not None else None
        claimed: datetime | None = None
        timestamps: tuple[TimestampInfo, ...] = ()
        path: CertificatePath | None = None
        revocation: RevocationInfo | None = None
        level: str | None = None
        try:
            digests_ok = [self._check_reference(ref) for ref in references]
            if not all(digests_ok):
                bad = [r.uri or '""' for r in self.references if not r.digest_ok]
                raise _Failure(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                               f"the digest of reference {', '.join(bad)} does not match: the content was changed")
            key = leaf.public_key() if leaf is not None else self._key_value()
            if key is None:
                raise _Failure(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                               "the signature carries no X509Certificate or KeyValue to verify it with")
            self._check_signature_value(signed_info, c14n_uri, algorithm, key)
            self.core_valid = True
            if leaf is None:
                raise _Failure(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                               "the signature verifies with the bare public key it carries, "
                               "but it has no certificate that could be trusted")
            if qualifying is not None:
                claimed = self._check_signed_properties(qualifying, leaf)
                timestamps = self._check_timestamps(qualifying, c14n_uri)
                level = "B-B"
            else:
                claimed = self._einvoice_signing_time()
            extra_certs, ocsp_values, crl_values = self._validation_data(qualifying)
            path = self._trust(leaf, certs + extra_certs, timestamps)
            revocation = self._revocation(path, ocsp_values, crl_values, timestamps)
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
            trust_path=tuple(self._name(c) for c in path.certificates) if path else (),
            trust_anchor=path.anchor.subject.rfc4514_string() if path and path.anchor else None,
            revocation=revocation,
            digest_algorithm=algorithm.digest.value,
            signature_algorithm=algorithm.name,
            coverage="references",
            references=tuple(self.references),
            level=level,
            validation_time=self.at,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
        )

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

    def _signature_algorithm(self, uri: str) -> SignatureAlgorithm:
        try:
            scheme, digest = SIGNATURE_URIS[uri]
        except KeyError:
            raise InvalidInput(f"signature method {uri!r} is not supported") from None
        self._digest_policy(digest)
        return SignatureAlgorithm(scheme, digest)

    def _digest_policy(self, digest: DigestAlgorithm) -> None:
        if digest.is_weak and not self.allow_weak:
            raise WeakAlgorithm(
                f"signature {self.signature_id} uses {digest.value}, which is refused as insecure; "
                "pass allow_weak=True to accept it by name"
            )

    def _digest_method(self, reference: etree._Element) -> DigestAlgorithm:
        uri = self._one(reference, "DigestMethod").get("Algorithm") or ""
        try:
            digest = DIGEST_URIS[uri]
        except KeyError:
            raise InvalidInput(f"digest method {uri!r} is not supported") from None
        self._digest_policy(digest)
        return digest

    # -- references -----------------------------------------------------------------------

    def _check_reference(self, reference: etree._Element) -> bool:
        uri = reference.get("URI")
        if uri is None:
            raise InvalidInput("a Reference without URI is not accepted (the data it means is ambiguous)")
        digest = self._digest_method(reference)
        transforms = [t.get("Algorithm") or "" for t in reference.findall(f"{_DS}Transforms/{_DS}Transform")]
        if len(transforms) > MAX_TRANSFORMS:
            raise InvalidInput(f"a Reference with {len(transforms)} transforms is not accepted")
        for transform in transforms:
            if transform != ENVELOPED and transform not in C14N_METHODS:
                raise InvalidInput(f"transform {transform!r} is not allowed (only enveloped-signature and C14N)")
        c14n_list = [t for t in transforms if t in C14N_METHODS]
        c14n = c14n_list[-1] if c14n_list else C14N_INCLUSIVE
        inclusive_prefixes = self._inclusive_prefixes(reference)
        expected_text = self._one(reference, "DigestValue").text or ""
        try:
            expected = base64.b64decode("".join(expected_text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("a DigestValue is not base64") from None
        if uri == "" or uri.startswith("#"):
            self.budget.charge(self.budget.size)
            data, covers, target = self._same_document(uri, c14n, ENVELOPED in transforms, inclusive_prefixes)
        else:
            data, covers, target = self._detached(uri, c14n if c14n_list else None), (uri,), None
        actual = digest.digest(data) if data is not None else b""
        if data is None:
            actual, data = self._whole_document_digest(c14n, digest, ENVELOPED in transforms)
        ok = hmac.compare_digest(actual, expected)
        self.references.append(ReferenceInfo(uri=uri, digest_algorithm=digest.value, digest_ok=ok, covers=covers))
        if target is not None:
            self.referenced.append(target)
        self.contents.append(SignedContent(self.signature_id, uri, self._kind(reference, target), data))
        return ok

    def _inclusive_prefixes(self, reference: etree._Element) -> list[str] | None:
        for transform in reference.findall(f"{_DS}Transforms/{_DS}Transform"):
            for child in transform:
                if etree.QName(child).localname == "InclusiveNamespaces":
                    return (child.get("PrefixList") or "").split() or None
        return None

    def _kind(self, reference: etree._Element, target: etree._Element | None) -> str:
        if reference.get("Type") == XADES_SIGNED_PROPERTIES_TYPE or (
            target is not None and etree.QName(target).localname == "SignedProperties"
        ):
            return "signed-properties"
        # The tag first: for URI="" the target is the root, and find() would scan all its children.
        if target is not None and target.tag == _DS + "Object" and target.find("SignatureProperties") is not None:
            return "signature-properties"
        return "content"

    def _same_document(
        self, uri: str, c14n: str, enveloped: bool, prefixes: list[str] | None
    ) -> tuple[bytes | None, tuple[str, ...], etree._Element | None]:
        if uri == "":
            covers = (xtree.describe(self.root) + " (whole document" +
                      (", this signature excluded)" if enveloped else ")"),)
            return None, covers, self.root
        if uri.startswith("#xpointer("):
            raise InvalidInput("XPointer references are not allowed; use a bare '#id'")
        target = xtree.find_by_id(self.root, uri[1:])
        covers = (xtree.describe(target),)
        if enveloped and _is_ancestor_or_self(target, self.signature):
            with _signature_removed(self.signature):
                return canonicalize(target, c14n, inclusive_prefixes=prefixes, with_comments=False), covers, target
        return canonicalize(target, c14n, inclusive_prefixes=prefixes, with_comments=False), covers, target

    def _whole_document_digest(self, c14n: str, digest: DigestAlgorithm, enveloped: bool) -> tuple[bytes, bytes]:
        if enveloped and self.signature is not self.root:
            with _signature_removed(self.signature):
                return digest_document(self.tree, c14n, digest.value, keep=self.keep)
        return digest_document(self.tree, c14n, digest.value, keep=self.keep)

    def _detached(self, uri: str, c14n: str | None) -> bytes:
        if self.detached is None:
            raise InvalidInput(
                f"reference {uri!r} points outside the document; pass detached={{uri: bytes}} to verify it"
            )
        try:
            data = self.detached(uri) if callable(self.detached) else self.detached[uri]
        except KeyError:
            raise InvalidInput(f"no detached content given for reference {uri!r}") from None
        if c14n is None:
            return bytes(data)
        return canonicalize(parse_xml(bytes(data)), c14n, with_comments=False)

    # -- the signature value and the certificates --------------------------------------------

    def _key_info_certificates(self) -> list[x509.Certificate]:
        certs = []
        for text in self.signature.findall(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"):
            der = _decode_base64(text.text, "an X509Certificate in KeyInfo")
            certs.append(load_certificate(der, "an X509Certificate in KeyInfo"))
        return certs

    def _leaf(self, certs: list[x509.Certificate]) -> x509.Certificate | None:
        if not certs:
            return None
        issuers = {c.issuer for c in certs if c.issuer != c.subject}
        for cert in certs:
            if cert.subject not in issuers:
                return cert
        return certs[0]

    def _key_value(self) -> object | None:
        holder = self.signature.find(f"{_DS}KeyInfo/{_DS}KeyValue")
        if holder is None:
            return None
        try:
            modulus = holder.findtext(f"{_DS}RSAKeyValue/{_DS}Modulus")
            if modulus is not None:
                exponent = holder.findtext(f"{_DS}RSAKeyValue/{_DS}Exponent") or ""
                return rsa.RSAPublicNumbers(_b64int(exponent), _b64int(modulus)).public_key()
            point = holder.findtext(f"{{{DS11_NS}}}ECKeyValue/{{{DS11_NS}}}PublicKey")
            curve = holder.find(f"{{{DS11_NS}}}ECKeyValue/{{{DS11_NS}}}NamedCurve")
            if point is not None and curve is not None:
                oid = (curve.get("URI") or "").removeprefix("urn:oid:")
                ec_curve = ec.get_curve_for_oid(x509.ObjectIdentifier(oid))
                return ec.EllipticCurvePublicKey.from_encoded_point(ec_curve(), _b64(point))
        except (ValueError, LookupError, binascii.Error):
            raise InvalidInput("the KeyValue in KeyInfo is not a valid public key") from None
        return None

    def _check_signature_value(
        self, signed_info: etree._Element, c14n: str, algorithm: SignatureAlgorithm, key: object
    ) -> None:
        text = self._one(self.signature, "SignatureValue").text or ""
        try:
            value = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("the SignatureValue is not base64") from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048 and not self.allow_weak:
            raise WeakAlgorithm(f"signature {self.signature_id} uses an RSA-{key.key_size} key, refused as too short; "
                                "pass allow_weak=True to accept it by name")
        data = canonicalize(signed_info, c14n)
        try:
            if isinstance(key, rsa.RSAPublicKey) and algorithm.scheme in (
                SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS
            ):
                key.verify(value, data, rsa_padding(algorithm), algorithm.digest.hash_object())
            elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm.scheme is SignatureScheme.ECDSA:
                size = (key.curve.key_size + 7) // 8
                if len(value) != 2 * size:
                    raise InvalidSignature
                der = encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))
                key.verify(der, data, ec.ECDSA(algorithm.digest.hash_object()))
            else:
                raise _Failure(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE,
                               f"the certificate's key cannot make a {algorithm.name} signature")
        except InvalidSignature:
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE,
                           "the signature value does not verify with the signer's certificate") from None

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
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                           "QualifyingProperties/@Target does not name this signature")
        signed_props = qualifying.find(xa + "SignedProperties")
        if signed_props is None or not any(signed_props is r for r in self.referenced):
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                           "the XAdES SignedProperties are not covered by the signature")
        sig_props = signed_props.find(xa + "SignedSignatureProperties")
        if sig_props is None:
            raise _Failure(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "no SignedSignatureProperties")
        certs = sig_props.findall(f"{xa}SigningCertificateV2/{xa}Cert") or sig_props.findall(
            f"{xa}SigningCertificate/{xa}Cert"
        )
        if not certs:
            raise _Failure(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                           "no SigningCertificate(V2) in the signed properties")
        der = leaf.public_bytes(serialization.Encoding.DER)
        method = certs[0].find(f"{xa}CertDigest/{_DS}DigestMethod")
        value = certs[0].findtext(f"{xa}CertDigest/{_DS}DigestValue") or ""
        try:
            alg = DIGEST_URIS[method.get("Algorithm") or ""] if method is not None else None
        except KeyError:
            alg = None
        if alg is None:
            raise InvalidInput("the SigningCertificate digest method is not supported")
        alg = digest_algorithm(alg, allow_weak=True)  # a certificate digest, not a signature: SHA-1 is tolerable
        if not hmac.compare_digest(alg.digest(der), _decode_base64(value, "the SigningCertificate digest")):
            raise _Failure(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                           "the signed SigningCertificate does not match the certificate in KeyInfo")
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
            from esign.xml.timestamps import check_token  # asn1crypto: loaded only for time-stamped signatures

            info, error = check_token(token, message, anchors=self.anchors)
            if error:
                self.warnings.append(f"signature time-stamp: {error}")
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
        for holder in self.signature.findall(_DS + "Object"):
            text = holder.findtext("SignatureProperties/SignatureProperty/SigningTime")
            if text is None:
                text = holder.findtext(f"{_DS}SignatureProperties/{_DS}SignatureProperty/SigningTime")
            if text is None:
                continue
            if not any(holder is r for r in self.referenced):
                self.warnings.append("the SigningTime is not covered by the signature and was ignored")
                return None
            return _parse_time(text.strip(), default_zone=VIETNAM_TIME)
        return None

    # -- trust and revocation -----------------------------------------------------------------

    def _trust(
        self, leaf: x509.Certificate, certs: list[x509.Certificate], timestamps: tuple[TimestampInfo, ...]
    ) -> CertificatePath:
        path = build_path(leaf, certs, self.anchors, at=self.at)
        if path.expired_only:
            proven = [t.time for t in timestamps if t.valid and t.trusted]
            if proven and min(proven) <= leaf.not_valid_after_utc:
                path = build_path(leaf, certs, self.anchors, at=min(proven))
                if path.ok:
                    self.warnings.append(
                        "the signing certificate has expired since; a time-stamp proves it signed in time")
        if not path.ok:
            indication = Indication.INDETERMINATE
            raise _Failure(indication, path.sub_indication or SubIndication.NO_CERTIFICATE_CHAIN_FOUND, path.message)
        try:
            usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
            if not (usage.digital_signature or usage.content_commitment):
                raise _Failure(Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                               "the signing certificate's key usage allows no signatures")
        except x509.ExtensionNotFound:
            pass
        return path

    def _revocation(
        self, path: CertificatePath, ocsps: list[bytes], crls: list[bytes], timestamps: tuple[TimestampInfo, ...]
    ) -> RevocationInfo | None:
        if len(path.certificates) < 2:
            return None
        leaf, issuer = path.certificates[0], path.certificates[1]
        info = check_revocation(leaf, issuer, ocsp_responses=ocsps, crls=crls, allow_fetching=self.allow_fetching)
        if info.status is RevocationStatus.REVOKED:
            proven = [t.time for t in timestamps if t.valid and t.trusted]
            if proven and info.revoked_at and min(proven) < info.revoked_at:
                self.warnings.append("the signing certificate was revoked after a time-stamp proved the signature")
                return info
            raise _Failure(Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE,
                           f"the signing certificate is revoked ({info.reason or 'no reason given'})")
        if info.status is RevocationStatus.UNKNOWN:
            raise _Failure(Indication.INDETERMINATE, SubIndication.TRY_LATER,
                           "the revocation status of the signing certificate could not be established")
        if info.status is RevocationStatus.NOT_CHECKED:
            self.warnings.append("revocation not checked (no embedded OCSP/CRL; allow_fetching not set)")
        return info


class _signature_removed:
    """Take a Signature out of its parent for the enveloped-signature transform, then put it back.

    lxml moves an element's tail with it; the tail is text of the parent, which the transform keeps,
    so it is handed to the previous node while the Signature is out. The Signature goes back next to
    its previous sibling (or first in its parent): constant time, where ``parent.index()`` and
    ``parent.insert(i)`` walk the siblings (two passes over 450,000 invoices took 130 ms).
    """

    def __init__(self, signature: etree._Element) -> None:
        self.signature = signature

    def __enter__(self) -> None:
        sig = self.signature
        parent = sig.getparent()
        if parent is None:
            raise InvalidInput("the enveloped-signature transform needs the signature inside the document")
        self.parent = parent
        self.tail = sig.tail
        self.previous = sig.getprevious()
        self.saved = self.previous.tail if self.previous is not None else parent.text
        if self.tail:
            if self.previous is not None:
                self.previous.tail = (self.previous.tail or "") + self.tail
            else:
                parent.text = (parent.text or "") + self.tail
        sig.tail = None
        parent.remove(sig)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            self.previous.tail = self.saved
            self.previous.addnext(self.signature)  # after the previous node's tail, as before
        else:
            self.parent.text = self.saved
            self.parent.insert(0, self.signature)
        self.signature.tail = self.tail


def _is_ancestor_or_self(node: etree._Element, descendant: etree._Element) -> bool:
    current: etree._Element | None = descendant
    while current is not None:
        if current is node:
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


def _parse_time(text: str, default_zone: object = UTC) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_zone)  # type: ignore[arg-type]
    return value.astimezone(UTC)


__all__ = ["SignedContent", "XmlVerification", "verify_xml"]
