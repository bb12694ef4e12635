"""Masking personal numbers in free text, for logs and the audit log.

Numbers are masked by what they are, not by length alone: values labelled ``CCCD``/``CMND``/``HC``
(and 12-digit ``MST``), and numbers standing on their own that are personal numbers — a 12-digit run
the identity module recognises as a citizen number (province code, century and birth year), or a
9-digit identity card number. A digit run inside a longer token of letters and digits (a request id
such as ``dceb19123456789094cad``, a hash, a UUID's hex) is part of that token: masking it made log
lines impossible to match to their ``X-Request-Id``.

>>> mask_personal_numbers("signed by CCCD:001203012389, old card 012345678, request dceb19123456789094cad")
'signed by CCCD:0012******89, old card 01*****78, request dceb19123456789094cad'
"""

from __future__ import annotations

import re

from esign.identity.identifiers import IdentifierError, citizen_number_info, mask_number

# Prefixed values first (any length, so odd passports are caught), then bare 9- and 12-digit runs
# that are not part of a longer number. A 12-digit tax code is a citizen number, so MST:<12> too.
# A value already masked (followed by '*') is left alone, so masking twice changes nothing.
_PREFIXED = re.compile(
    r"(?i)\b(CCCD|CMND)(\s*[:=]\s*)([0-9]+)(?![0-9*])"
    r"|\b(HC)(\s*[:=]\s*)([A-Za-z0-9]+)(?![A-Za-z0-9*])"
    r"|\b(MST)(\s*[:=]\s*)([0-9]{12})(?![0-9])"
)
# Not touching a letter, a digit or "_" on either side: a run inside such a token belongs to it.
_BARE = re.compile(r"(?<![0-9A-Za-z_])(?:[0-9]{12}|[0-9]{9})(?![0-9A-Za-z_])")


def _bare(match: re.Match[str]) -> str:
    number = match.group(0)
    if len(number) == 12:
        try:
            citizen_number_info(number)
        except IdentifierError:
            return number  # not a citizen number: an amount, a serial, an order number
    return mask_number(number)


def _prefixed(match: re.Match[str]) -> str:
    # Three alternatives of three groups each: prefix, separator, value.
    for first in (1, 4, 7):
        if match.group(first) is not None:
            prefix, separator, value = match.group(first, first + 1, first + 2)
            return f"{prefix}{separator}{mask_number(value)}"
    return match.group(0)


def mask_personal_numbers(text: str) -> str:
    """Mask every personal number in ``text``: ``CCCD:``/``CMND:``/``HC:`` values, ``MST:`` with 12
    digits, and standalone numbers that are citizen numbers (12 digits, recognised) or identity card
    numbers (9 digits). See the module note for what is left alone.

    Over-masking an unrelated standalone 9-digit number is the accepted price of never leaking a card
    number (those carry no structure to recognise).
    """
    text = _PREFIXED.sub(_prefixed, text)
    return _BARE.sub(_bare, text)
