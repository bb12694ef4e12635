"""PKI building blocks: CAs with Vietnamese subject conventions, CRLs, OCSP, RFC 3161 time-stamps.

Used by the dev PKI (``esign pki init``), the tests and the server's own CA/TSA/OCSP endpoints.
"""

from esign.pki.ca import CertificateAuthority, new_serial
from esign.pki.dev import DEFAULT_BASE_URL, DevPKI, create_dev_pki, load_dev_pki, pki_password
from esign.pki.keys import generate_key, load_private_key, save_private_key
from esign.pki.names import build_name
from esign.pki.revocation import OCSPResponder, Revocation, RevocationRegistry, make_crl
from esign.pki.tsa import TimeStampAuthority

__all__ = [
    "DEFAULT_BASE_URL",
    "CertificateAuthority",
    "DevPKI",
    "OCSPResponder",
    "Revocation",
    "RevocationRegistry",
    "TimeStampAuthority",
    "build_name",
    "create_dev_pki",
    "generate_key",
    "load_dev_pki",
    "load_private_key",
    "make_crl",
    "new_serial",
    "pki_password",
    "save_private_key",
]
