"""A faster reader for PDF hexadecimal strings, installed into pyHanko's parser.

pyHanko reads a hex string one token at a time through Python generators: about 2.5 µs per
character. A signature's ``/Contents`` is such a string of 10 000 to 100 000 characters, so merely
opening a signed PDF cost 20 ms or more, more than the rest of validating the signature (measured:
21 ms of a 32 ms ``verify_pdf`` for a one-page B-B file, see docs/benchmarks.md).

:func:`read_hex_string_from_stream` gives exactly the same result and leaves the stream at exactly
the same place: it scans ahead for the closing ``>`` with ``bytes.find`` and, when the string holds
only hex digits and PDF white space (every well-formed string), converts it with one ``unhexlify``.
Anything else — a ``%`` (which pyHanko treats as a comment), a stray character, a string cut off by
the end of the file — is handed to pyHanko's own reader from the start of the string, so errors and
their messages are pyHanko's. tests/esign/pdf/test_hexstrings.py checks the two agree on arbitrary
input.
"""

from __future__ import annotations

import binascii
import os
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE

_READ_AHEAD = 1 << 16
pyhanko_read_hex_string = generic.read_hex_string_from_stream
"""pyHanko's own reader: used for every string the fast path does not take, and by benchmarks of stock pyHanko."""


def read_hex_string_from_stream(stream: Any) -> Any:
    """Read ``<...>`` at the stream's position into a PDF string object (pyHanko's contract)."""
    start = stream.tell()
    stream.read(1)  # the opening '<'
    body = bytearray()
    ahead = 256  # most hex strings (text in content streams, IDs) are short; /Contents is long
    while True:
        chunk = stream.read(ahead)
        ahead = min(ahead * 4, _READ_AHEAD)
        end = chunk.find(b">")
        stop = chunk.find(b"%", 0, end if end >= 0 else len(chunk))
        if stop >= 0 or not chunk:
            return _slow(stream, start)
        if end >= 0:
            body += chunk[:end]
            break
        body += chunk
    digits = bytes(body).translate(None, PDF_WHITESPACE)
    if digits.translate(None, generic.HEX_DIGITS):  # something other than hex digits and white space
        return _slow(stream, start)
    stream.seek(start + 1 + len(body) + 1)  # just after the closing '>'
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def _slow(stream: Any, start: int) -> Any:
    stream.seek(start, os.SEEK_SET)
    return pyhanko_read_hex_string(stream)


def install() -> None:
    """Make pyHanko's object parser use :func:`read_hex_string_from_stream` (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream


def uninstall() -> None:
    """Give pyHanko its own reader back (to measure stock pyHanko in the same process)."""
    generic.read_hex_string_from_stream = pyhanko_read_hex_string
