"""Key sources behind one async :class:`Signer` interface.

Backends: :class:`FileSigner` (PKCS#12, PEM), ``esign.signers.pkcs11.PKCS11Signer`` (any HSM,
extra ``pkcs11``), :class:`ExternalSigner` (digest out, signature in later) and
``esign.signers.remote.RemoteSigner`` (a CSC v2 server).
"""

from typing import Any

from esign.signers.base import Signer, run_sync, verify_digest_signature
from esign.signers.external import ExternalSigner, SignatureRequest
from esign.signers.file import FileSigner, load_certificates, order_chain

__all__ = [
    "ExternalSigner",
    "FileSigner",
    "PKCS11Signer",
    "PKCS11Token",
    "SignatureRequest",
    "Signer",
    "load_certificates",
    "order_chain",
    "run_sync",
    "verify_digest_signature",
]

_PKCS11_NAMES = ("PKCS11Signer", "PKCS11Token")


def __getattr__(name: str) -> Any:
    # PKCS#11 names load on first use, so `import esign` works without the pkcs11 extra;
    # without it, esign.signers.pkcs11 raises MissingExtra naming the extra to install.
    if name in _PKCS11_NAMES:
        from esign.signers import pkcs11

        return getattr(pkcs11, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
