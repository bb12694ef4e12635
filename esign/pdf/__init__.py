"""PDF signing and verification: PAdES B-B, B-T, B-LT, B-LTA on pyHanko.

Recipes: :func:`sign_pdf`, :func:`verify_pdf`, :func:`extend_pdf`; staged signing for keys that
are elsewhere: :func:`prepare` then :func:`finish` (see :mod:`esign.pdf.staged`).

The names below are imported on first use (PEP 562), so a process loads only what it calls:
``esign pdf verify`` never loads the signing code or the font subsetter (fontTools), which only a
visible signature needs. Each submodule quiets pyHanko's import itself (:mod:`esign.thirdparty`);
nothing in pyHanko is changed (hostile DER is checked before pyHanko parses it: :mod:`esign.der_limits`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from esign.pdf.adapter import PyHankoSigner
    from esign.pdf.appearance import VisibleSignature
    from esign.pdf.context import Level
    from esign.pdf.signing import async_extend_pdf, async_sign_pdf, extend_pdf, sign_pdf
    from esign.pdf.staged import PreparedSignature, async_finish, async_prepare, finish, prepare
    from esign.pdf.verify import async_verify_pdf, signed_revision, verify_pdf

# name -> the submodule holding it
_LAZY = {
    "Level": "esign.pdf.context",
    "PreparedSignature": "esign.pdf.staged",
    "PyHankoSigner": "esign.pdf.adapter",
    "VisibleSignature": "esign.pdf.appearance",
    "async_extend_pdf": "esign.pdf.signing",
    "async_finish": "esign.pdf.staged",
    "async_prepare": "esign.pdf.staged",
    "async_sign_pdf": "esign.pdf.signing",
    "async_verify_pdf": "esign.pdf.verify",
    "extend_pdf": "esign.pdf.signing",
    "finish": "esign.pdf.staged",
    "prepare": "esign.pdf.staged",
    "sign_pdf": "esign.pdf.signing",
    "signed_revision": "esign.pdf.verify",
    "verify_pdf": "esign.pdf.verify",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        # Also how `from esign.pdf import hexstrings` finds a submodule: the import system asks here first.
        raise AttributeError(f"module 'esign.pdf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Level",
    "PreparedSignature",
    "PyHankoSigner",
    "VisibleSignature",
    "async_extend_pdf",
    "async_finish",
    "async_prepare",
    "async_sign_pdf",
    "async_verify_pdf",
    "extend_pdf",
    "finish",
    "prepare",
    "sign_pdf",
    "signed_revision",
    "verify_pdf",
]
