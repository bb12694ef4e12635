"""XMLDSig and XAdES signing on lxml, in one call or in two stages.

One call: :func:`sign_xml` parses once, digests the references, builds the ``Signature``,
has the signer sign SignedInfo's digest and serializes once.

Two stages, for keys that are elsewhere (a CSC service, a person's phone):
:func:`prepare` returns SignedInfo's digest and a small :class:`XmlSigningState`;
only the digest travels to the key; :func:`finish` puts the signature value in (and the
XAdES time-stamp, for B-T) and returns the signed document.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from esign.algorithms import (
    DigestAlgorithm,
    SignatureAlgorithm,
    SignatureScheme,
    default_scheme_for_key,
    digest_algorithm,
)
from esign.errors import InvalidInput, SigningError
from esign.signers.base import Signer, ecdsa_der_readings, verified_signature
from esign.xml import tree as xtree
from esign.xml.c14n import canonicalize, check_namespace_work, digest_document
from esign.xml.constants import (
    BASE64_TRANSFORM,
    C14N_BY_NAME,
    DIGEST_URI_OF,
    DS_NS,
    EINVOICE_TIME_FORMAT,
    ENVELOPED,
    PROFILES,
    SIGNATURE_URI_OF,
    VIETNAM_TIME,
    XADES_NS,
    XADES_SIGNED_PROPERTIES_TYPE,
)
from esign.xml.parsing import parse_xml

# asyncio, asn1crypto and the time-stamp client are imported where they are used: a process
# that only verifies (or signs without a TSA) does not pay for them at start-up.
if TYPE_CHECKING:
    from esign.trust.fetch import Timestamper

STATE_VERSION = 1
SignatureParent = str | Callable[[etree._Element], etree._Element] | None

_DS = f"{{{DS_NS}}}"
_XA = f"{{{XADES_NS}}}"
_NSMAP_DEFAULT = {None: DS_NS}  # e-invoices: as the tax authority writes them
_NSMAP_PREFIXED = {"ds": DS_NS}


@dataclass
class _Draft:
    """A document holding a Signature whose SignatureValue is still empty."""

    tree: etree._ElementTree
    signature: etree._Element
    signed_info: etree._Element
    value: etree._Element
    algorithm: SignatureAlgorithm
    c14n: str
    profile: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    inserted: etree._Element
    modified: bool
    source: bytes | None = None
    """The input as given, when the output can be that input with the Signature spliced in."""

    @property
    def signature_id(self) -> str:
        return self.signature.get("Id") or ""

    def tbs_digest(self) -> bytes:
        return self.algorithm.digest.digest(canonicalize(self.signed_info, self.c14n))


@dataclass(frozen=True)
class XmlSigningState:
    """What :func:`finish` needs, as small JSON-ready data (``to_json`` / ``from_json``).

    ``document`` is the prepared document (with an empty SignatureValue), base64; it is None
    when :func:`prepare` was called with ``embed_document=False``, and then ``template`` (the
    new elements) and ``parent_path`` say where they go in the original document, which the
    caller hands to :func:`finish` again (checked against ``document_sha256``).
    """

    version: int
    profile: str
    signature_id: str
    signature_algorithm: str
    """The XMLDSig SignatureMethod URI."""
    digest: str
    """Base64 of the digest to be signed (SignedInfo's canonical form, hashed)."""
    document_sha256: str
    document: str | None = None
    template: str | None = None
    parent_path: tuple[int, ...] = ()
    tsa_url: str | None = None
    c14n: str = ""

    def to_json(self) -> str:
        """The state as JSON text."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> XmlSigningState:
        """Read a state written by :meth:`to_json`."""
        try:
            raw = json.loads(text)
            raw["parent_path"] = tuple(raw.get("parent_path") or ())
            state = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"not an XML signing state: {exc}") from None
        if state.version != STATE_VERSION:
            raise InvalidInput(f"XML signing state version {state.version} is not supported")
        return state


def sign_xml(
    data: bytes,
    signer: Signer,
    *,
    profile: str = "xmldsig-enveloped",
    reference_id: str | None = None,
    signature_parent: SignatureParent = None,
    digest: str = "sha256",
    c14n: str = "exclusive",
    scheme: str | None = None,
    tsa_url: str | None = None,
    timestamper: Timestamper | None = None,
    signing_time: datetime | None = None,
    huge_tree: bool = False,
    allow_weak: bool = False,
) -> bytes:
    """Sign an XML document and return the signed document.

    ``profile``: ``xmldsig-enveloped`` (Signature inside the document, default under the root),
    ``xmldsig-enveloping`` (the document inside the Signature's Object), ``xmldsig-detached``
    (a standalone Signature over ``data`` as bytes, referenced by ``reference_id`` as URI),
    ``xades-b-b``, ``xades-b-t`` (needs ``tsa_url`` or ``timestamper``), ``xades-b-lt``
    (B-T plus the chain and an OCSP response fetched from the signer's responder) and
    ``einvoice`` (Vietnamese e-invoice: ``HDon/DLHDon`` signed, Signature in
    ``DSCKS/<signature_parent or NBan>``).

    ``reference_id`` is the ``Id`` of the element to sign (whole document when None);
    ``signature_parent`` where the Signature goes: an element ``Id``, an element's local name, or a
    callable given the root; ``scheme`` picks ``rsa-pss`` over PKCS#1 v1.5 for RSA keys; ``allow_weak``
    must be set to sign with ``digest="sha1"`` (legacy systems only: verifiers judge it by date).

    >>> signed = sign_xml(b"<doc><a>1</a></doc>", signer)                      # doctest: +SKIP
    """
    draft = _make_draft(
        data,
        signer.certificate,
        signer.chain,
        profile=profile,
        reference_id=reference_id,
        signature_parent=signature_parent,
        digest=digest,
        c14n=c14n,
        scheme=scheme,
        signing_time=signing_time,
        huge_tree=huge_tree,
        allow_weak=allow_weak,
    )
    value = _sign_now(signer, draft.tbs_digest(), draft.algorithm)
    draft.source = data
    return _complete(draft, value, timestamper or _timestamper(tsa_url, profile))


async def async_sign_xml(data: bytes, signer: Signer, **options: Any) -> bytes:
    """:func:`sign_xml` for callers inside an event loop (the signer is awaited, not run in a new loop)."""
    tsa_url = options.pop("tsa_url", None)
    timestamper = options.pop("timestamper", None)
    profile = options.get("profile", "xmldsig-enveloped")
    draft = _make_draft(data, signer.certificate, signer.chain, **options)
    value = await signer.sign_digest(draft.tbs_digest(), draft.algorithm)
    return _complete(draft, value, timestamper or _timestamper(tsa_url, profile))


def prepare(
    data: bytes,
    signer_or_certificate: Signer | x509.Certificate,
    *,
    chain: tuple[x509.Certificate, ...] = (),
    embed_document: bool = True,
    tsa_url: str | None = None,
    **options: Any,
) -> tuple[bytes, XmlSigningState]:
    """Stage one: build the Signature and return ``(digest to sign, state)``.

    Takes the same options as :func:`sign_xml`. Give a :class:`~esign.signers.Signer` or just
    the signer's certificate (and ``chain``) when the key is remote. Sign the digest with the
    algorithm named by ``state.signature_algorithm`` (``Signer.sign_digest`` with
    :func:`signature_algorithm_of`), then call :func:`finish`.
    """
    if isinstance(signer_or_certificate, Signer):
        certificate, chain = signer_or_certificate.certificate, signer_or_certificate.chain
    else:
        certificate = signer_or_certificate
    draft = _make_draft(data, certificate, chain, **options)
    tbs = draft.tbs_digest()
    document: str | None = None
    template: str | None = None
    parent_path: tuple[int, ...] = ()
    if embed_document or draft.profile in ("xmldsig-enveloping", "xmldsig-detached"):
        document = base64.b64encode(_serialize(draft.tree)).decode()
    else:
        if draft.modified:
            raise InvalidInput("this document had to be changed (an Id was added); prepare it with embed_document=True")
        parent = draft.inserted.getparent()
        assert parent is not None
        parent_path = tuple(xtree.child_path(parent))
        template = base64.b64encode(etree.tostring(draft.inserted)).decode()
    state = XmlSigningState(
        version=STATE_VERSION,
        profile=draft.profile,
        signature_id=draft.signature_id,
        signature_algorithm=SIGNATURE_URI_OF[(draft.algorithm.scheme, draft.algorithm.digest)],
        digest=base64.b64encode(tbs).decode(),
        document_sha256=hashlib.sha256(data).hexdigest(),
        document=document,
        template=template,
        parent_path=parent_path,
        tsa_url=tsa_url,
        c14n=draft.c14n,
    )
    return tbs, state


def signature_algorithm_of(state: XmlSigningState) -> SignatureAlgorithm:
    """The :class:`SignatureAlgorithm` the digest in ``state`` must be signed with."""
    from esign.xml.constants import SIGNATURE_URIS

    scheme, digest = SIGNATURE_URIS[state.signature_algorithm]
    return SignatureAlgorithm(scheme, digest)


def finish(
    state: XmlSigningState,
    signature_value: bytes,
    *,
    document: bytes | None = None,
    timestamper: Timestamper | None = None,
    huge_tree: bool = False,
) -> bytes:
    """Stage two: insert ``signature_value`` (raw RSA, or ECDSA as DER or r||s) and return the signed document.

    ``document`` is the original input, needed only when the state was prepared with
    ``embed_document=False``.
    """
    if state.document is not None:
        tree = parse_xml(base64.b64decode(state.document), huge_tree=huge_tree)
    else:
        if document is None:
            raise InvalidInput("this signing state does not hold the document: pass the original document")
        if hashlib.sha256(document).hexdigest() != state.document_sha256:
            raise InvalidInput("the document given to finish() is not the one that was prepared")
        tree = parse_xml(document, huge_tree=huge_tree)
        parent = xtree.follow_path(tree.getroot(), list(state.parent_path))
        template = parse_xml(base64.b64decode(state.template or "")).getroot()
        parent.append(template)
    signature = xtree.find_by_id(tree.getroot(), state.signature_id)
    signed_info = signature.find(_DS + "SignedInfo")
    value = signature.find(_DS + "SignatureValue")
    if signed_info is None or value is None or etree.QName(signature).localname != "Signature":
        raise InvalidInput("the prepared signature is not in the document")
    algorithm = signature_algorithm_of(state)
    expected = base64.b64decode(state.digest)
    if algorithm.digest.digest(canonicalize(signed_info, state.c14n)) != expected:
        raise InvalidInput("the prepared document was altered: SignedInfo no longer matches the digest")
    cert_text = signature.findtext(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate") or ""
    certificate = x509.load_der_x509_certificate(base64.b64decode(cert_text))
    draft = _Draft(
        tree=tree,
        signature=signature,
        signed_info=signed_info,
        value=value,
        algorithm=algorithm,
        c14n=state.c14n,
        profile=state.profile,
        certificate=certificate,
        chain=tuple(_embedded_chain(signature)),
        inserted=signature,
        modified=False,
    )
    return _complete(draft, signature_value, timestamper or _timestamper(state.tsa_url, state.profile))


class _ThreadLoop:
    """An event loop kept for one thread, closed when the thread ends or the interpreter exits."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, self.loop.close)  # never left for the garbage collector to find unclosed


_LOOPS = threading.local()


def _sign_now(signer: Signer, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
    """Run the signer's coroutine to completion from synchronous code.

    A per-thread event loop is kept: ``asyncio.run`` builds and tears down a loop per call,
    which costs more than the RSA signature itself on small documents.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        held: _ThreadLoop | None = getattr(_LOOPS, "held", None)
        if held is None or held.loop.is_closed():
            held = _LOOPS.held = _ThreadLoop()
        return held.loop.run_until_complete(signer.sign_digest(digest, algorithm))
    return signer.sign_digest_sync(digest, algorithm)  # inside a running loop: on a helper thread


def _timestamper(tsa_url: str | None, profile: str) -> Timestamper | None:
    if tsa_url:
        from esign.trust.fetch import http_timestamper

        return http_timestamper(tsa_url)
    return None


def _embedded_chain(signature: etree._Element) -> list[x509.Certificate]:
    texts = signature.findall(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    return [x509.load_der_x509_certificate(base64.b64decode(t.text or "")) for t in texts[1:]]


# ---------------------------------------------------------------------------------------------
# Building the draft


def _make_draft(
    data: bytes,
    certificate: x509.Certificate,
    chain: tuple[x509.Certificate, ...] | list[x509.Certificate],
    *,
    profile: str = "xmldsig-enveloped",
    reference_id: str | None = None,
    signature_parent: SignatureParent = None,
    digest: str = "sha256",
    c14n: str = "exclusive",
    scheme: str | None = None,
    signing_time: datetime | None = None,
    huge_tree: bool = False,
    allow_weak: bool = False,
) -> _Draft:
    if profile not in PROFILES:
        raise InvalidInput(f"unknown XML signature profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if profile == "einvoice" and c14n == "exclusive":
        c14n = "inclusive"  # QĐ 1450/QĐ-TCT e-invoices are canonicalized inclusively
    try:
        c14n_uri = C14N_BY_NAME[c14n]
    except KeyError:
        raise InvalidInput(f"c14n must be 'exclusive' or 'inclusive', not {c14n!r}") from None
    digest_alg = digest_algorithm(digest, allow_weak=allow_weak)  # SHA-1 only when asked for by name
    if digest_alg not in DIGEST_URI_OF:
        raise InvalidInput(f"digest {digest} has no XMLDSig identifier; use sha256, sha384 or sha512")
    algorithm = _signature_algorithm(certificate, digest_alg, scheme)
    when = (signing_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    builder = _Builder(certificate, tuple(chain), algorithm, digest_alg, c14n_uri)

    if profile == "xmldsig-detached":
        return builder.detached(data, reference_id or "document")
    tree = parse_xml(data, huge_tree=huge_tree)
    check_namespace_work(tree.getroot(), len(data), raw=data)  # a namespace bomb would make C14N crawl
    if profile == "xmldsig-enveloping":
        return builder.enveloping(tree, reference_id or "object")
    if profile == "einvoice":
        role = signature_parent if isinstance(signature_parent, str) else "NBan"
        return builder.einvoice(tree, role, reference_id, when)
    return builder.enveloped(tree, profile, reference_id, signature_parent, when)


def _signature_algorithm(
    certificate: x509.Certificate, digest: DigestAlgorithm, scheme: str | None
) -> SignatureAlgorithm:
    key_scheme = default_scheme_for_key(certificate.public_key())
    chosen = key_scheme
    if scheme is not None:
        try:
            chosen = SignatureScheme(scheme)
        except ValueError:
            raise InvalidInput(f"unknown signature scheme {scheme!r}") from None
        rsa_like = (SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS)
        if (chosen in rsa_like) != (key_scheme in rsa_like):
            raise InvalidInput(f"a {key_scheme.value} key cannot sign with {chosen.value}")
    if (chosen, digest) not in SIGNATURE_URI_OF:
        raise InvalidInput(f"{chosen.value} with {digest.value} has no XMLDSig identifier")
    return SignatureAlgorithm(chosen, digest)


class _Builder:
    def __init__(
        self,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        algorithm: SignatureAlgorithm,
        digest: DigestAlgorithm,
        c14n: str,
    ) -> None:
        self.certificate = certificate
        self.chain = chain
        self.algorithm = algorithm
        self.digest = digest
        self.c14n = c14n

    # -- the skeleton -------------------------------------------------------------------------

    def skeleton(
        self, signature_id: str, *, default_namespace: bool = False
    ) -> tuple[etree._Element, etree._Element, etree._Element]:
        nsmap = _NSMAP_DEFAULT if default_namespace else _NSMAP_PREFIXED
        signature = etree.Element(_DS + "Signature", nsmap=nsmap)  # type: ignore[arg-type]
        signature.set("Id", signature_id)
        signed_info = etree.SubElement(signature, _DS + "SignedInfo")
        etree.SubElement(signed_info, _DS + "CanonicalizationMethod", Algorithm=self.c14n)
        etree.SubElement(
            signed_info,
            _DS + "SignatureMethod",
            Algorithm=SIGNATURE_URI_OF[(self.algorithm.scheme, self.algorithm.digest)],
        )
        value = etree.SubElement(signature, _DS + "SignatureValue")
        return signature, signed_info, value

    def key_info(self, signature: etree._Element, *, subject_name: bool = False) -> None:
        key_info = etree.SubElement(signature, _DS + "KeyInfo")
        x509_data = etree.SubElement(key_info, _DS + "X509Data")
        if subject_name:
            etree.SubElement(x509_data, _DS + "X509SubjectName").text = self.certificate.subject.rfc4514_string()
        for cert in (self.certificate, *self.chain):
            etree.SubElement(x509_data, _DS + "X509Certificate").text = base64.b64encode(
                cert.public_bytes(serialization.Encoding.DER)
            ).decode()

    def reference(
        self,
        signed_info: etree._Element,
        uri: str,
        digest_value: bytes,
        *,
        transforms: tuple[str, ...] = (),
        ref_id: str | None = None,
        ref_type: str | None = None,
    ) -> etree._Element:
        reference = etree.SubElement(signed_info, _DS + "Reference")
        if ref_id:
            reference.set("Id", ref_id)
        if ref_type:
            reference.set("Type", ref_type)
        reference.set("URI", uri)
        if transforms:
            holder = etree.SubElement(reference, _DS + "Transforms")
            for transform in transforms:
                etree.SubElement(holder, _DS + "Transform", Algorithm=transform)
        etree.SubElement(reference, _DS + "DigestMethod", Algorithm=DIGEST_URI_OF[self.digest])
        etree.SubElement(reference, _DS + "DigestValue").text = base64.b64encode(digest_value).decode()
        return reference

    def node_digest(self, node: etree._Element) -> bytes:
        return self.digest.digest(canonicalize(node, self.c14n, with_comments=False))

    def draft(
        self,
        tree: etree._ElementTree,
        profile: str,
        parts: tuple[etree._Element, etree._Element, etree._Element],
        inserted: etree._Element,
        modified: bool = False,
    ) -> _Draft:
        signature, signed_info, value = parts
        return _Draft(
            tree=tree,
            signature=signature,
            signed_info=signed_info,
            value=value,
            algorithm=self.algorithm,
            c14n=self.c14n,
            profile=profile,
            certificate=self.certificate,
            chain=self.chain,
            inserted=inserted,
            modified=modified,
        )

    # -- profiles ---------------------------------------------------------------------------

    def enveloped(
        self,
        tree: etree._ElementTree,
        profile: str,
        reference_id: str | None,
        signature_parent: SignatureParent,
        when: datetime,
    ) -> _Draft:
        root = tree.getroot()
        parent = _resolve_parent(root, signature_parent)
        signature_id = _new_id("sig")  # random: no need to scan the document for a clash
        parts = self.skeleton(signature_id)
        signature, signed_info, _ = parts
        # The reference is digested before the Signature is inserted: the enveloped-signature
        # transform would remove exactly what is added, so the canonical bytes are the same.
        if reference_id is None:
            target: etree._Element | None = None
            uri = ""
            content_digest, _ = digest_document(tree, self.c14n, self.digest.value, keep=False)
            encloses = True
        else:
            target = xtree.find_by_id(root, reference_id)
            uri = "#" + reference_id
            content_digest = self.node_digest(target)
            encloses = _is_ancestor_or_self(target, parent)
        transforms = ((ENVELOPED,) if encloses else ()) + (self.c14n,)
        xades = profile.startswith("xades")
        ref_id = f"{signature_id}-ref0" if xades else None
        self.reference(signed_info, uri, content_digest, transforms=transforms, ref_id=ref_id)
        self.key_info(signature)
        parent.append(signature)
        if xades:
            self.xades_properties(signature, signed_info, when, ref_id or "")
        return self.draft(tree, profile, parts, signature)

    def enveloping(self, tree: etree._ElementTree, object_id: str) -> _Draft:
        signature_id = _new_id("sig")
        parts = self.skeleton(signature_id)
        signature, signed_info, _ = parts
        self.key_info(signature)
        holder = etree.SubElement(signature, _DS + "Object", Id=object_id)
        holder.append(tree.getroot())
        new_tree = signature.getroottree()
        self.reference(signed_info, "#" + object_id, self.node_digest(holder), transforms=(self.c14n,))
        return self.draft(new_tree, "xmldsig-enveloping", parts, signature)

    def detached(self, data: bytes, uri: str) -> _Draft:
        if uri.startswith("#") or (":" in uri.split("/")[0] and not uri.startswith("urn:")):
            raise InvalidInput("a detached reference names the data by a relative URI such as 'invoice.xml'")
        signature_id = _new_id("sig")
        parts = self.skeleton(signature_id)
        signature, signed_info, _ = parts
        self.reference(signed_info, uri, self.digest.digest(bytes(data)))
        self.key_info(signature)
        return self.draft(signature.getroottree(), "xmldsig-detached", parts, signature)

    def einvoice(self, tree: etree._ElementTree, role: str, reference_id: str | None, when: datetime) -> _Draft:
        root = tree.getroot()
        if xtree.local_name(root) != "HDon" and root.find("{*}DLHDon") is None:
            raise InvalidInput("an e-invoice (QĐ 1450/QĐ-TCT) has root HDon with a DLHDon data element")
        modified = False
        if reference_id is None:
            data = root.find("{*}DLHDon")
            if data is None:
                raise InvalidInput("the e-invoice has no DLHDon element to sign")
            reference_id = xtree.element_id(data)
            if reference_id is None:
                reference_id = "data"
                _refuse_existing_id(root, reference_id)
                data.set("Id", reference_id)
                modified = True
        data = xtree.find_by_id(root, reference_id)
        ns = etree.QName(root).namespace
        tag = (lambda name: f"{{{ns}}}{name}") if ns else (lambda name: name)
        inserted: etree._Element | None = None
        dscks = root.find(tag("DSCKS"))
        if dscks is None:
            dscks = etree.SubElement(root, tag("DSCKS"))
            inserted = dscks
        slot = dscks.find(tag(role))
        if slot is None:
            slot = etree.SubElement(dscks, tag(role))
            inserted = inserted if inserted is not None else slot
        if slot.find(_DS + "Signature") is not None:
            raise InvalidInput(f"DSCKS/{role} already holds a signature")
        signature_id = f"{role}-{reference_id}"
        _refuse_existing_id(root, signature_id)
        parts = self.skeleton(signature_id, default_namespace=True)
        signature, signed_info, _ = parts
        content_digest = self.node_digest(data)
        encloses = _is_ancestor_or_self(data, slot)
        self.reference(signed_info, "#" + reference_id, content_digest, transforms=(ENVELOPED,) if encloses else ())
        self.key_info(signature, subject_name=True)
        object_id = f"SigningTime-{signature_id}"
        _refuse_existing_id(root, object_id)
        holder = etree.SubElement(signature, _DS + "Object", Id=object_id)
        # No namespace, declared with xmlns="" as the tax authority's own signatures do.
        properties = etree.SubElement(holder, "SignatureProperties", nsmap={None: ""})  # type: ignore[dict-item]
        prop = etree.SubElement(properties, "SignatureProperty", Id=f"SignatureProperty-{signature_id}")
        prop.set("Target", "#" + signature_id)
        etree.SubElement(prop, "SigningTime").text = when.astimezone(VIETNAM_TIME).strftime(EINVOICE_TIME_FORMAT)
        slot.append(signature)
        self.reference(signed_info, "#" + object_id, self.node_digest(holder))
        return self.draft(tree, "einvoice", parts, inserted if inserted is not None else signature, modified)

    def xades_properties(
        self, signature: etree._Element, signed_info: etree._Element, when: datetime, content_ref: str
    ) -> None:
        signature_id = signature.get("Id") or ""
        holder = etree.SubElement(signature, _DS + "Object")
        qualifying = etree.SubElement(
            holder, _XA + "QualifyingProperties", nsmap={"xades": XADES_NS}, Target="#" + signature_id
        )
        props_id = f"{signature_id}-signedprops"
        signed_props = etree.SubElement(qualifying, _XA + "SignedProperties", Id=props_id)
        sig_props = etree.SubElement(signed_props, _XA + "SignedSignatureProperties")
        etree.SubElement(sig_props, _XA + "SigningTime").text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        cert_v2 = etree.SubElement(sig_props, _XA + "SigningCertificateV2")
        cert = etree.SubElement(cert_v2, _XA + "Cert")
        cert_digest = etree.SubElement(cert, _XA + "CertDigest")
        etree.SubElement(cert_digest, _DS + "DigestMethod", Algorithm=DIGEST_URI_OF[self.digest])
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        etree.SubElement(cert_digest, _DS + "DigestValue").text = base64.b64encode(self.digest.digest(der)).decode()
        issuer_serial = base64.b64encode(_issuer_serial(self.certificate)).decode()
        etree.SubElement(cert, _XA + "IssuerSerialV2").text = issuer_serial
        data_props = etree.SubElement(signed_props, _XA + "SignedDataObjectProperties")
        fmt = etree.SubElement(data_props, _XA + "DataObjectFormat", ObjectReference="#" + content_ref)
        etree.SubElement(fmt, _XA + "MimeType").text = "text/xml"
        self.reference(
            signed_info,
            "#" + props_id,
            self.node_digest(signed_props),
            transforms=(self.c14n,),
            ref_type=XADES_SIGNED_PROPERTIES_TYPE,
        )


def _issuer_serial(cert: x509.Certificate) -> bytes:
    from asn1crypto import cms as asn1_cms
    from asn1crypto import x509 as asn1_x509

    name = asn1_x509.Name.load(cert.issuer.public_bytes())
    value = asn1_cms.IssuerSerial(
        {
            "issuer": [asn1_x509.GeneralName({"directory_name": name})],
            "serial": cert.serial_number,
        }
    )
    return value.dump()


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _refuse_existing_id(root: etree._Element, value: str) -> None:
    try:
        xtree.find_by_id(root, value)
    except InvalidInput as exc:
        if "no element" in str(exc):
            return
    raise InvalidInput(f"the document already has an element with the ID {value!r}")


def _is_ancestor_or_self(node: etree._Element, descendant: etree._Element) -> bool:
    current: etree._Element | None = descendant
    while current is not None:
        if current is node:
            return True
        current = current.getparent()
    return False


def _resolve_parent(root: etree._Element, where: SignatureParent) -> etree._Element:
    if where is None:
        return root
    if callable(where):
        parent = where(root)
        if not isinstance(parent, etree._Element) or parent.getroottree().getroot() is not root:
            raise InvalidInput("signature_parent must return an element of the document")
        return parent
    try:
        return xtree.find_by_id(root, where)
    except InvalidInput as exc:
        if "no element" not in str(exc):
            raise
    matches = [e for e in root.iter(etree.Element) if xtree.local_name(e) == where]
    if len(matches) != 1:
        raise InvalidInput(f"signature_parent {where!r} names no single element (by Id or local name)")
    return matches[0]


# ---------------------------------------------------------------------------------------------
# Completing: the signature value, the time-stamp, the document


def _complete(draft: _Draft, signature_value: bytes, timestamper: Timestamper | None) -> bytes:
    raw = _raw_signature(draft, signature_value)
    draft.value.text = base64.b64encode(raw).decode()
    if draft.profile in ("xades-b-t", "xades-b-lt"):
        if timestamper is None:
            raise InvalidInput(f"profile {draft.profile} needs a time-stamping authority: give tsa_url")
        _add_signature_timestamp(draft, timestamper)
        if draft.profile == "xades-b-lt":
            _add_validation_data(draft)
    spliced = _splice(draft)
    return spliced if spliced is not None else _serialize(draft.tree)


def _serialize(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


SPLICE_MIN_BYTES = 1_000_000


def _splice(draft: _Draft) -> bytes | None:
    """The input bytes with the Signature inserted before the root's end tag, or None when not that simple.

    Re-serializing a 50 MB tree costs as much as parsing it; when the Signature is the root's last
    child of a UTF-8 document that ends with the root's end tag, the input bytes are reused as they are.
    """
    source = draft.source
    root = draft.tree.getroot()
    if source is None or len(source) < SPLICE_MIN_BYTES or draft.modified:
        return None
    if draft.signature.getparent() is not root or draft.signature.getnext() is not None:
        return None
    if (draft.tree.docinfo.encoding or "UTF-8").upper().replace("-", "") != "UTF8":
        return None
    body = source.rstrip()
    qname = ((root.prefix + ":") if root.prefix else "") + etree.QName(root).localname
    end = body.rfind(b"</")
    if end < 0 or not body.endswith(b">"):
        return None
    if body[end + 2 : -1].strip() != qname.encode():
        return None
    return source[:end] + etree.tostring(draft.signature) + source[end:]


def _raw_signature(draft: _Draft, value: bytes) -> bytes:
    """XMLDSig's ECDSA SignatureValue (raw ``r || s``) from DER or raw input."""
    algorithm = draft.algorithm
    if algorithm.scheme is not SignatureScheme.ECDSA:
        return value
    key = draft.certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    size = (key.curve.key_size + 7) // 8
    readings = ecdsa_der_readings(key, value)
    der: bytes | None = readings[0]
    if len(readings) > 1:
        # Raw r || s that also parses as DER: the reading that verifies over SignedInfo is the one.
        digest = algorithm.digest.digest(canonicalize(draft.signed_info, draft.c14n))
        der = verified_signature(key, value, digest, algorithm)
    try:
        r, s = decode_dss_signature(der or b"")
    except ValueError:
        raise SigningError("the ECDSA signature is neither DER nor r||s of the curve's size") from None
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _unsigned_signature_properties(draft: _Draft) -> etree._Element:
    qualifying = draft.signature.find(f"{_DS}Object/{_XA}QualifyingProperties")
    if qualifying is None:
        raise InvalidInput("not a XAdES signature")
    unsigned = qualifying.find(_XA + "UnsignedProperties")
    if unsigned is None:
        unsigned = etree.SubElement(qualifying, _XA + "UnsignedProperties")
    props = unsigned.find(_XA + "UnsignedSignatureProperties")
    if props is None:
        props = etree.SubElement(unsigned, _XA + "UnsignedSignatureProperties")
    return props


def _add_signature_timestamp(draft: _Draft, timestamper: Timestamper) -> None:
    from esign.trust.fetch import token_bytes

    imprint = hashlib.sha256(canonicalize(draft.value, draft.c14n)).digest()
    token = token_bytes(timestamper(imprint, "sha256"))
    props = _unsigned_signature_properties(draft)
    stamp = etree.SubElement(props, _XA + "SignatureTimeStamp", Id=f"{draft.signature_id}-ts")
    etree.SubElement(stamp, _DS + "CanonicalizationMethod", Algorithm=draft.c14n)
    etree.SubElement(stamp, _XA + "EncapsulatedTimeStamp").text = base64.b64encode(token).decode()


def _add_validation_data(draft: _Draft) -> None:
    from esign.trust.fetch import fetch_validation_data

    props = _unsigned_signature_properties(draft)
    certs = etree.SubElement(props, _XA + "CertificateValues")
    for cert in draft.chain:
        etree.SubElement(certs, _XA + "EncapsulatedX509Certificate").text = base64.b64encode(
            cert.public_bytes(serialization.Encoding.DER)
        ).decode()
    if not draft.chain:
        raise SigningError("B-LT needs the issuing CA certificate in the signer's chain")
    # Status for every certificate below the root (esign.trust verifies in "require" mode: the issuing
    # CA needs its CRL as much as the signer needs its OCSP answer).
    ocsps, crls = fetch_validation_data([draft.certificate, *draft.chain])
    if not ocsps and not crls:
        raise SigningError("B-LT needs revocation data and the signer's OCSP responder/CRL could not be reached")
    values = etree.SubElement(props, _XA + "RevocationValues")
    if ocsps:
        ocsp_values = etree.SubElement(values, _XA + "OCSPValues")
        for response in ocsps:
            etree.SubElement(ocsp_values, _XA + "EncapsulatedOCSPValue").text = base64.b64encode(response).decode()
    if crls:
        crl_values = etree.SubElement(values, _XA + "CRLValues")
        for crl in crls:
            etree.SubElement(crl_values, _XA + "EncapsulatedCRLValue").text = base64.b64encode(crl).decode()


__all__ = [
    "BASE64_TRANSFORM",
    "XmlSigningState",
    "async_sign_xml",
    "finish",
    "prepare",
    "sign_xml",
    "signature_algorithm_of",
]
