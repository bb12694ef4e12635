"""Forged PDFs for the attack tests (tests/esign/pdf/test_attacks.py and the server's /api/verify tests):
redefinitions of the page content appended after the signed revision in the ways repairing readers accept."""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils.reader import PdfFileReader

FORGED = b"BT /F1 24 Tf 72 720 Td (Amount 999 1) Tj ET"


def content_number(data: bytes) -> int:
    page = PdfFileReader(io.BytesIO(data)).root["/Pages"]["/Kids"][0].get_object()
    return int(page.raw_get("/Contents").idnum)


def body(number: int, content: bytes = FORGED) -> bytes:
    return b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(content)) + content + b"\nendstream\nendobj\n"


def startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def tails(data: bytes) -> dict[str, bytes]:
    """The ways to append a redefinition of the page content after the last %%EOF."""
    n = content_number(data)
    return {
        "startxref 0, no %%EOF": data + body(n) + b"startxref\n0\n",
        "startxref 0 and %%EOF": data + body(n) + b"startxref\n0\n%%EOF\n",
        "points back to the signed xref": data + body(n) + b"startxref\n%d\n%%%%EOF\n" % startxref(data),
        "more than 1 KB, no %%EOF": data + body(n, FORGED + b" " * 1500) + b"startxref\n0\n",
        "bare body": data + body(n),
    }


def hand_update(data: bytes, objects: dict[int, bytes], *, hidden: bytes = b"") -> bytes:
    """An incremental update written by hand: ``objects`` listed in a proper xref, ``hidden`` bytes
    placed before them and listed nowhere (what a repairing reader could pick up)."""
    reader = PdfFileReader(io.BytesIO(data))
    size = int(reader.trailer_view["/Size"])
    root = reader.trailer_view.raw_get("/Root")
    out = bytearray(data) + hidden
    offsets = {}
    for number, text in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + text + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for number in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        max(size, max(objects) + 1),
        root.idnum,
        startxref(data),
        xref,
    )
    return bytes(out)
