"""PDF signing and verification: PAdES B-B, B-T, B-LT, B-LTA on pyHanko.

Recipes: :func:`sign_pdf`, :func:`verify_pdf`, :func:`extend_pdf`; staged signing for remote keys:
:func:`prepare` then :func:`finish` (see :mod:`esign.pdf.staged`).
"""

from esign.pdf.appearance import VisibleSignature
from esign.pdf.context import Level
from esign.pdf.signing import async_extend_pdf, async_sign_pdf, extend_pdf, sign_pdf

__all__ = [
    "Level",
    "VisibleSignature",
    "async_extend_pdf",
    "async_sign_pdf",
    "extend_pdf",
    "sign_pdf",
]
