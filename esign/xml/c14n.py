"""Canonicalization (C14N 1.0 inclusive and exclusive, C14N 1.1) and digesting of lxml nodes.

lxml's C14N (libxml2) does the work in C, but lxml canonicalizes a non-root element through a
"fake root" document and gets it wrong: descendants in an inherited default namespace come out
with ``xmlns=""`` (lxml 6.1, libxml2 2.14), and inherited ``xml:*`` attributes are left out. So a
subtree is canonicalized as the root of a copy that declares every in-scope namespace and
carries the inherited ``xml:lang``/``xml:space`` (and, for C14N 1.0, ``xml:base``/``xml:id``);
whole documents are canonicalized in place and streamed into the hash.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from lxml import etree

from esign.errors import InvalidInput
from esign.xml.constants import C14N_METHODS, XML_NS

_INHERITED_10 = ("lang", "space", "base", "id")
# libxml2 refuses to canonicalize e.g. a relative namespace URI (xmlns:x="a/b"), which C14N forbids.
_C14N_REFUSED = "the document cannot be canonicalized ({}); relative namespace URIs are not allowed"
_INHERITED_11 = ("lang", "space")


class _HashSink:
    """A file-like object that hashes what libxml2 writes, and optionally keeps it."""

    def __init__(self, digest: str, keep: bool) -> None:
        self.hash = hashlib.new(digest)
        self.parts: list[bytes] | None = [] if keep else None

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        if self.parts is not None:
            self.parts.append(data)
        return len(data)


def method_flags(algorithm: str) -> tuple[bool, bool, bool]:
    """``(exclusive, with_comments, c14n11)`` for a canonicalization algorithm URI."""
    try:
        return C14N_METHODS[algorithm]
    except KeyError:
        raise InvalidInput(f"canonicalization method {algorithm!r} is not allowed") from None


def canonicalize(
    node: etree._Element | etree._ElementTree,
    algorithm: str,
    *,
    inclusive_prefixes: list[str] | None = None,
    with_comments: bool | None = None,
) -> bytes:
    """The canonical form of ``node`` (an element, or a whole tree) under ``algorithm``."""
    exclusive, comments, c14n11 = method_flags(algorithm)
    if with_comments is not None:
        comments = comments and with_comments
    kwargs: dict[str, Any] = {"method": "c14n", "exclusive": exclusive, "with_comments": comments}
    if exclusive and inclusive_prefixes:
        kwargs["inclusive_ns_prefixes"] = inclusive_prefixes
    try:
        if isinstance(node, etree._ElementTree) or node.getparent() is None:
            return etree.tostring(node, **kwargs)
        return etree.tostring(_standalone_copy(node, inherit_xml=not exclusive, c14n11=c14n11), **kwargs)
    except etree.C14NError as exc:
        raise InvalidInput(_C14N_REFUSED.format(exc)) from None


def digest_document(tree: etree._ElementTree, algorithm: str, digest: str, *, keep: bool) -> tuple[bytes, bytes]:
    """Hash the canonical form of a whole document (comments dropped, as for ``URI=""``).

    Returns ``(digest, canonical bytes or b"")``; the bytes are kept only when ``keep`` is set.
    """
    exclusive, _, _ = method_flags(algorithm)
    sink = _HashSink(digest, keep)
    writer: Any = tree.write_c14n  # the stubs know neither file-like sinks nor exclusive=
    try:
        writer(sink, exclusive=exclusive, with_comments=False)
    except etree.C14NError as exc:
        raise InvalidInput(_C14N_REFUSED.format(exc)) from None
    return sink.hash.digest(), b"".join(sink.parts) if sink.parts is not None else b""


def _standalone_copy(node: etree._Element, *, inherit_xml: bool, c14n11: bool) -> etree._Element:
    """``node`` as the root of a new document, declaring every namespace in scope at ``node``."""
    clone = etree.Element(node.tag, nsmap=node.nsmap)  # type: ignore[arg-type]
    for name, value in node.attrib.items():
        clone.set(name, value)
    if inherit_xml:
        names = _INHERITED_11 if c14n11 else _INHERITED_10
        parent = node.getparent()
        while parent is not None:
            for local in names:
                qname = f"{{{XML_NS}}}{local}"
                inherited = parent.get(qname)
                if inherited is not None and clone.get(qname) is None:
                    clone.set(qname, inherited)
            parent = parent.getparent()
    clone.text = node.text
    for child in list(copy.deepcopy(node)):
        clone.append(child)
    return clone
