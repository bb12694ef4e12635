"""Sign a PDF at PAdES B-B, B-T, B-LT or B-LTA, and extend a signed PDF to B-LT / B-LTA.

Each signature is an incremental update: the bytes already signed are never rewritten, so earlier
signatures stay valid. The document is read once and written once: the signature size is computed
from the key and the certificates (no dry-run signature), the update is built in memory after the
original bytes, and the hash pass over the byte ranges is also the copy of the input to the output
(see :mod:`esign.pdf.workspace`).

B-T adds an RFC 3161 signature time-stamp from ``tsa_url``; B-LT appends a DSS with the certificates,
OCSP responses and CRLs that validate the signer and the TSA; B-LTA then adds a document time-stamp.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from cryptography import x509

from esign.thirdparty import quiet_imports

with quiet_imports():  # pyHanko's signing package warns about DSA on import (esign.thirdparty)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
    from pyhanko.sign.signers.pdf_cms import Signer as PyHankoBaseSigner
    from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
    from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper
    from pyhanko.sign.validation import EmbeddedPdfSignature
    from pyhanko.sign.validation.dss import async_add_validation_info
    from pyhanko.stamp import BaseStampStyle

from esign.errors import InvalidInput, SigningError
from esign.pdf.adapter import PyHankoSigner, from_asn1
from esign.pdf.appearance import StampAppearance, VisibleSignature, appearance_text, stamp_style
from esign.pdf.context import (
    FETCH_TIMEOUT,
    Level,
    TrustSource,
    boundary,
    load_trust_anchors,
    validation_context,
)
from esign.pdf.workspace import CHUNK_SIZE, PdfSource, PdfTarget, Workspace
from esign.signers.base import Signer, run_sync

DOCMDP_LEVELS = {1: MDPPerm.NO_CHANGES, 2: MDPPerm.FILL_FORMS, 3: MDPPerm.ANNOTATE}


@dataclass(frozen=True)
class SignatureOptions:
    """What goes into a signature besides the key: level, texts, field, appearance, certification."""

    level: Level = Level.B_B
    tsa_url: str | None = None
    reason: str | None = None
    location: str | None = None
    contact: str | None = None
    field_name: str | None = None
    visible: VisibleSignature | None = None
    appearance: StampAppearance | None = None
    """A ready-made appearance (a Decree 30 preset) instead of the text box of ``visible``."""
    certify: int | None = None
    """DocMDP level when certifying: 1 no changes, 2 form filling and signing, 3 also annotations."""
    digest: str = "sha256"

    def check(self) -> None:
        """Refuse combinations that cannot work, before any work is done."""
        if self.level.rank >= Level.B_T.rank and not self.tsa_url:
            raise InvalidInput(f"PAdES {self.level.value} needs a time-stamping authority: give tsa_url")
        if self.certify is not None and self.certify not in DOCMDP_LEVELS:
            raise InvalidInput("certify takes a DocMDP level: 1 (no changes), 2 (forms, signing), 3 (annotations)")
        if self.visible is not None and self.appearance is not None:
            raise InvalidInput("give either a visible text box or a ready-made appearance, not both")


def docmdp_level(certify: bool | int | None) -> int | None:
    """``certify=True`` means DocMDP level 2 (form filling and further signatures allowed)."""
    if certify is None or certify is False:
        return None
    if certify is True:
        return 2
    return int(certify)


def signature_options(
    *,
    level: Level | str,
    tsa_url: str | None,
    reason: str | None,
    location: str | None,
    contact: str | None,
    field_name: str | None,
    visible: VisibleSignature | tuple[int, tuple[float, float, float, float]] | None,
    appearance: StampAppearance | None,
    certify: bool | int,
    digest: str,
) -> SignatureOptions:
    """The checked :class:`SignatureOptions` of the keyword arguments shared by :func:`sign_pdf` and staged ``prepare``.

    A ``(page, box)`` tuple for ``visible`` becomes a :class:`VisibleSignature`; ``certify=True`` means DocMDP level 2.

    :raises InvalidInput: for a combination :meth:`SignatureOptions.check` refuses.
    """
    if isinstance(visible, tuple):
        visible = VisibleSignature(visible[0], visible[1])
    options = SignatureOptions(
        level=Level.parse(level),
        tsa_url=tsa_url,
        reason=reason,
        location=location,
        contact=contact,
        field_name=field_name,
        visible=visible,
        appearance=appearance,
        certify=docmdp_level(certify),
        digest=digest,
    )
    options.check()
    return options


def timestamper(url: str) -> HTTPTimeStamper:
    """An RFC 3161 client for ``url``."""
    return HTTPTimeStamper(url, timeout=FETCH_TIMEOUT)


def free_field_name(reader: PdfFileReader, wanted: str | None) -> str:
    """``wanted``, or the first ``SignatureN`` not yet used in the document."""
    if wanted:
        return wanted
    taken = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
    n = 1
    while f"Signature{n}" in taken:
        n += 1
    return f"Signature{n}"


def pdf_signer(
    signer: PyHankoBaseSigner, certificate: x509.Certificate, md: str, options: SignatureOptions, field_name: str
) -> tuple[PdfSigner, dict[str, str]]:
    """The pyHanko ``PdfSigner`` for ``options`` and the text parameters of its appearance."""
    certify = options.certify
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=md,
        reason=options.reason,
        location=options.location,
        contact_info=options.contact,
        certify=certify is not None,
        docmdp_permissions=DOCMDP_LEVELS[certify] if certify is not None else MDPPerm.FILL_FORMS,
        subfilter=SigSeedSubFilter.PADES,
    )
    params: dict[str, str] = {}
    style: BaseStampStyle | None = None
    field_spec: fields.SigFieldSpec | None = None
    if options.visible is not None:
        template, params = appearance_text(
            certificate, reason=options.reason, location=options.location, language=options.visible.language
        )
        style = stamp_style(template, font_size=options.visible.font_size)
        field_spec = options.visible.field_spec(field_name)
    elif options.appearance is not None:
        style, params = options.appearance.style, dict(options.appearance.params)
        field_spec = options.appearance.field_spec(field_name)
    stamper = timestamper(options.tsa_url) if options.tsa_url and options.level.rank >= 1 else None
    return PdfSigner(meta, signer=signer, timestamper=stamper, stamp_style=style, new_field_spec=field_spec), params


async def async_sign_pdf(
    input: PdfSource,
    output: PdfTarget = None,
    signer: Signer | None = None,
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
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
    digest: str = "sha256",
) -> bytes | None:
    """Asynchronous :func:`sign_pdf`."""
    if signer is None:
        raise InvalidInput("sign_pdf needs a signer (an esign.signers.Signer, e.g. FileSigner.from_pkcs12)")
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
    adapter = PyHankoSigner(signer, digest=digest)
    work = Workspace(input, output)
    try:
        with boundary("reading the PDF to sign"):
            writer = IncrementalPdfFileWriter(work.stream)
            name = free_field_name(writer.prev, options.field_name)
        pyhanko_signer, params = pdf_signer(adapter, signer.certificate, adapter.digest_algorithm.value, options, name)
        with boundary("signing the PDF", SigningError):
            await pyhanko_signer.async_sign_pdf(
                writer,
                bytes_reserved=adapter.reserved_size(timestamp=options.level.rank >= Level.B_T.rank),
                appearance_text_params=params or None,
                in_place=True,
                chunk_size=CHUNK_SIZE,
            )
        if options.level.rank >= Level.B_LT.rank:
            anchors = load_trust_anchors(trust) or _roots_of(signer)
            await extend_stream(
                work.stream,
                options.level,
                tsa_url=options.tsa_url,
                trust=anchors,
                allow_fetching=allow_fetching,
                only_field=name,
            )
    except BaseException:
        work.abort()
        raise
    return work.commit()


def sign_pdf(
    input: PdfSource,
    output: PdfTarget = None,
    signer: Signer | None = None,
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
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
    digest: str = "sha256",
) -> bytes | None:
    """Sign a PDF with any :mod:`esign.signers` backend; return the signed bytes when ``output`` is None.

    ``level`` is the PAdES baseline level: ``B-B``; ``B-T`` adds a signature time-stamp from
    ``tsa_url``; ``B-LT`` also embeds the validation material (DSS: certificates, OCSP responses,
    CRLs, fetched from the URLs in the certificates unless ``allow_fetching`` is False) checked
    against ``trust`` (default: the root at the top of the signer's chain); ``B-LTA`` adds a
    document time-stamp. ``visible=(page, (x1, y1, x2, y2))`` draws the signer's name,
    organization and its identifier code, the signing time and the reason (page 1 is the first);
    ``appearance`` draws a ready-made one instead (see :mod:`esign.pdf.decree30`).
    ``certify`` makes a certification signature (True = DocMDP level 2, or give 1, 2 or 3).

    >>> signer = FileSigner.from_pkcs12("nguyen-van-a.p12", "secret")  # doctest: +SKIP
    >>> sign_pdf("in.pdf", "out.pdf", signer, level="B-T", tsa_url="http://tsa.example/",
    ...          reason="Phê duyệt", visible=(1, (50, 50, 300, 130)))  # doctest: +SKIP
    """
    return run_sync(
        async_sign_pdf(
            input,
            output,
            signer,
            level=level,
            tsa_url=tsa_url,
            reason=reason,
            location=location,
            contact=contact,
            field_name=field_name,
            visible=visible,
            appearance=appearance,
            certify=certify,
            trust=trust,
            allow_fetching=allow_fetching,
            digest=digest,
        )
    )


def _roots_of(signer: Signer) -> list[x509.Certificate]:
    roots = [c for c in signer.chain if c.issuer == c.subject]
    if not roots:
        raise InvalidInput("B-LT needs trust anchors to collect validation material: pass trust=[root certificate]")
    return roots


async def extend_stream(
    stream: IO[bytes],
    level: Level,
    *,
    tsa_url: str | None,
    trust: list[x509.Certificate],
    allow_fetching: bool,
    only_field: str | None = None,
) -> None:
    """Append a DSS for each signature (B-LT) and, for B-LTA, a document time-stamp, in place."""
    context = validation_context(trust, allow_fetching=allow_fetching, revocation_mode="hard-fail")
    with boundary("reading the signed PDF"):
        reader = PdfFileReader(stream)
        sigs = [s for s in reader.embedded_regular_signatures if only_field in (None, s.field_name)]
        field_names = [s.field_name for s in sigs]
    if not field_names:
        raise InvalidInput("the PDF has no signature to extend")
    for name in field_names:
        with boundary(f"collecting validation material for {name}", SigningError):
            reader = PdfFileReader(stream)
            sig = _signature_named(reader, name)
            await async_add_validation_info(sig, context, in_place=True, chunk_size=CHUNK_SIZE)
    if level is Level.B_LTA:
        if not tsa_url:
            raise InvalidInput("PAdES B-LTA needs a time-stamping authority: give tsa_url")
        with boundary("adding the document time-stamp", SigningError):
            reader = PdfFileReader(stream)
            stamper = PdfTimeStamper(timestamper(tsa_url))
            if reader.embedded_timestamp_signatures:
                await stamper.async_update_archival_timestamp_chain(
                    reader, context, in_place=True, chunk_size=CHUNK_SIZE
                )
            else:
                await stamper.async_timestamp_pdf(
                    IncrementalPdfFileWriter(stream), "sha256", context, in_place=True, chunk_size=CHUNK_SIZE
                )


def _signature_named(reader: PdfFileReader, name: str) -> EmbeddedPdfSignature:
    for sig in reader.embedded_regular_signatures:
        if sig.field_name == name:
            return sig
    raise InvalidInput(f"no signature named {name!r}")


async def async_extend_pdf(
    input: PdfSource,
    output: PdfTarget = None,
    *,
    level: Level | str = "B-LT",
    tsa_url: str | None = None,
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
) -> bytes | None:
    """Asynchronous :func:`extend_pdf`."""
    target = Level.parse(level)
    if target.rank < Level.B_LT.rank:
        raise InvalidInput("extend_pdf adds B-LT or B-LTA; a B-T time-stamp can only be added when signing")
    work = Workspace(input, output)
    try:
        anchors = load_trust_anchors(trust)
        if not anchors:
            with boundary("reading the signed PDF"):
                anchors = _embedded_roots(PdfFileReader(work.stream))
        await extend_stream(work.stream, target, tsa_url=tsa_url, trust=anchors, allow_fetching=allow_fetching)
    except BaseException:
        work.abort()
        raise
    return work.commit()


def extend_pdf(
    input: PdfSource,
    output: PdfTarget = None,
    *,
    level: Level | str = "B-LT",
    tsa_url: str | None = None,
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
) -> bytes | None:
    """Raise an already signed PDF to B-LT (DSS) or B-LTA (DSS + document time-stamp).

    Run it again on a B-LTA file before its last time-stamp's certificate expires: it adds the
    validation material of that time-stamp and a new one (the archival chain).
    """
    return run_sync(
        async_extend_pdf(input, output, level=level, tsa_url=tsa_url, trust=trust, allow_fetching=allow_fetching)
    )


def _embedded_roots(reader: PdfFileReader) -> list[x509.Certificate]:
    roots: dict[bytes, x509.Certificate] = {}
    for sig in reader.embedded_regular_signatures:
        for cert in sig.signed_data["certificates"]:
            if cert.name == "certificate" and cert.chosen.self_signed != "no":
                roots[cert.chosen.sha256] = from_asn1(cert.chosen)
    if not roots:
        raise InvalidInput("no root certificate is embedded in the signatures: pass trust=[root certificate]")
    return list(roots.values())
