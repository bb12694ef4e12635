"""XML signatures: XMLDSig (enveloped, enveloping, detached), XAdES B-B/B-T/B-LT, Vietnamese e-invoices.

Recipes: :func:`sign_xml` and :func:`verify_xml`. Staged signing for remote keys:
:func:`prepare` (returns SignedInfo's digest and a small :class:`XmlSigningState`) and
:func:`finish`. Parsing is hardened everywhere (:func:`parse_xml`).
"""

from typing import TYPE_CHECKING, Any

from esign.thirdparty import quiet_imports

with quiet_imports():  # verification loads pyHanko's validation code (esign.trust): quietly (esign.thirdparty)
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

if TYPE_CHECKING:
    from esign.trust.fetch import http_timestamper

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
    # The time-stamp client (pyHanko's, in esign.trust.fetch) loads on first use: verifying needs none.
    if name == "http_timestamper":
        from esign.trust.fetch import http_timestamper

        return http_timestamper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
