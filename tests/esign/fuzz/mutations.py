"""Mutations of valid signed PDF and XML documents, driven by any source of choices.

The same mutators serve the CI fuzz tests (hypothesis draws the choices, so failures shrink and
replay) and the long runs in ``bench/fuzz_pdf.py`` / ``bench/fuzz_xml.py`` (atheris'
``FuzzedDataProvider`` or a seeded :class:`random.Random` draws them). A mutator takes the
document and a :class:`Choices` and returns a :class:`Mutant`: the new bytes, what was done, and
whether bytes the signature covers were certainly changed (then no report may be TOTAL-PASSED).
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

DS_NS = "http://www.w3.org/2000/09/xmldsig#"


class Choices(Protocol):
    """Where a mutator's decisions come from."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]`` (both included)."""

    def raw(self, size: int) -> bytes:
        """``size`` arbitrary bytes."""


class RandomChoices:
    """Choices from a seeded :class:`random.Random` (reproducible long runs without atheris)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def raw(self, size: int) -> bytes:
        return self.rng.randbytes(size)


class ProviderChoices:
    """Choices from atheris' ``FuzzedDataProvider`` (coverage-guided: the fuzzer learns them)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def integer(self, low: int, high: int) -> int:
        return int(self.provider.ConsumeIntInRange(low, high))

    def raw(self, size: int) -> bytes:
        return bytes(self.provider.ConsumeBytes(size)).ljust(size, b"\0")


def pick(choices: Choices, items: Sequence[Any]) -> Any:
    """One of ``items``."""
    return items[choices.integer(0, len(items) - 1)]


@dataclass(frozen=True)
class Mutant:
    """A mutated document."""

    data: bytes
    what: str
    signed_changed: bool = False
    """True when bytes covered by every signature certainly differ from the original."""


Mutator = Callable[[bytes, Choices], Mutant]


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag, 0x84]) + len(body).to_bytes(4, "big") + body


