"""Signing a package's envelope: an enveloped XMLDSig in ``edXMLHeader`` over the whole package.

The signature is made by :mod:`esign.xml` (any :mod:`esign.signers` backend, or the two stages
:func:`esign.xml.prepare` / :func:`esign.xml.finish` for a key on a phone): reference ``URI=""``
with the enveloped-signature transform, so the header, the trace, the manifest and every attachment
are covered. A placeholder left by another system (an empty ``Signature`` or ``DigitalSignature``)
and an earlier envelope signature (no longer valid after a trace hop) are removed first.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from lxml import etree

from esign.edxml.codec import DS_NS, HUGE_TREE_FROM
from esign.edxml.model import NAMESPACE
from esign.errors import InvalidInput
from esign.signers import Signer
from esign.xml import XmlSigningState, async_sign_xml, parse_xml, prepare, sign_xml

SIGNATURE_PARENT = "edXMLHeader"
"""Where the envelope signature goes (given to :func:`esign.xml.sign_xml` as ``signature_parent``)."""
_PLACEHOLDERS = {
    f"{{{DS_NS}}}Signature",
    f"{{{NAMESPACE}}}Signature",
    "Signature",
    f"{{{NAMESPACE}}}DigitalSignature",
    "DigitalSignature",
}


def unsigned_envelope(data: bytes) -> bytes:
    """``data`` with any signature or placeholder removed from ``edXMLHeader`` (ready to sign).

    Raises :class:`InvalidInput` when ``data`` is not an edXML package.
    """
    tree = parse_xml(data, huge_tree=len(data) >= HUGE_TREE_FROM)
    headers = tree.getroot().findall(f"{{{NAMESPACE}}}edXMLEnvelope/{{{NAMESPACE}}}edXMLHeader")
    if tree.getroot().tag != f"{{{NAMESPACE}}}edXML" or len(headers) != 1:
        raise InvalidInput("not an edXML package: expected edXML/edXMLEnvelope/edXMLHeader once")
    removed = False
    for child in list(headers[0]):
        if child.tag in _PLACEHOLDERS:
            headers[0].remove(child)
            removed = True
    if not removed:
        return data
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def sign_package(data: bytes, signer: Signer, **options: Any) -> bytes:
    """Sign the envelope of the package ``data`` with ``signer``; return the signed package.

    ``options`` go to :func:`esign.xml.sign_xml` (``digest``, ``tsa_url``, ``scheme``, ...); the
    profile is XMLDSig enveloped and the signature goes in ``edXMLHeader``.

    >>> signed = sign_package(to_bytes(package), FileSigner.load("cert.p12", b"pw"))  # doctest: +SKIP
    """
    prepared = unsigned_envelope(data)
    return sign_xml(
        prepared,
        signer,
        profile="xmldsig-enveloped",
        signature_parent=SIGNATURE_PARENT,
        huge_tree=len(prepared) >= HUGE_TREE_FROM,
        **options,
    )


async def async_sign_package(data: bytes, signer: Signer, **options: Any) -> bytes:
    """:func:`sign_package` for callers inside an event loop (remote signers)."""
    prepared = unsigned_envelope(data)
    return await async_sign_xml(
        prepared,
        signer,
        profile="xmldsig-enveloped",
        signature_parent=SIGNATURE_PARENT,
        huge_tree=len(prepared) >= HUGE_TREE_FROM,
        **options,
    )


def prepare_package(
    data: bytes, signer_or_certificate: Signer | x509.Certificate, **options: Any
) -> tuple[bytes, XmlSigningState]:
    """Stage one of signing the envelope with a key elsewhere (a phone, a CSC service).

    Returns ``(digest to sign, state)`` as :func:`esign.xml.prepare` does, for the package with its
    placeholder removed; sign the digest, then :func:`esign.xml.finish` gives the signed package.
    ``embed_document=False`` is refused when a placeholder had to be removed (the state must then
    carry the document).
    """
    prepared = unsigned_envelope(data)
    return prepare(prepared, signer_or_certificate, profile="xmldsig-enveloped", signature_parent=SIGNATURE_PARENT,
                   huge_tree=len(prepared) >= HUGE_TREE_FROM, **options)  # fmt: skip


__all__ = ["SIGNATURE_PARENT", "async_sign_package", "prepare_package", "sign_package", "unsigned_envelope"]
