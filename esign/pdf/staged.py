"""Staged signing: the digest goes to the key, the signature comes back later.

:func:`prepare` writes the signature field, the appearance and a placeholder for the CMS, hashes
the byte ranges, builds the CMS signed attributes (content type, message digest, the signer's
certificate reference) and returns the digest of those attributes: that digest is all a key has to
sign, wherever it lives (an HSM, a CSC server, a phone). :func:`finish` checks the signature value
against the certificate, assembles the CMS, puts it in the placeholder and, for B-T and up, asks the
TSA for the signature time-stamp; for B-LT / B-LTA it then appends the DSS and the document
time-stamp. The time-stamp is taken in :func:`finish` because it stamps the signature value.

The state (:class:`PreparedSignature`) holds no key and no secret: the signed attributes, the
certificates, the offsets of the placeholder and the prepared document (or, with ``output=``, only
its SHA-256, the caller keeping the file). ``to_json()`` / ``from_json()`` round-trip it.

>>> digest, state = prepare("in.pdf", cert, chain, level="B-T", tsa_url=TSA)      # doctest: +SKIP
>>> signature = await remote_key.sign_digest(digest, state.algorithm)              # doctest: +SKIP
>>> signed = finish(state, signature)                                             # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from esign.thirdparty import quiet_imports

with quiet_imports():  # pyHanko's signing package warns about DSA on import (esign.thirdparty)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
    from pyhanko.sign.signers.pdf_cms import ExternalSigner, PdfCMSSignedAttributes
    from pyhanko.sign.signers.pdf_cms import Signer as PyHankoBaseSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.algorithms import (
    DigestAlgorithm,
    SignatureAlgorithm,
    SignatureScheme,
    check_key_strength,
    default_scheme_for_key,
    digest_algorithm,
)
from esign.der_limits import check_der
from esign.errors import InvalidInput, SigningError
from esign.pdf.adapter import reserved_size, signature_mechanism, to_asn1
from esign.pdf.appearance import StampAppearance, VisibleSignature
from esign.pdf.context import Level, TrustSource, boundary, load_trust_anchors
from esign.pdf.signing import (
    extend_stream,
    free_field_name,
    pdf_signer,
    signature_options,
    timestamper,
)
from esign.pdf.workspace import CHUNK_SIZE, PdfSource, PdfTarget, Workspace
from esign.signers.base import run_sync, verified_signature

STATE_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class PreparedSignature:
    """Everything :func:`finish` needs, nothing secret. Serialize with :meth:`to_json`."""

    field_name: str
    level: str
    """PAdES level to reach in :func:`finish`."""
    tsa_url: str | None
    digest_algorithm: str
    """Digest of the document and of the signed attributes, e.g. ``sha256``."""
    signature_scheme: str
    """``rsa-pkcs1v15``, ``rsa-pss`` or ``ecdsa``: how the key must sign :attr:`data_to_sign_digest`."""
    certificate: bytes
    """DER of the signer's certificate (named in the signed attributes, so it cannot change)."""
    chain: tuple[bytes, ...]
    """DER of the CA certificates to embed, issuer first."""
    signed_attributes: bytes
    """DER of the CMS signed attributes: the data the key signs."""
    data_to_sign_digest: bytes
    """Digest of :attr:`signed_attributes`: hand this to ``Signer.sign_digest`` or CSC ``signHash``."""
    document_digest: bytes
    """Digest of the byte ranges of the prepared document."""
    reserved_region: tuple[int, int]
    """Offsets of the ``/Contents`` placeholder in the prepared document."""
    document_sha256: bytes
    """SHA-256 of the whole prepared document, to recognise it when it comes back."""
    document: bytes | None = None
    """The prepared document, unless the caller keeps it (``prepare(..., output=...)``)."""
    version: int = STATE_VERSION

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The :class:`SignatureAlgorithm` the key must use."""
        return SignatureAlgorithm(SignatureScheme(self.signature_scheme), DigestAlgorithm(self.digest_algorithm))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: bytes as base64."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, bytes):
                out[key] = _b64(value)
            elif key == "chain":
                out[key] = [_b64(c) for c in value]
            elif key == "reserved_region":
                out[key] = list(value)
            else:
                out[key] = value
        return out

    def to_json(self) -> str:
        """Compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_bytes(self) -> bytes:
        """UTF-8 JSON bytes."""
        return self.to_json().encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreparedSignature:
        """Inverse of :meth:`to_dict`; refuses a state from another format version."""
        try:
            if data.get("version") != STATE_VERSION:
                raise InvalidInput(f"prepared-signature state version {data.get('version')} is not {STATE_VERSION}")

            def raw(key: str) -> bytes:
                return base64.b64decode(data[key], validate=True)

            document = data.get("document")
            return cls(
                field_name=str(data["field_name"]),
                level=str(data["level"]),
                tsa_url=data.get("tsa_url"),
                digest_algorithm=str(data["digest_algorithm"]),
                signature_scheme=str(data["signature_scheme"]),
                chain=tuple(base64.b64decode(c, validate=True) for c in data["chain"]),
                reserved_region=(int(data["reserved_region"][0]), int(data["reserved_region"][1])),
                document=base64.b64decode(document, validate=True) if document else None,
                certificate=raw("certificate"),
                signed_attributes=raw("signed_attributes"),
                data_to_sign_digest=raw("data_to_sign_digest"),
                document_digest=raw("document_digest"),
                document_sha256=raw("document_sha256"),
            )
        except InvalidInput:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInput(f"not a prepared-signature state: {exc.__class__.__name__}: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> PreparedSignature:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidInput("not a prepared-signature state: invalid JSON") from None
        if not isinstance(data, dict):
            raise InvalidInput("not a prepared-signature state: expected a JSON object")
        return cls.from_dict(data)

    from_bytes = from_json


class _CertificateOnlySigner(PyHankoBaseSigner):
    """Lets pyHanko lay out the field, appearance and attributes for a key it will never touch."""

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        raise SigningError("staged signing: the key signs the digest outside pyHanko")


async def async_prepare(
    input: PdfSource,
    signer_certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    level: Level | str = "B-B",
    tsa_url: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    field_name: str | None = None,
    visible: VisibleSignature | tuple[int, tuple[float, float, float, float]] | None = None,
    appearance: StampAppearance | None = None,
    certify: bool | int = False,
    digest: str = "sha256",
    scheme: SignatureScheme | str | None = None,
    output: PdfTarget = None,
) -> tuple[bytes, PreparedSignature]:
    """Asynchronous :func:`prepare`."""
    options = signature_options(
        level=level,
        tsa_url=tsa_url,
        reason=reason,
        location=location,
        contact=contact,
        field_name=field_name,
        visible=visible,
        appearance=appearance,
        certify=certify,
        digest=digest,
    )
    public_key = signer_certificate.public_key()
    check_key_strength(public_key)
    chosen = SignatureScheme(scheme) if scheme else default_scheme_for_key(public_key)
    if chosen is SignatureScheme.ED25519:
        raise InvalidInput("Ed25519 signs whole messages, not digests; staged signing needs RSA or ECDSA")
    algorithm = SignatureAlgorithm(chosen, digest_algorithm(digest))
    cert_asn1 = to_asn1(signer_certificate)
    chain_asn1 = [to_asn1(c) for c in chain if c != signer_certificate]
    helper = _CertificateOnlySigner(
        signing_cert=cert_asn1,
        cert_registry=SimpleCertificateStore.from_certs(chain_asn1),
        signature_mechanism=signature_mechanism(algorithm),
    )
    work = Workspace(input, output, track_sha256=True)
    try:
        with boundary("preparing the PDF for signing", SigningError):
            writer = IncrementalPdfFileWriter(work.stream)
            name = free_field_name(writer.prev, options.field_name)
            staged_options = replace(options, tsa_url=None)  # the time-stamp comes in finish()
            pyhanko_signer, params = pdf_signer(
                helper, signer_certificate, algorithm.digest.value, staged_options, name
            )
            session = pyhanko_signer.init_signing_session(writer)
            tbs = session.prepare_tbs_document(
                validation_info=None,
                bytes_reserved=reserved_size(
                    cert_asn1, chain_asn1, public_key, timestamp=options.level.rank >= Level.B_T.rank
                ),
                appearance_text_params=params or None,
            )
            prepared, _ = tbs.digest_tbs_document(in_place=True, chunk_size=CHUNK_SIZE)
            signed_attrs = await helper.signed_attrs(
                prepared.document_digest,
                algorithm.digest.value,
                attr_settings=PdfCMSSignedAttributes(signing_time=session.system_time),
                use_pades=True,
            )
        document = work.commit()  # the bytes when output is None, else None (the caller keeps the file)
        assert work.document_sha256 is not None
        document_sha256 = work.document_sha256
    except BaseException:
        work.abort()
        raise
    der_attrs = signed_attrs.dump()
    state = PreparedSignature(
        field_name=name,
        level=options.level.value,
        tsa_url=tsa_url,
        digest_algorithm=algorithm.digest.value,
        signature_scheme=algorithm.scheme.value,
        certificate=signer_certificate.public_bytes(Encoding.DER),
        chain=tuple(c.public_bytes(Encoding.DER) for c in chain if c != signer_certificate),
        signed_attributes=der_attrs,
        data_to_sign_digest=algorithm.digest.digest(der_attrs),
        document_digest=prepared.document_digest,
        reserved_region=(prepared.reserved_region_start, prepared.reserved_region_end),
        document_sha256=document_sha256,
        document=document,
    )
    return state.data_to_sign_digest, state


def prepare(
    input: PdfSource,
    signer_certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    level: Level | str = "B-B",
    tsa_url: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    field_name: str | None = None,
    visible: VisibleSignature | tuple[int, tuple[float, float, float, float]] | None = None,
    appearance: StampAppearance | None = None,
    certify: bool | int = False,
    digest: str = "sha256",
    scheme: SignatureScheme | str | None = None,
    output: PdfTarget = None,
) -> tuple[bytes, PreparedSignature]:
    """Prepare ``input`` for a signature by ``signer_certificate``; return (digest to sign, state).

    The options are those of :func:`esign.sign_pdf` (``appearance``: e.g. a Decree 30 preset's,
    :func:`esign.pdf.decree30.plan`). ``scheme`` picks RSA-PSS over the default
    PKCS#1 v1.5 for RSA keys. With ``output`` (a path or stream) the prepared document goes there
    and the state carries only its SHA-256; give it back as ``finish(..., document=...)``.
    Otherwise the state carries the document itself.
    """
    return run_sync(
        async_prepare(
            input,
            signer_certificate,
            chain,
            level=level,
            tsa_url=tsa_url,
            reason=reason,
            location=location,
            contact=contact,
            field_name=field_name,
            visible=visible,
            appearance=appearance,
            certify=certify,
            digest=digest,
            scheme=scheme,
            output=output,
        )
    )


def _sha256_stream(stream: Any) -> bytes:
    h = hashlib.sha256()
    if isinstance(stream, io.BytesIO):
        h.update(stream.getbuffer())
        return h.digest()
    stream.seek(0)
    while chunk := stream.read(CHUNK_SIZE):
        h.update(chunk)
    return h.digest()


async def async_finish(
    state: PreparedSignature,
    signature: bytes,
    certificate_chain: Iterable[x509.Certificate] | None = None,
    *,
    document: PdfSource | None = None,
    output: PdfTarget = None,
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
) -> bytes | None:
    """Asynchronous :func:`finish`."""
    cert = x509.load_der_x509_certificate(state.certificate)
    algorithm = state.algorithm
    if algorithm.digest.digest(state.signed_attributes) != state.data_to_sign_digest:
        raise InvalidInput("the prepared-signature state is inconsistent (signed attributes were altered)")
    # ECDSA may come as raw r || s (PKCS#11, CSC): kept in DER, whichever form verifies.
    verified = verified_signature(cert.public_key(), signature, state.data_to_sign_digest, algorithm)
    if verified is None:
        raise SigningError(
            "the signature does not verify with the prepared certificate over the prepared digest: "
            "wrong key, wrong digest or a corrupted signature; nothing was written"
        )
    signature = verified
    chain = [x509.load_der_x509_certificate(c) for c in state.chain]
    if certificate_chain is not None:
        chain = [c for c in certificate_chain if c != cert]
    source: PdfSource
    if document is not None:
        source = document
    elif state.document is not None:
        source = state.document
    else:
        raise InvalidInput("the state does not carry the prepared document: pass document=")
    level = Level.parse(state.level)
    ext = ExternalSigner(
        signing_cert=to_asn1(cert),
        cert_registry=SimpleCertificateStore.from_certs([to_asn1(c) for c in chain]),
        signature_value=signature,
        signature_mechanism=signature_mechanism(algorithm),
    )
    work = Workspace(source, output)
    try:
        if _sha256_stream(work.stream) != state.document_sha256:
            raise InvalidInput("this is not the document that was prepared (its SHA-256 differs)")
        with boundary("assembling the signature", SigningError):
            check_der(state.signed_attributes)
            attrs = cms.CMSAttributes.load(state.signed_attributes)
            stamper = timestamper(state.tsa_url) if state.tsa_url and level.rank >= Level.B_T.rank else None
            content = await ext.async_sign_prescribed_attributes(algorithm.digest.value, attrs, timestamper=stamper)
            start, end = state.reserved_region
            PreparedByteRangeDigest(state.document_digest, start, end).fill_with_cms(work.stream, content)
        if level.rank >= Level.B_LT.rank:
            anchors = load_trust_anchors(trust) or [c for c in chain if c.issuer == c.subject]
            if not anchors:
                raise InvalidInput("B-LT needs trust anchors to collect validation material: pass trust=")
            await extend_stream(
                work.stream,
                level,
                tsa_url=state.tsa_url,
                trust=anchors,
                allow_fetching=allow_fetching,
                only_field=state.field_name,
            )
    except BaseException:
        work.abort()
        raise
    return work.commit()


def finish(
    state: PreparedSignature,
    signature: bytes,
    certificate_chain: Iterable[x509.Certificate] | None = None,
    *,
    document: PdfSource | None = None,
    output: PdfTarget = None,
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
) -> bytes | None:
    """Put ``signature`` (over ``state.data_to_sign_digest``) into the prepared document.

    Refuses (:class:`SigningError`) a signature that does not verify with the prepared certificate,
    and (:class:`InvalidInput`) a document other than the prepared one. ECDSA signatures may be DER
    or raw ``r || s``. ``certificate_chain`` replaces the chain given to :func:`prepare` (the
    signer's certificate itself cannot change: the signed attributes name it). For B-T and up the
    TSA is called here; for B-LT / B-LTA the DSS (and document time-stamp) follow, checked against
    ``trust`` (default: the root at the top of the chain). Returns the signed PDF's bytes when
    ``output`` is None.
    """
    return run_sync(
        async_finish(
            state,
            signature,
            certificate_chain,
            document=document,
            output=output,
            trust=trust,
            allow_fetching=allow_fetching,
        )
    )
