"""PDF signing and verification: PAdES B-B, B-T, B-LT, B-LTA on pyHanko.

Recipes: :func:`sign_pdf`, :func:`verify_pdf`, :func:`extend_pdf`; staged signing for keys that
are elsewhere: :func:`prepare` then :func:`finish` (see :mod:`esign.pdf.staged`).
"""

from esign.thirdparty import import_pyhanko

import_pyhanko()  # before anything else loads pyHanko: its DSA import warns otherwise (esign.thirdparty)

from esign.pdf import hexstrings  # noqa: E402
from esign.pdf.adapter import PyHankoSigner  # noqa: E402
from esign.pdf.appearance import VisibleSignature  # noqa: E402
from esign.pdf.context import Level  # noqa: E402
from esign.pdf.signing import async_extend_pdf, async_sign_pdf, extend_pdf, sign_pdf  # noqa: E402
from esign.pdf.staged import PreparedSignature, async_finish, async_prepare, finish, prepare  # noqa: E402
from esign.pdf.verify import async_verify_pdf, signed_revision, verify_pdf  # noqa: E402

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

hexstrings.install()  # pyHanko parses a signature's /Contents ten times faster (esign.pdf.hexstrings)
