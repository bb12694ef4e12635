"""XML signatures: XMLDSig (enveloped, enveloping, detached), XAdES B-B/B-T/B-LT, Vietnamese e-invoices.

Recipes: :func:`sign_xml` and :func:`verify_xml`. Staged signing for remote keys:
:func:`prepare` (returns SignedInfo's digest and a small :class:`XmlSigningState`) and
:func:`finish`. Parsing is hardened everywhere (:func:`parse_xml`).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esign.trust.fetch import http_timestamper
    from esign.xml.parsing import parse_xml
    from esign.xml.signing import (
        XmlSigningState,
        async_sign_xml,
        finish,
        prepare,
        sign_xml,
        signature_algorithm_of,
    )
    from esign.xml.verification import SignedContent, XmlVerification, verify_xml

# Each name is imported from its module on first use (PEP 562), so `esign xml sign` never loads the
# verifier and its trust engine (pyhanko-certvalidator), and nothing loads pyHanko's time-stamp client
# (esign.trust.fetch) until a time-stamp is asked for: name -> the module holding it.
_LAZY = {
    "SignedContent": "esign.xml.verification",
    "XmlSigningState": "esign.xml.signing",
    "XmlVerification": "esign.xml.verification",
    "async_sign_xml": "esign.xml.signing",
    "finish": "esign.xml.signing",
    "http_timestamper": "esign.trust.fetch",
    "parse_xml": "esign.xml.parsing",
    "prepare": "esign.xml.signing",
    "sign_xml": "esign.xml.signing",
    "signature_algorithm_of": "esign.xml.signing",
    "verify_xml": "esign.xml.verification",
}

__all__ = [
    "SignedContent",
    "XmlSigningState",
    "XmlVerification",
    "async_sign_xml",
    "finish",
    "http_timestamper",
    "parse_xml",
    "prepare",
    "sign_xml",
    "signature_algorithm_of",
    "verify_xml",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        # Also how `from esign.xml import tree` finds a submodule: the import system asks here first.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
