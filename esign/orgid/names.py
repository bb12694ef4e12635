"""Vietnamese names folded for search without diacritics.

People type ``quang ninh`` for ``Quảng Ninh``, and ``Đà Nẵng`` is ``da nang`` on a keyboard without
Vietnamese input. :func:`fold_vietnamese` maps both to the same key; the server's registry search
uses it on names and queries alike.
"""

from __future__ import annotations

import unicodedata

# Đ/đ is a letter of its own, not D plus a combining mark, so NFD does not split it.
_SPECIAL = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def fold_vietnamese(text: str) -> str:
    """Lower-case ``text``, drop diacritics (đ -> d) and collapse runs of white space.

    >>> fold_vietnamese("Quảng Ninh")
    'quang ninh'
    >>> fold_vietnamese("  ĐÀ   NẴNG ")
    'da nang'
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_SPECIAL))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
