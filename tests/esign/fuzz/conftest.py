"""Seeds for the fuzz tests: valid signed PDFs and XML documents from the dev PKI, made once."""

from __future__ import annotations

import pytest

from esign.pki import DevPKI
from tests.esign.fuzz.corpus import Seeds, signed_pdfs, signed_xmls


@pytest.fixture(scope="session")
def pdf_seeds(dev_pki: DevPKI) -> Seeds:
    """Signed PDFs (B-B RSA and ECDSA, certified, B-T), each verifying TOTAL-PASSED."""
    return signed_pdfs(dev_pki)


@pytest.fixture(scope="session")
def xml_seeds(dev_pki: DevPKI) -> Seeds:
    """Signed XML (XMLDSig enveloped/enveloping, XAdES B-B/B-T, e-invoice), each TOTAL-PASSED."""
    return signed_xmls(dev_pki)


@pytest.fixture(scope="session")
def trust_root(dev_pki: DevPKI) -> bytes:
    """The dev root CA certificate (PEM), the only trust anchor."""
    return dev_pki.root_pem_path.read_bytes()


@pytest.fixture(scope="session")
def revocation_crls(dev_pki: DevPKI) -> list[bytes]:
    """The dev PKI's CRLs (issuing CA and root): revocation is required, and with them an untouched
    seed is TOTAL-PASSED offline, so a tampered input that passed would show."""
    return [dev_pki.crl(), dev_pki.root_crl()]
