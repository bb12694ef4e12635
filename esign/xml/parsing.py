"""Hardened XML parsing: no DTD, no entities, no network, bounded trees unless asked.

Every document the library reads goes through :func:`parse_xml`. A DOCTYPE of any kind is
refused outright: XMLDSig needs none, and refusing it closes entity-expansion bombs, external
entities (XXE) and DTD-declared ID attributes (which would let an attacker move an ``Id``).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from esign.errors import InvalidInput


def _parser(huge_tree: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_blank_text=False,
        remove_comments=False,
        collect_ids=False,
    )


_PARSERS = {False: _parser(False), True: _parser(True)}


def parse_xml(data: bytes, *, huge_tree: bool = False) -> etree._ElementTree:
    """Parse ``data`` into a tree, refusing DTDs, entities and malformed input with :class:`InvalidInput`.

    ``huge_tree`` lifts libxml2's limits on text-node size and depth (needed only for documents
    with single text nodes over 10 MB or nesting deeper than 256); leave it off for untrusted input.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput("XML input must be bytes (the document as stored or received)")
    head = bytes(data[:4096]) if len(data) > 4096 else bytes(data)
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InvalidInput("XML with a DOCTYPE (DTD or entity declarations) is refused")
    try:
        tree = etree.fromstring(bytes(data), _PARSERS[huge_tree]).getroottree()
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"not acceptable XML: {exc}") from None
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InvalidInput("XML with a DOCTYPE (DTD or entity declarations) is refused")
    return tree
