"""Whole PDF and XML documents in a session, through the library's staged signing.

At creation each document is prepared (``esign.pdf.prepare`` / ``esign.xml.prepare``) with the
credential's certificate: what the phone confirms is the digest of the data to be signed, like any
other item. On confirmation the key signs those digests and ``finish`` writes the signed documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509

from esign.errors import EsignError, InvalidInput, SigningError
from esign.signers.file import load_certificates
from esign_server.models import Credential, SessionDocument
from esign_server.services.credentials import certificate_of
from esign_server.services.marks import PRESET_OPTIONS, appearance_for

if TYPE_CHECKING:
    from esign_server.context import ServerContext

PDF_OPTIONS = {"level", "reason", "location", "contact", "field_name"}
XML_OPTIONS = {"profile", "reference_id", "signature_parent", "c14n"}
MEDIA_TYPES = {"pdf": "application/pdf", "xml": "application/xml"}


@dataclass(frozen=True)
class DocumentIn:
    """A document to sign, with signing options (PDF: level, reason, location, contact, field_name, and
    a Decree 30 ``preset`` with marker, signer_name, document_number, copy_form, agency_name; XML:
    profile, reference_id, signature_parent, c14n)."""

    name: str
    format: str
    content: bytes
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedDocument:
    """A prepared document: the digest the key must sign and the state ``finish`` needs."""

    digest: bytes
    row: SessionDocument
    signature_algorithm_oid: str


def _tsa_url(ctx: ServerContext) -> str:
    return ctx.settings.public_url.rstrip("/") + "/pki/tsa"


def prepare_document(ctx: ServerContext, credential: Credential, index: int, doc: DocumentIn) -> PreparedDocument:
    """Stage one for one document."""
    cert = certificate_of(credential)
    if cert is None:
        raise InvalidInput("the credential has no certificate yet")
    chain = tuple(load_certificates(credential.chain_pem.encode())) if credential.chain_pem.strip() else ()
    options = dict(doc.options)
    if doc.format == "pdf":
        unknown = set(options) - PDF_OPTIONS - PRESET_OPTIONS
        if unknown:
            raise InvalidInput(f"unknown PDF option(s) {sorted(unknown)}; use {sorted(PDF_OPTIONS | PRESET_OPTIONS)}")
        from esign.pdf import prepare

        level = str(options.get("level", "B-B"))
        tsa = _tsa_url(ctx) if level.upper().removeprefix("PADES-") not in ("B-B", "B") else None
        pdf_options = {k: v for k, v in options.items() if k in PDF_OPTIONS}
        if "preset" in options:  # Decree 30: the holder's signature or seal image, placed from the document
            appearance, field = appearance_for(ctx, credential.user_id, doc.content, cert, options)
            pdf_options.update(appearance=appearance, **({"field_name": field} if field else {}))
        digest, pdf_state = prepare(doc.content, cert, chain, tsa_url=tsa, **pdf_options)
        oid = pdf_state.algorithm.oid
        state = pdf_state.to_bytes()
    elif doc.format == "xml":
        unknown = set(options) - XML_OPTIONS
        if unknown:
            raise InvalidInput(f"unknown XML option(s) {sorted(unknown)}; use {sorted(XML_OPTIONS)}")
        from esign.xml.signing import prepare as xml_prepare
        from esign.xml.signing import signature_algorithm_of

        profile = str(options.get("profile", "xades-b-b"))
        tsa = _tsa_url(ctx) if profile in ("xades-b-t", "xades-b-lt") else None
        digest, xml_state = xml_prepare(doc.content, cert, chain=chain, tsa_url=tsa, **options)
        oid = signature_algorithm_of(xml_state).oid
        state = xml_state.to_json().encode()
    else:
        raise InvalidInput(f"document {index}: format must be pdf or xml")
    row = SessionDocument(
        session_id="", index=index, name=doc.name, format=doc.format, options=options, content=doc.content, state=state
    )
    return PreparedDocument(digest, row, oid)


def finish_document(ctx: ServerContext, credential: Credential, row: SessionDocument, signature: bytes) -> bytes:
    """Stage two for one document: the signed file."""
    assert row.state is not None
    try:
        if row.format == "pdf":
            from esign.pdf import PreparedSignature, finish

            signed = finish(PreparedSignature.from_bytes(row.state), signature)
            if signed is None:
                raise SigningError("the PDF was written elsewhere")
            return signed
        from esign.xml.signing import XmlSigningState
        from esign.xml.signing import finish as xml_finish

        return xml_finish(XmlSigningState.from_json(row.state), signature)
    except EsignError:
        raise
    except Exception as exc:  # a library bug must fail the session, not the worker
        raise SigningError(f"finishing {row.name} failed: {exc.__class__.__name__}: {exc}") from None


def certificate_chain(credential: Credential) -> list[x509.Certificate]:
    """The credential's certificate and chain."""
    cert = certificate_of(credential)
    rest = load_certificates(credential.chain_pem.encode()) if credential.chain_pem.strip() else []
    return ([cert] if cert else []) + rest
