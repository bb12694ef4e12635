"""esign: sign and verify PDF (PAdES) and XML (XMLDSig, XAdES) documents.

Recipes at the top (``esign.sign_pdf``, ``esign.verify_pdf``, ``esign.sign_xml``, ``esign.verify_xml``),
building blocks below them (``esign.signers``, ``esign.pki``, ``esign.orgid``, ``esign.identity``).
"""

from esign.errors import (
    EsignError,
    InvalidInput,
    KeyAccessError,
    PKIError,
    SigningError,
    VerificationError,
    WeakAlgorithm,
)

__version__ = "0.1.0"

# Recipes imported on first use, so `import esign` stays light: name -> module holding it.
_LAZY = {
    "sign_pdf": "esign.pdf",
    "verify_pdf": "esign.pdf",
    "sign_xml": "esign.xml",
    "verify_xml": "esign.xml",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'esign' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "EsignError",
    "InvalidInput",
    "KeyAccessError",
    "PKIError",
    "SigningError",
    "VerificationError",
    "WeakAlgorithm",
    "__version__",
    "sign_pdf",
    "sign_xml",
    "verify_pdf",
    "verify_xml",
]
