"""Key sources behind one async :class:`Signer` interface.

Backends: :class:`FileSigner` (PKCS#12, PEM), ``esign.signers.pkcs11.PKCS11Signer`` (any HSM,
extra ``pkcs11``), :class:`ExternalSigner` (digest out, signature in later) and
``esign.signers.remote.RemoteSigner`` (a CSC v2 server).
"""

from typing import TYPE_CHECKING, Any

from esign.signers.base import Signer, run_sync, verify_digest_signature
from esign.signers.file import FileSigner, load_certificates, order_chain

if TYPE_CHECKING:
    from esign.signers.external import ExternalSigner, SignatureRequest

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
_EXTERNAL_NAMES = ("ExternalSigner", "SignatureRequest")


def __getattr__(name: str) -> Any:
    # PKCS#11 names load on first use, so `import esign` works without the pkcs11 extra;
    # without it, esign.signers.pkcs11 raises MissingExtra naming the extra to install.
    if name in _PKCS11_NAMES:
        from esign.signers import pkcs11

        return getattr(pkcs11, name)
    # The external signer needs asyncio (~30 ms to import); a process that only verifies does not.
    if name in _EXTERNAL_NAMES:
        from esign.signers import external

        return getattr(external, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
