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

__all__ = [
    "EsignError",
    "InvalidInput",
    "KeyAccessError",
    "PKIError",
    "SigningError",
    "VerificationError",
    "WeakAlgorithm",
    "__version__",
]
