"""Bounds on DER tag numbers and OID arcs for asn1crypto, which pyHanko and our time-stamp checks use.

asn1crypto (1.5.1, the latest) reads a high-tag-number identifier, and each arc of an OBJECT
IDENTIFIER, of any length: it folds every continuation octet into one Python integer, which
costs quadratic time. A CMS blob that starts with ``3F FF FF ...`` kept the verifier busy for
~5 s per 120 KB and hours for a few MB; a 100 KB arc in an algorithm OID costs ~4 s. A
signature's ``/Contents`` in a PDF or an ``EncapsulatedTimeStamp`` in XAdES is enough (found by
fuzzing, see docs/reliability.md). pyasn1 fixed the same flaws (CVE-2026-59884, CVE-2026-59885)
by refusing tag numbers and arcs longer than 20 octets; :func:`limit_der_tags` makes asn1crypto
do the same. No tag or OID any signature format uses comes near, so nothing valid is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_TAG_OCTETS = 20
"""Continuation octets allowed in a high tag number (140 bits, as pyasn1 allows)."""
MAX_ARC_OCTETS = 20
"""Octets allowed in one OID arc (140 bits; UUID-based arcs under 2.25 need 128)."""
_LONG_ARC = re.compile(rb"[\x80-\xff]{%d}" % MAX_ARC_OCTETS)

_installed = False


def limit_der_tags() -> None:
    """Make asn1crypto refuse tag numbers and OID arcs longer than 20 octets (idempotent).

    The refusal is a ``ValueError``, the error asn1crypto raises for any malformed encoding, so
    every caller's existing handling (pyHanko's, ours) applies unchanged.
    """
    global _installed
    if _installed:
        return
    from asn1crypto import core, parser

    original: Callable[..., Any] = parser._parse

    def _parse(encoded_data: bytes, data_len: int, pointer: int = 0, lengths_only: bool = False, depth: int = 0) -> Any:
        if pointer < data_len and encoded_data[pointer] & 0x1F == 0x1F:
            octets = encoded_data[pointer + 1 : pointer + 1 + MAX_TAG_OCTETS]
            if len(octets) == MAX_TAG_OCTETS and all(octet & 0x80 for octet in octets):
                raise ValueError(f"DER tag number longer than {MAX_TAG_OCTETS} octets")
        return original(encoded_data, data_len, pointer, lengths_only, depth)

    parser._parse = _parse  # parse(), peek() and the recursion inside
    core._parse = _parse  # core imported the name: Asn1Value.load()

    dotted: Callable[[Any], str] = core.ObjectIdentifier.dotted.fget

    def bounded_dotted(self: Any) -> str:
        if self._dotted is None and self.contents and _LONG_ARC.search(self.contents):
            raise ValueError(f"OID arc longer than {MAX_ARC_OCTETS} octets")
        return dotted(self)

    # .native, .map(), str() and comparisons of every OID (and RelativeOid) go through .dotted
    core.ObjectIdentifier.dotted = property(bounded_dotted)
    _installed = True
