"""Key sources behind one async :class:`Signer` interface.

Backends: :class:`FileSigner` (PKCS#12, PEM), ``esign.signers.pkcs11.PKCS11Signer`` (any HSM,
extra ``pkcs11``), :class:`ExternalSigner` (digest out, signature in later) and
``esign.signers.remote.RemoteSigner`` (a CSC v2 server).
"""

from esign.signers.base import Signer, run_sync, verify_digest_signature
from esign.signers.file import FileSigner, load_certificates, order_chain

__all__ = ["FileSigner", "Signer", "load_certificates", "order_chain", "run_sync", "verify_digest_signature"]