def der_bomb(size: int, choices: Choices) -> bytes:
    """About ``size`` bytes of DER shaped to hurt a parser: endless tags or OID arcs, deep nesting, lying lengths."""
    kind = choices.integer(0, 5)
    if kind == 0:
        return b"\x3f" + b"\xff" * size + b"\x01\x00"
    if kind == 1:
        return _der(0x30, _der(0x06, b"\x2a" + b"\xff" * size + b"\x7f") + b"\xa0\x02\x30\x00")
    if kind == 2:
        return b"\x30\x80" * (size // 2)
    if kind == 3:
        return pick(choices, [b"\x30\x88" + b"\xff" * 8, b"\x30\x84\xff\xff\xff\xff", b"\x30\x8f"]) + b"\x00" * 16
    if kind == 4:
        body = b"\x05\x00"
        for _ in range(min(size // 6, 5_000)):
            body = _der(0x30, body)
        return body
    return _der(0x30, _der(0x02, b"\x7f" + b"\xff" * size) * 3)


# Tokens that parsers treat specially: delimiters, keywords, numbers at the edges of integer types.
PDF_TOKENS = (
    b"<<",
    b">>",
    b"[",
    b"]",
    b"(",
    b")",
    b"<",
    b">",
    b"/",
    b"%",
    b"\\",
    b"\r",
    b"\n",
    b" ",
    b"\0",
    b"obj",
    b"endobj",
    b"stream",
    b"endstream",
    b"xref",
    b"trailer",
    b"startxref",
    b"%%EOF",
    b"R",
    b"0 0 R",
    b"1 0 R",
    b"999999 0 R",
    b"/Type /Sig",
    b"/ByteRange",
    b"/Contents",
    b"/Length",
    b"/Prev",
    b"/Filter /FlateDecode",
    b"/Filter /LZWDecode",
    b"/DecodeParms << /Predictor 12 /Columns 99999999 >>",
    b"-1",
    b"0",
    b"2147483647",
    b"2147483648",
    b"4294967296",
    b"9223372036854775808",
    b"1e308",
    b"-0.0",
    b"99999999999999999999999999999999999999",
    b".",
    b"--1",
    b"+-1",
)
XML_TOKENS = (
    b"<",
    b">",
    b"</",
    b"/>",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&lol;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?xml version='1.0'?>",
    b"<?pi x?>",
    b"xmlns=''",
    b' xmlns:ds="urn:evil"',
    b' Id="data"',
    b' URI=""',
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\0",
    b"\r",
    b"\t",
)


def _signed_ranges(data: bytes) -> list[tuple[int, int]]:
    """The byte ranges of the first (earliest) signature: ``[(start, end), ...]``, or [] if unreadable."""
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    if match is None:
        return []
    a, b, c, d = (int(x) for x in match.groups())
    return [(a, a + b), (c, c + d)]


# -- generic byte mutations (both formats) ------------------------------------------------------


def flip_byte(data: bytes, choices: Choices) -> Mutant:
    """XOR one byte anywhere with a non-zero mask."""
    pos = choices.integer(0, len(data) - 1)
    mask = choices.integer(1, 255)
    out = bytearray(data)
    out[pos] ^= mask
    return Mutant(bytes(out), f"flip byte {pos} ^ {mask:#x}")


def flip_bytes(data: bytes, choices: Choices) -> Mutant:
    """Overwrite a short run of bytes with random ones."""
    pos = choices.integer(0, len(data) - 1)
    chunk = choices.raw(choices.integer(1, 16))
    out = data[:pos] + chunk + data[pos + len(chunk) :]
    return Mutant(out[: len(data)], f"overwrite {len(chunk)} bytes at {pos}")


def truncate(data: bytes, choices: Choices) -> Mutant:
    """Cut the document short (often inside the signature or the xref table)."""
    end = choices.integer(0, len(data) - 1)
    return Mutant(data[:end], f"truncate to {end} bytes")


def delete_span(data: bytes, choices: Choices) -> Mutant:
    """Remove a span of bytes."""
    pos = choices.integer(0, len(data) - 1)
    size = choices.integer(1, 64)
    return Mutant(data[:pos] + data[pos + size :], f"delete {size} bytes at {pos}")


def _insert_tokens(tokens: tuple[bytes, ...]) -> Mutator:
    def insert_token(data: bytes, choices: Choices) -> Mutant:
        pos = choices.integer(0, len(data))
        token = pick(choices, tokens) if choices.integer(0, 3) else choices.raw(choices.integer(1, 32))
        return Mutant(data[:pos] + token + data[pos:], f"insert {token[:40]!r} at {pos}")

    return insert_token


# -- PDF -------------------------------------------------------------------------------------------


def pdf_flip_signed_byte(data: bytes, choices: Choices) -> Mutant:
    """Change one byte that the first signature covers: the document must no longer pass."""
    ranges = [(s, e) for s, e in _signed_ranges(data) if e > s and e <= len(data)]
    if not ranges:
        return flip_byte(data, choices)
    start, end = pick(choices, ranges)
    pos = choices.integer(start, end - 1)
    mask = choices.integer(1, 255)
    out = bytearray(data)
    out[pos] ^= mask
    return Mutant(bytes(out), f"flip signed byte {pos} ^ {mask:#x}", signed_changed=True)


def pdf_damage_xref(data: bytes, choices: Choices) -> Mutant:
    """Point startxref elsewhere, break xref entries, or damage the trailer."""
    kind = choices.integer(0, 5)
    if kind == 0:
        matches = list(re.finditer(rb"startxref\s+(\d+)", data))
        if matches:
            m = pick(choices, matches)
            value = pick(
                choices,
                [
                    b"0",
                    b"-1",
                    b"99999999999999999999",
                    b"%d" % (int(m.group(1)) + 1),
                    b"%d" % choices.integer(0, len(data)),
                ],
            )
            return Mutant(data[: m.start(1)] + value + data[m.end(1) :], f"startxref -> {value!r}")
    if kind == 1:
        matches = list(re.finditer(rb"\d{10} \d{5} [nf]", data))
        if matches:
            m = pick(choices, matches)
            entry = b"%010d %05d %s" % (
                choices.integer(0, 9_999_999_999),
                choices.integer(0, 99_999),
                pick(choices, [b"n", b"f", b"x"]),
            )
            return Mutant(data[: m.start()] + entry + data[m.end() :], f"xref entry -> {entry!r}")
    if kind == 2:
        matches = list(re.finditer(rb"/(Size|Root|Prev|Info|Count)\s+(\d+)", data))
        if matches:
            m = pick(choices, matches)
            value = pick(choices, [b"0", b"-5", b"2147483648", b"99999999999999999999999", b"1.5"])
            return Mutant(data[: m.start(2)] + value + data[m.end(2) :], f"/{m.group(1).decode()} -> {value!r}")
    if kind == 3:
        # An incremental update whose trailer /Prev points at itself: an xref loop.
        last = list(re.finditer(rb"startxref\s+(\d+)", data))
        prev = int(last[-1].group(1)) if last else 0
        here = len(data) + 1
        tail = (
            b"\nxref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root 1 0 R /Prev %d >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (pick(choices, [here, prev, here + 5]), here)
        )
        return Mutant(data + tail, "xref section with a /Prev loop")
    if kind == 4:
        start = data.rfind(b"trailer")
        if start > 0:
            end = choices.integer(start, len(data))
            return Mutant(data[:start] + data[end:], f"trailer bytes {start}..{end} removed")
    m = re.search(rb"xref\s+0\s+(\d+)", data)
    if m:
        value = pick(choices, [b"0", b"999999999", b"2147483648", b"-1"])
        return Mutant(data[: m.start(1)] + value + data[m.end(1) :], f"xref subsection count -> {value!r}")
    return truncate(data, choices)


def pdf_edit_byte_range(data: bytes, choices: Choices) -> Mutant:
    """Rewrite the /ByteRange numbers: shrink, overlap, point past the end, huge or negative."""
    matches = list(re.finditer(rb"/ByteRange\s*\[([^\]]*)\]", data))
    if not matches:
        return flip_byte(data, choices)
    m = pick(choices, matches)
    numbers = [int(x) for x in re.findall(rb"-?\d+", m.group(1))] or [0, 0, 0, 0]
    index = choices.integer(0, len(numbers) - 1)
    numbers[index] = pick(
        choices,
        [
            0,
            -1,
            1,
            numbers[index] + 1,
            numbers[index] - 1,
            len(data),
            len(data) + 1,
            2**31,
            2**63,
            10**40,
            choices.integer(0, len(data)),
        ],
    )
    if choices.integer(0, 4) == 0:
        numbers = numbers + [choices.integer(0, len(data))] * choices.integer(1, 4)
    body = b" ".join(b"%d" % n for n in numbers)
    # Keep the file length when the new text fits the old (the usual attack keeps offsets intact).
    old = m.group(1)
    if len(body) <= len(old):
        body = body.ljust(len(old))
    out = data[: m.start(1)] + body + data[m.end(1) :]
    return Mutant(out, f"ByteRange -> [{body.strip().decode()}]")


def pdf_edit_contents(data: bytes, choices: Choices) -> Mutant:
    """Change the signature's /Contents: flip hex digits, break the hex, zero it, cut it, or grow it."""
    match = re.search(rb"/Contents\s*<([0-9A-Fa-f]*)>", data)
    if match is None:
        return flip_byte(data, choices)
    start, end = match.span(1)
    hexdata = bytearray(match.group(1))
    kind = choices.integer(0, 5)
    if kind == 0 and hexdata:
        for _ in range(choices.integer(1, 8)):
            pos = choices.integer(0, len(hexdata) - 1)
            hexdata[pos] = pick(choices, b"0123456789abcdefABCDEF")
        new = bytes(hexdata)
    elif kind == 1 and hexdata:
        pos = choices.integer(0, len(hexdata) - 1)
        hexdata[pos] = pick(choices, b"gZ> )(\n")
        new = bytes(hexdata)
    elif kind == 2:
        new = b"0" * len(hexdata)
    elif kind == 3:
        new = bytes(hexdata[: choices.integer(0, len(hexdata))]).ljust(len(hexdata), b"0")
    elif kind == 4:
        new = bytes(hexdata) + b"00" * choices.integer(1, 64)
    else:  # DER built to hurt the CMS parser, in the room the signer reserved
        new = der_bomb(len(hexdata) // 2, choices).hex().encode()[: len(hexdata)].ljust(len(hexdata), b"0")
    # The DER inside may itself be edited at a known place: the first bytes hold tag and length.
    if kind == 0 and choices.integer(0, 1):
        new = pick(choices, [b"30800000", b"3084ffffffff", b"308900", b"0500", b"a0"]) + new[8:]
    return Mutant(data[:start] + new + data[end:], f"/Contents edit kind {kind}")


def _append_update(data: bytes, obj: int, body: bytes) -> bytes:
    """An incremental update redefining object ``obj`` with ``body`` (a valid xref section)."""
    last = list(re.finditer(rb"startxref\s+(\d+)", data))
    prev = int(last[-1].group(1)) if last else 0
    root = re.findall(rb"/Root\s+(\d+)\s+0\s+R", data)
    root_ref = root[-1] if root else b"1"
    out = bytearray(data)
    if not out.endswith(b"\n"):
        out += b"\n"
    offset = len(out)
    out += b"%d 0 obj\n" % obj + body + b"\nendobj\n"
    xref = len(out)
    size = max(obj + 1, max((int(s) for s in re.findall(rb"/Size\s+(\d+)", data)), default=0))
    out += b"xref\n%d 1\n%010d 00000 n \n" % (obj, offset)
    out += b"trailer\n<< /Size %d /Root %s 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root_ref, prev, xref)
    return bytes(out)


def pdf_nesting_bomb(data: bytes, choices: Choices) -> Mutant:
    """Append an update whose catalog carries deeply nested arrays or dictionaries."""
    depth = pick(choices, [100, 1_000, 10_000, 100_000])
    opener, closer = pick(choices, [(b"[", b"]"), (b"<< /A ", b" >>"), (b"[<< /K ", b">>]")])
    bomb = opener * depth + b"0" + closer * depth
    if choices.integer(0, 3) == 0:
        bomb = opener * depth  # never closed
    root = re.findall(rb"/Root\s+(\d+)\s+0\s+R", data)
    root_obj = int(root[-1]) if root else 1
    pages = re.search(rb"/Pages\s+(\d+)\s+0\s+R", data)
    pages_ref = pages.group(1) if pages else b"2"
    body = b"<< /Type /Catalog /Pages %s 0 R /Bomb %s >>" % (pages_ref, bomb)
    return Mutant(_append_update(data, root_obj, body), f"nesting bomb depth {depth} {opener!r}")


def pdf_huge_numbers(data: bytes, choices: Choices) -> Mutant:
    """Replace a number token with an enormous, negative or malformed one (object numbers, lengths, ...)."""
    matches = list(re.finditer(rb"(?<![\d./])\d+(?![\d.])", data))
    if not matches:
        return flip_byte(data, choices)
    m = pick(choices, matches)
    digits = choices.integer(10, 5_000)
    value = pick(
        choices,
        [
            b"9" * digits,
            b"-" + b"9" * digits,
            b"1" + b"0" * digits,
            b"0." + b"0" * digits + b"1",
            b"4294967295",
            b"18446744073709551616",
            b"1e999",
            b"-2147483649",
        ],
    )
    return Mutant(data[: m.start()] + value + data[m.end() :], f"number at {m.start()} -> {len(value)} chars")


def pdf_stream_length(data: bytes, choices: Choices) -> Mutant:
    """Lie about a stream's /Length, or declare a filter on it that its data do not follow."""
    matches = list(re.finditer(rb"/Length\s+(\d+)", data))
    if not matches:
        return flip_byte(data, choices)
    m = pick(choices, matches)
    if choices.integer(0, 1):
        value = pick(choices, [b"0", b"-1", b"999999999", b"%d" % (int(m.group(1)) + 1), b"1 0 R", b"99 0 R"])
        return Mutant(data[: m.start(1)] + value + data[m.end(1) :], f"/Length -> {value!r}")
    filt = pick(
        choices,
        [
            b" /Filter /FlateDecode",
            b" /Filter /ASCII85Decode",
            b" /Filter /LZWDecode",
            b" /Filter [/FlateDecode /FlateDecode]",
            b" /Filter /DCTDecode",
            b" /Filter /Crypt",
        ],
    )
    return Mutant(data[: m.end()] + filt + data[m.end() :], f"filter {filt.strip()!r} added")


def pdf_update_object(data: bytes, choices: Choices) -> Mutant:
    """Append an update that redefines an existing object with odd content (shadow-style)."""
    numbers = sorted({int(n) for n in re.findall(rb"(?<!\d)(\d+) 0 obj", data)}) or [1]
    obj = pick(choices, numbers)
    body = pick(
        choices,
        [
            b"null",
            b"<< >>",
            b"<< /Type /Page >>",
            b"<< /Type /Sig /Contents <00> /ByteRange [0 1 2 3] >>",
            b"<< /Type /Annot /Subtype /Widget /FT /Sig /V 999 0 R >>",
            b"<< /Length 5 >>\nstream\nhello\nendstream",
            b"[%d 0 R]" % obj,
            b"%d 0 R" % obj,
            b"<< /Kids [%d 0 R] /Type /Pages /Count 1 >>" % obj,
        ],
    )
    return Mutant(_append_update(data, obj, body), f"object {obj} redefined as {body[:40]!r}")


def shared_signature_fields(data: bytes, count: int) -> bytes:
    """An update adding ``count`` signature fields that all point at the existing signature dictionary."""
    value = re.search(rb"/FT\s*/Sig[^>]*?/V\s+(\d+)\s+0\s+R|/V\s+(\d+)\s+0\s+R[^>]*?/FT\s*/Sig", data)
    pages = re.search(rb"/Pages\s+(\d+)\s+0\s+R", data)
    roots = re.findall(rb"/Root\s+(\d+)\s+0\s+R", data)
    if value is None or pages is None or not roots:
        return data
    signature = value.group(1) or value.group(2)
    first = max(int(n) for n in re.findall(rb"/Size\s+(\d+)", data))
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets: dict[int, int] = {}
    ids = range(first, first + count)
    for number in ids:
        offsets[number] = len(out)
        field = b"<< /FT /Sig /T (f%d) /V %s 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] >>" % (number, signature)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, field)
    root = int(roots[-1])
    offsets[root] = len(out)
    fields = b" ".join(b"%d 0 R" % n for n in ids)
    out += b"%d 0 obj\n<< /Type /Catalog /Pages %s 0 R /AcroForm << /Fields [%s] >> >>\nendobj\n" % (
        root,
        pages.group(1),
        fields,
    )
    xref = len(out)
    out += b"xref\n" + b"".join(b"%d 1\n%010d 00000 n \n" % (n, offsets[n]) for n in sorted(offsets))
    trailer = b"<< /Size %d /Root %d 0 R /Prev %d >>" % (first + count, root, prev)
    out += b"trailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref)
    return bytes(out)


def pdf_many_signatures(data: bytes, choices: Choices) -> Mutant:
    """Many fields sharing one signature dictionary: each would cost a full validation."""
    count = pick(choices, [2, 49, 51, 500, 5_000])
    return Mutant(shared_signature_fields(data, count), f"{count} fields share the signature")


PDF_MUTATORS: tuple[Mutator, ...] = (
    flip_byte,
    flip_bytes,
    truncate,
    delete_span,
    _insert_tokens(PDF_TOKENS),
    pdf_flip_signed_byte,
    pdf_damage_xref,
    pdf_edit_byte_range,
    pdf_edit_contents,
    pdf_nesting_bomb,
    pdf_huge_numbers,
    pdf_stream_length,
    pdf_update_object,
    pdf_many_signatures,
)


# -- XML -------------------------------------------------------------------------------------------


def _tree(data: bytes) -> etree._Element:
    # The mutator parses the *valid* original, so a plain parser is fine here (nothing hostile yet).
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, remove_blank_text=False))


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


def _signed_elements(root: etree._Element) -> list[etree._Element]:
    """Elements referenced by an ``#id`` URI of any Reference, or the root for ``URI=""``."""
    ids = _id_index(root)
    found = []
    for ref in root.iter(f"{{{DS_NS}}}Reference"):
        found += _referenced(root, ref, ids)
    return found


def _id_index(root: etree._Element) -> dict[str, list[etree._Element]]:
    """Elements by ``Id``, built once: documents with thousands of signatures stay linear to mutate."""
    index: dict[str, list[etree._Element]] = {}
    for element in _elements(root):
        value = element.get("Id")
        if value is not None:
            index.setdefault(value, []).append(element)
    return index


def _referenced(
    root: etree._Element, ref: etree._Element, ids: dict[str, list[etree._Element]]
) -> list[etree._Element]:
    uri = ref.get("URI")
    if uri == "":
        return [root]
    if uri and uri.startswith("#"):
        return ids.get(uri[1:], [])
    return []


def _signed_by_every_signature(root: etree._Element) -> list[etree._Element]:
    """Elements whose text every Signature in the document covers (through one of its references)."""
    common: set[etree._Element] | None = None
    ids = _id_index(root)
    signatures = list(root.iter(f"{{{DS_NS}}}Signature"))
    if len(signatures) > 20:  # an earlier round copied signatures: not worth the quadratic bookkeeping
        return []
    for signature in signatures:
        covered = {
            element
            for ref in signature.iterfind(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
            for target in _referenced(root, ref, ids)
            for element in _elements(target)
            if not _under_signature(element, target)
        }
        common = covered if common is None else common & covered
    order = {element: position for position, element in enumerate(_elements(root))}
    return sorted(common or (), key=order.__getitem__)


def _under_signature(element: etree._Element, target: etree._Element) -> bool:
    """Whether a ds:Signature lies between ``target`` (excluded) and ``element`` (included).

    Such an element is left out of what ``target`` signs by the enveloped-signature transform,
    or is the signature's own machinery; a signed ds:Object is itself the target and counts.
    """
    node: etree._Element | None = element
    while node is not None and node is not target:
        if node.tag == f"{{{DS_NS}}}Signature":
            return True
        node = node.getparent()
    return False


def xml_change_signed_text(data: bytes, choices: Choices) -> Mutant:
    """Change one letter of text that every signature covers: no report may then pass."""
    root = _tree(data)
    candidates = [e for e in _signed_by_every_signature(root) if e.text and any(c.isalnum() for c in e.text)]
    if not candidates:
        return flip_byte(data, choices)
    element = pick(choices, candidates)
    text = element.text or ""
    positions = [i for i, c in enumerate(text) if c.isalnum()]
    pos = pick(choices, positions)
    replacement = "X" if text[pos] != "X" else "Y"
    element.text = text[:pos] + replacement + text[pos + 1 :]
    return Mutant(_serialize(root), f"signed text in <{etree.QName(element).localname}> changed", signed_changed=True)


def xml_move_element(data: bytes, choices: Choices) -> Mutant:
    """Move an element under another parent (signature wrapping moves)."""
    root = _tree(data)
    elements = _elements(root)[1:]
    if not elements:
        return flip_byte(data, choices)
    moved = pick(choices, elements)
    parents = [e for e in _elements(root) if e is not moved and moved not in list(e.iterancestors())]
    parents = [p for p in parents if not any(a is moved for a in p.iterancestors())]
    target = pick(choices, parents)
    target.insert(choices.integer(0, len(target)), moved)
    return Mutant(_serialize(root), f"<{etree.QName(moved).localname}> moved under <{etree.QName(target).localname}>")


def xml_wrap(data: bytes, choices: Choices) -> Mutant:
    """Duplicate a signed element (a forged copy keeps or changes the Id), or wrap the original."""
    import copy

    root = _tree(data)
    signed = [e for e in _signed_elements(root) if e is not root] or [
        e for e in _elements(root)[1:] if not any(a.tag == f"{{{DS_NS}}}Signature" for a in [e, *e.iterancestors()])
    ]
    if not signed:
        return flip_byte(data, choices)
    original = pick(choices, signed)
    kind = choices.integer(0, 3)
    signature = next(root.iter(f"{{{DS_NS}}}Signature"), None)
    if kind == 0 and (signature is None or any(a is original for a in [signature, *signature.iterancestors()])):
        kind = 1  # the original cannot hide inside a signature it contains
    forged = copy.deepcopy(original)
    for element in _elements(forged):
        if element.text and element.text.strip():
            element.text = "forged"
            break
    if kind == 0 and signature is not None:  # classic XSW: the original hides in ds:Object, the forgery replaces it
        if original.getparent() is None:
            return flip_byte(data, choices)
        parent = original.getparent()
        index = parent.index(original)
        holder = etree.SubElement(signature, f"{{{DS_NS}}}Object")
        holder.append(original)
        parent.insert(index, forged)
    elif kind == 1:  # duplicate ID: the copy sits beside the original
        parent = original.getparent() if original.getparent() is not None else root
        parent.insert(choices.integer(0, len(parent)), forged)
    elif kind == 2:  # wrap the original in a new element
        parent = original.getparent()
        if parent is None:
            return flip_byte(data, choices)
        wrapper = etree.Element("Wrapper")
        parent.replace(original, wrapper)
        wrapper.append(original)
        wrapper.insert(0, forged)
        for attr in ("Id", "ID", "id"):
            if forged.get(attr):
                forged.set(attr, forged.get(attr, "") + "-x")
    else:  # the copy in another namespace with the same Id
        forged.tag = "{urn:evil}" + etree.QName(forged).localname
        root.append(forged)
    return Mutant(_serialize(root), f"wrapping kind {kind} around <{etree.QName(original).localname}>")


def xml_edit_attribute(data: bytes, choices: Choices) -> Mutant:
    """Change, remove or add an attribute (Id, URI, Algorithm, Target, ...)."""
    root = _tree(data)
    element = pick(choices, _elements(root))
    names = list(element.attrib.keys())
    kind = choices.integer(0, 2)
    values = [
        "",
        "#",
        "#data",
        "#xpointer(/)",
        "#xpointer(id('data'))",
        "http://127.0.0.1:9/x",
        "file:///etc/passwd",
        "data",
        "x" * 10_000,
        "http://www.w3.org/2000/09/xmldsig#sha1",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
        "http://www.w3.org/2000/09/xmldsig#base64",
        "http://www.w3.org/2001/04/xmldsig-more#md5",
        "\ud7ff\ue000",
        "&amp;",
    ]
    if kind == 0 and names:
        name = pick(choices, names)
        element.set(name, pick(choices, values))
        what = f"@{name} changed"
    elif kind == 1 and names:
        name = pick(choices, names)
        del element.attrib[name]
        what = f"@{name} removed"
    else:
        name = pick(
            choices,
            ["Id", "ID", "id", "URI", "Algorithm", "Target", "Type", "{http://www.w3.org/XML/1998/namespace}id"],
        )
        element.set(name, pick(choices, values))
        what = f"@{name} added"
    return Mutant(_serialize(root), f"<{etree.QName(element).localname}> {what}")


def xml_namespace_games(data: bytes, choices: Choices) -> Mutant:
    """Redeclare or rename namespaces: ds under another URI, default-namespace swaps, prefix shadowing."""
    kind = choices.integer(0, 4)
    if kind == 0:
        out = data.replace(b"http://www.w3.org/2000/09/xmldsig#", b"http://www.w3.org/2000/09/xmldsig#x", 1)
        return Mutant(out, "first ds namespace URI changed")
    if kind == 1:
        out = re.sub(rb"<(\w+:)?Signature\b", rb'<\1Signature xmlns="urn:evil"', data, count=1)
        return Mutant(out, "default namespace redeclared on Signature")
    if kind == 2:
        root = _tree(data)
        element = pick(choices, _elements(root))
        prefix = pick(choices, ["ds", "xades", "x", "xml"])
        uri = pick(choices, ["urn:evil", DS_NS, "http://uri.etsi.org/01903/v1.3.2#", ""])
        try:
            shadow = etree.Element(f"{{{uri}}}Shadow" if uri else "Shadow", nsmap={prefix: uri or "urn:e"})
        except ValueError:
            return Mutant(data, "namespace game not possible")
        shadow.append(etree.Element("x"))
        element.append(shadow)
        return Mutant(_serialize(root), f"element with xmlns:{prefix}={uri!r} added")
    if kind == 3:
        out = re.sub(rb"(<[A-Za-z][\w:]*)", rb'\1 xmlns:ds="urn:evil"', data, count=choices.integer(1, 3))
        return Mutant(out, "xmlns:ds rebound at the top")
    out = re.sub(rb"<ds:", b"<dx:", data, count=1)
    return Mutant(out, "one ds: prefix renamed to an undeclared one")


def xml_doctype(data: bytes, choices: Choices) -> Mutant:
    """Put a DOCTYPE in front: entity bombs, external entities, and far past the first 4 KB of comments."""
    doctypes = [
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">',
        b"<!DOCTYPE r [<!ATTLIST DLHDon Id ID #IMPLIED><!ATTLIST item Id ID #IMPLIED>]>",
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">%p;]>',
        b"<!doctype r>",
    ]
    doctype = pick(choices, doctypes)
    padding = pick(choices, [b"", b"<!--" + b"p" * 5000 + b"-->", b"<?pi " + b"q" * 5000 + b"?>", b"\n" * 5000])
    body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", data)
    prolog = b'<?xml version="1.0" encoding="UTF-8"?>\n' if choices.integer(0, 1) else b""
    out = prolog + padding + doctype + body
    if choices.integer(0, 1):
        # Use the entity inside signed text, where a resolving parser would expand it.
        out = re.sub(rb">([^<>\s]{2,})<", rb">&x;&d;\1<", out, count=1)
    return Mutant(out, f"DOCTYPE {doctype[:30]!r} after {len(padding)} bytes")


def xml_giant_base64(data: bytes, choices: Choices) -> Mutant:
    """Replace a base64 value (SignatureValue, DigestValue, certificate, time-stamp) with a giant one."""
    root = _tree(data)
    names = [
        "SignatureValue",
        "DigestValue",
        "X509Certificate",
        "EncapsulatedTimeStamp",
        "EncapsulatedX509Certificate",
        "EncapsulatedOCSPValue",
        "Modulus",
    ]
    holders = [e for e in _elements(root) if etree.QName(e).localname in names]
    if not holders:
        return flip_byte(data, choices)
    holder = pick(choices, holders)
    size = pick(choices, [4, 1_000, 100_000, 3_000_000])
    chunk = pick(choices, ["QUFB", "////", "AAAA", "MIIB", "=", "A===", "QQ=\nQQ=", "DER"])
    if chunk == "DER":
        text = base64.b64encode(der_bomb(size * 3 // 4, choices)).decode()
    else:
        text = (chunk * (size // len(chunk) + 1))[:size]
    if choices.integer(0, 1):
        text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    holder.text = text
    return Mutant(_serialize(root), f"{etree.QName(holder).localname} -> {size} base64 chars")


def xml_deep_nesting(data: bytes, choices: Choices) -> Mutant:
    """Nest elements far deeper than any document needs (inside the signature or the data)."""
    depth = pick(choices, [200, 300, 5_000, 50_000])
    opener = b"<a>" * depth
    closer = b"</a>" * depth
    where = pick(choices, [b"</SignedInfo>", b"</ds:SignedInfo>", b"</KeyInfo>", b"</ds:KeyInfo>", b"</"])
    pos = data.find(where)
    if pos < 0:
        pos = data.rfind(b"</")
    if pos < 0:
        return truncate(data, choices)
    closing = closer if choices.integer(0, 3) else b""
    return Mutant(data[:pos] + opener + closing + data[pos:], f"{depth} nested elements before {where!r}")


def xml_invalid_utf8(data: bytes, choices: Choices) -> Mutant:
    """Invalid UTF-8 in text or attributes, or an encoding declaration that lies."""
    kind = choices.integer(0, 2)
    if kind == 0:
        positions = [m.start() + 1 for m in re.finditer(rb">[^<]", data)] or [len(data) // 2]
        pos = pick(choices, positions)
        bad = pick(choices, [b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
        return Mutant(data[:pos] + bad + data[pos:], f"invalid UTF-8 {bad!r} at {pos}")
    if kind == 1:
        positions = [m.end() for m in re.finditer(rb'="', data)] or [len(data) // 2]
        pos = pick(choices, positions)
        return Mutant(data[:pos] + b"\xfe\xff" + data[pos:], f"invalid UTF-8 in an attribute at {pos}")
    encoding = pick(choices, [b"UTF-16", b"ISO-8859-1", b"EBCDIC", b"UTF-32", b"x-unknown", b"UTF-7", b""])
    body = re.sub(rb"^<\?xml[^>]*\?>", b"", data)
    return Mutant(b'<?xml version="1.0" encoding="' + encoding + b'"?>' + body, f"encoding declared {encoding!r}")


def xml_copy_signatures(data: bytes, choices: Choices) -> Mutant:
    """Repeat a whole ds:Signature element many times (each copy costs the verifier another pass)."""
    match = re.search(rb"<(\w+:)?Signature[\s>].*?</(\w+:)?Signature>", data, re.S)
    if match is None:
        return flip_byte(data, choices)
    copies = min(pick(choices, [2, 10, 100, 1_000]), 20_000_000 // len(match.group(0)))  # the harness's memory
    end = match.end()
    return Mutant(data[:end] + match.group(0) * copies + data[end:], f"{copies} copies of the Signature")


XML_MUTATORS: tuple[Mutator, ...] = (
    flip_byte,
    flip_bytes,
    truncate,
    delete_span,
    _insert_tokens(XML_TOKENS),
    xml_change_signed_text,
    xml_move_element,
    xml_wrap,
    xml_edit_attribute,
    xml_namespace_games,
    xml_doctype,
    xml_giant_base64,
    xml_deep_nesting,
    xml_invalid_utf8,
    xml_copy_signatures,
)


def mutate(data: bytes, mutators: tuple[Mutator, ...], choices: Choices, *, rounds: int = 1) -> Mutant:
    """Apply ``rounds`` mutators in turn; the result is ``signed_changed`` only if the last one says so.

    An earlier mutation could make a later "signed byte" flip land on bytes no signature covers,
    so only a single signed change is trusted for the must-not-pass check.
    """
    mutant = Mutant(data, "original")
    steps = []
    for _ in range(rounds):
        mutator = pick(choices, mutators)
        if not mutant.data:
            break
        try:
            mutant = mutator(mutant.data, choices)
        except (etree.XMLSyntaxError, ValueError):  # a tree mutator on an earlier round's broken XML
            mutant = flip_byte(mutant.data, choices)
        steps.append(mutant.what)
    return Mutant(mutant.data, "; ".join(steps), signed_changed=mutant.signed_changed and rounds == 1)
