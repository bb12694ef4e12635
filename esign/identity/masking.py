"""Masking personal numbers in free text, for logs and the audit log.

>>> mask_personal_numbers("signed by CCCD:001203012389, old card 012345678")
'signed by CCCD:0012******89, old card 01*****78'
"""

from __future__ import annotations

import re

from esign.identity.identifiers import mask_number

# Prefixed values first (any length, so odd passports are caught), then bare 9- and 12-digit runs
# that are not part of a longer number. A 12-digit tax code is a citizen number, so MST:<12> too.
# A value already masked (followed by '*') is left alone, so masking twice changes nothing.
_PREFIXED = re.compile(
    r"(?i)\b(CCCD|CMND)(\s*[:=]\s*)([0-9]+)(?![0-9*])"
    r"|\b(HC)(\s*[:=]\s*)([A-Za-z0-9]+)(?![A-Za-z0-9*])"
    r"|\b(MST)(\s*[:=]\s*)([0-9]{12})(?![0-9])"
)
_BARE = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")


def _prefixed(match: re.Match[str]) -> str:
    # Three alternatives of three groups each: prefix, separator, value.
    for first in (1, 4, 7):
        if match.group(first) is not None:
            prefix, separator, value = match.group(first, first + 1, first + 2)
            return f"{prefix}{separator}{mask_number(value)}"
    return match.group(0)


def mask_personal_numbers(text: str) -> str:
    """Mask every personal number in ``text``: ``CCCD:``/``CMND:``/``HC:`` values, ``MST:`` with 12
    digits, and bare runs of exactly 9 or 12 digits (identity card and citizen numbers).

    Over-masking an unrelated 9-digit number is the accepted price of never leaking one.
    """
    text = _PREFIXED.sub(_prefixed, text)
    return _BARE.sub(lambda m: mask_number(m.group(0)), text)
