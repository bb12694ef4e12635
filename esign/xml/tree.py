"""Finding things in a parsed document: elements by ``Id``, by local name, and their paths.

XMLDSig same-document references name elements by an ID attribute. Without a DTD or schema the
ID attributes are, by convention, ``Id``, ``ID``, ``id`` and ``xml:id``; an ID that appears more
than once is refused, because which element it means would then be the attacker's choice.
"""

from __future__ import annotations

from lxml import etree

from esign.errors import InvalidInput

ID_ATTRIBUTES = ("Id", "ID", "id", "{http://www.w3.org/XML/1998/namespace}id")
# Attributes by value first, names checked after: ~14x faster in libxml2 than testing four names per element.
_ATTRIBUTES_WITH_VALUE = etree.XPath("//@*[.=$v]")


def find_by_id(root: etree._Element, value: str) -> etree._Element:
    """The one element whose ID attribute is ``value``; :class:`InvalidInput` when none or several."""
    hits = _ATTRIBUTES_WITH_VALUE(root, v=value)
    assert isinstance(hits, list)
    found = [hit.getparent() for hit in hits if getattr(hit, "attrname", None) in ID_ATTRIBUTES]  # type: ignore[union-attr]
    if not found:
        raise InvalidInput(f"no element has the ID {value!r}")
    if len(found) > 1:
        raise InvalidInput(f"the ID {value!r} is used by {len(found)} elements; duplicate IDs are refused")
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def element_id(element: etree._Element) -> str | None:
    """The value of ``element``'s ID attribute, if it has one."""
    for name in ID_ATTRIBUTES:
        value = element.get(name)
        if value is not None:
            return value
    return None


def local_name(element: etree._Element) -> str:
    """The tag without its namespace."""
    return etree.QName(element).localname


def describe(element: etree._Element) -> str:
    """A readable location such as ``/HDon/DLHDon[@Id='data']`` for reports."""
    parts = []
    node: etree._Element | None = element
    while node is not None:
        ident = element_id(node)
        parts.append(local_name(node) + (f"[@Id='{ident}']" if ident else ""))
        node = node.getparent()
    return "/" + "/".join(reversed(parts))


def child_path(element: etree._Element) -> list[int]:
    """Positions (among element children) from the root down to ``element``; ``[]`` for the root."""
    path: list[int] = []
    node = element
    parent = node.getparent()
    while parent is not None:
        path.append(_element_index(parent, node))
        node, parent = parent, parent.getparent()
    return list(reversed(path))


def follow_path(root: etree._Element, path: list[int]) -> etree._Element:
    """The element reached from ``root`` by :func:`child_path` positions."""
    node = root
    for index in path:
        children = [c for c in node if isinstance(c.tag, str)]
        if index >= len(children):
            raise InvalidInput("the document does not match the prepared signature (element path not found)")
        node = children[index]
    return node


def _element_index(parent: etree._Element, child: etree._Element) -> int:
    index = 0
    for candidate in parent:
        if candidate is child:
            return index
        if isinstance(candidate.tag, str):
            index += 1
    raise ValueError("child not under parent")
