"""The fast hex-string reader agrees with pyHanko's on every input: same object, same position, same error."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from esign.pdf import hexstrings

_ALPHABET = b"0123456789abcdefABCDEF \n\r\t\f\x00%>gZ<("


def _outcome(reader, data: bytes) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except Exception as exc:  # compare the failure, whatever it is
        return ("error", type(exc), str(exc))
    return ("ok", type(value), bytes(value.original_bytes), stream.tell())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list(_ALPHABET)), max_size=80).map(bytes), st.binary(max_size=8))
def test_fast_reader_matches_pyhanko_on_arbitrary_input(body: bytes, after: bytes) -> None:
    data = b"<" + body + after
    assert _outcome(hexstrings.read_hex_string_from_stream, data) == _outcome(hexstrings.pyhanko_read_hex_string, data)


@pytest.mark.parametrize(
    "data",
    [
        b"<48656c6c6f>rest",
        b"<48 65\n6c\r\n6c 6f>",
        b"<4>",
        b"<>",
        b"<fe ff 00 41>",
        b"<4865%comment\n6c>",
        b"<48656c6c6f",
        b"<48x5>",
        b"<" + b"ab" * 100_000 + b">",  # longer than the read-ahead window
    ],
)
def test_fast_reader_matches_pyhanko_on_known_cases(data: bytes) -> None:
    assert _outcome(hexstrings.read_hex_string_from_stream, data) == _outcome(hexstrings.pyhanko_read_hex_string, data)


def test_pyhanko_parses_hex_strings_with_the_fast_reader_once_esign_pdf_reads_pdfs() -> None:
    import esign.pdf.context  # noqa: F401 - the import installs it; every module that opens a PDF imports it

    assert generic.read_hex_string_from_stream is hexstrings.read_hex_string_from_stream
    value = generic.read_object(io.BytesIO(b"<0102 0A>"), container_ref=None)  # type: ignore[arg-type]
    assert bytes(value.original_bytes) == b"\x01\x02\x0a"  # type: ignore[attr-defined]
