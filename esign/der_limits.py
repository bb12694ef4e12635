"""A bound on DER tag numbers for asn1crypto, which pyHanko and our time-stamp checks parse with.

asn1crypto (1.5.1, the latest) reads a high-tag-number identifier of any length: it folds every
continuation octet into one Python integer, which costs quadratic time. A CMS blob that starts
with ``1F FF FF ...`` kept the verifier busy for ~5 s per 120 KB and hours for a few MB: a
signature's ``/Contents`` in a PDF or an ``EncapsulatedTimeStamp`` in XAdES was enough (found by
fuzzing, see docs/reliability.md). pyasn1 fixed the same flaw (CVE-2026-59884) by refusing tag
numbers longer than 20 octets; :func:`limit_der_tags` makes asn1crypto do the same. No tag any
signature format uses is longer than one octet, so nothing valid is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_TAG_OCTETS = 20
"""Continuation octets allowed in a high tag number (140 bits, as pyasn1 allows)."""

_installed = False


def limit_der_tags() -> None:
    """Make asn1crypto refuse tag numbers longer than :data:`MAX_TAG_OCTETS` (idempotent).

    The refusal is a ``ValueError``, the error asn1crypto raises for any malformed encoding, so
    every caller's existing handling (pyHanko's, ours) applies unchanged.
    """
    global _installed
    if _installed:
        return
    from asn1crypto import core, parser

    original: Callable[..., Any] = parser._parse

    def _parse(encoded_data: bytes, data_len: int, pointer: int = 0, lengths_only: bool = False,
               depth: int = 0) -> Any:
        if pointer < data_len and encoded_data[pointer] & 0x1F == 0x1F:
            octets = encoded_data[pointer + 1:pointer + 1 + MAX_TAG_OCTETS]
            if len(octets) == MAX_TAG_OCTETS and all(octet & 0x80 for octet in octets):
                raise ValueError(f"DER tag number longer than {MAX_TAG_OCTETS} octets")
        return original(encoded_data, data_len, pointer, lengths_only, depth)

    parser._parse = _parse  # parse(), peek() and the recursion inside
    core._parse = _parse  # core imported the name: Asn1Value.load()
    _installed = True
