"""Bounds on DER tag numbers and OID arcs, checked before esign hands hostile DER to asn1crypto.

asn1crypto (1.5.1, the latest) reads a high-tag-number identifier, and each arc of an OBJECT
IDENTIFIER, of any length: it folds every continuation octet into one Python integer, which
costs quadratic time. A CMS blob that starts with ``3F FF FF ...`` kept the verifier busy for
~5 s per 120 KB and hours for a few MB; a 100 KB arc in an algorithm OID costs ~4 s. A
signature's ``/Contents`` in a PDF or an ``EncapsulatedTimeStamp`` in XAdES is enough (found by
fuzzing, see docs/reliability.md). pyasn1 fixed the same flaws (CVE-2026-59884, CVE-2026-59885)
by refusing tag numbers and arcs longer than 20 octets.

asn1crypto itself is left as it is (importing esign changes no other library): :func:`check_der`
walks a blob once, in linear time, before esign's own code parses it or passes it to pyHanko,
and refuses what would make asn1crypto spin.
"""

from __future__ import annotations

import re

MAX_TAG_OCTETS = 20
"""Continuation octets allowed in a high tag number (140 bits, as pyasn1 allows)."""
MAX_ARC_OCTETS = 20
"""Octets allowed in one OID arc (140 bits; UUID-based arcs under 2.25 need 128)."""
LOOSE_OCTETS = 1024
"""The bound where a blob is not certainly DER: inside a primitive value (an OCTET STRING that may
hold DER or opaque bytes) or an implicitly tagged one. Opaque bytes (a hash, a key) may by chance
look like a long tag or arc; at this length that never happens by chance, and what asn1crypto
could spend on it stays below a millisecond."""
MAX_NESTING = 8
"""Primitive values looked into (DER inside an OCTET STRING inside ...), deeper than any schema goes."""

_NOT_NESTED = frozenset({1, 2, 5, 6, 9, 10, 12, 13, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30})
"""Universal types whose value asn1crypto never parses as DER (numbers, OIDs, strings, times)."""
_OID_TAGS = frozenset({6, 13})  # OBJECT IDENTIFIER, RELATIVE-OID
_STRICT_ARC = re.compile(rb"[\x80-\xff]{%d}" % MAX_ARC_OCTETS)
_LOOSE_ARC = re.compile(rb"[\x80-\xff]{%d}" % LOOSE_OCTETS)
_MAX_DEPTH = 64

Pending = list[tuple[int, int, bool, int]]
"""Primitive values still to look into: (start, end, strict, nesting)."""


def check_der(data: bytes) -> None:
    """Refuse ``data`` when it, or DER nested in its values, has a tag number or OID arc too long to parse.

    Constructed values are walked as DER (any tag longer than :data:`MAX_TAG_OCTETS` octets, any
    universal OID arc longer than :data:`MAX_ARC_OCTETS`, is refused); a primitive value that may
    hold DER is looked into with the looser bound :data:`LOOSE_OCTETS`. Anything else malformed is
    left to the parser, which refuses it quickly. No tag or OID any signature format uses comes near
    the bounds, so nothing valid is refused.

    :raises ValueError: the error asn1crypto raises for any malformed encoding, so every caller's
        existing handling applies unchanged.
    """
    view = memoryview(data)
    pending: Pending = [(0, len(data), True, 0)]
    while pending:
        start, end, strict, nesting = pending.pop()
        _walk(view, start, end, strict, nesting, 0, pending)


def _walk(
    data: memoryview,
    pos: int,
    end: int,
    strict: bool,
    nesting: int,
    depth: int,
    pending: list[tuple[int, int, bool, int]],
) -> int:
    """Walk the values in ``data[pos:end]``; primitive values that may hold DER go to ``pending``.

    Returns where the walk stopped (``end``, or the end-of-contents octets of an indefinite length).
    """
    if depth > _MAX_DEPTH:
        if strict:  # no signature format nests anywhere near this deep
            raise ValueError(f"DER nested deeper than {_MAX_DEPTH} levels")
        return end
    tag_bound = MAX_TAG_OCTETS if strict else LOOSE_OCTETS
    while pos < end:
        first = data[pos]
        if first == 0 and pos + 1 < end and data[pos + 1] == 0:
            return pos + 2  # end-of-contents of an indefinite length (BER)
        pos += 1
        tag = first & 0x1F
        if tag == 0x1F:
            run = 0
            while pos < end and data[pos] & 0x80:
                run += 1
                pos += 1
                if run >= tag_bound:
                    raise ValueError(f"DER tag number longer than {tag_bound} octets")
            if pos >= end:
                return end
            tag = -1  # a high tag number is no universal type
            pos += 1
        if pos >= end:
            return end
        length = data[pos]
        pos += 1
        constructed = bool(first & 0x20)
        if length == 0x80:  # indefinite length (BER): only for constructed values
            if not constructed:
                return end
            pos = _walk(data, pos, end, strict, nesting, depth + 1, pending)
            continue
        if length & 0x80:
            count = length & 0x7F
            if count > 8 or pos + count > end:
                return end  # malformed: the parser refuses it
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        stop = pos + length
        if stop > end:
            return end
        universal = first & 0xC0 == 0
        if constructed:
            _walk(data, pos, stop, strict, nesting, depth + 1, pending)
        elif universal and tag in _OID_TAGS:
            arc = _STRICT_ARC if strict else _LOOSE_ARC
            if arc.search(data, pos, stop):
                raise ValueError(f"OID arc longer than {MAX_ARC_OCTETS if strict else LOOSE_OCTETS} octets")
        elif length >= 2 and not (universal and tag in _NOT_NESTED):
            if not universal and _LOOSE_ARC.search(data, pos, stop):
                raise ValueError(f"OID arc longer than {LOOSE_OCTETS} octets")  # an implicitly tagged OID
            if nesting < MAX_NESTING:
                skip = 1 if universal and tag == 3 else 0  # a BIT STRING's unused-bits octet
                pending.append((pos + skip, stop, False, nesting + 1))
        pos = stop
    return end
