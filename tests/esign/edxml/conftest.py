"""Fixtures for the edXML tests: dev PKI signers, a signed letter, a registry of the codes used."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from esign.edxml import RegistryEntry, StaticRegistry
from esign.orgid import OrgIdentifier
from esign.pki import DevPKI
from esign.signers import FileSigner

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
LETTER = SAMPLES / "cong-van.pdf"


@pytest.fixture(scope="session")
def department(dev_pki: DevPKI) -> FileSigner:
    """The signer for the envelope and the letter (an RSA person certificate of the dev PKI)."""
    return dev_pki.signer("person-rsa2048")


@pytest.fixture(scope="session")
def signed_letter(department: FileSigner) -> bytes:
    """The sample official letter, signed (PAdES B-B)."""
    from esign.pdf import sign_pdf

    signed = sign_pdf(LETTER.read_bytes(), signer=department, reason="Ký ban hành")
    assert signed is not None
    return signed


@pytest.fixture(scope="session")
def registry() -> StaticRegistry:
    """The codes the tests send between: a department, three communes, one closed code."""
    entries = [
        RegistryEntry(OrgIdentifier.parse("H49.22"), "Sở Tư pháp tỉnh Quảng Ninh"),
        RegistryEntry(OrgIdentifier.parse("H49.01"), "UBND xã A"),
        RegistryEntry(OrgIdentifier.parse("H49.02"), "UBND xã B"),
        RegistryEntry(OrgIdentifier.parse("H49.03"), "UBND xã C"),
        RegistryEntry(OrgIdentifier.parse("H49"), "UBND tỉnh Quảng Ninh"),
        RegistryEntry(OrgIdentifier.parse("H49.90"), "Đơn vị đã giải thể", status="closed", closed_on=date(2026, 1, 1)),
    ]
    return StaticRegistry(entries)


@pytest.fixture
def verify_options(dev_pki: DevPKI) -> dict[str, object]:
    """Trust the dev PKI root; revocation from its loopback OCSP/CRL service."""
    return {"trust_anchors": dev_pki.root_pem_path, "allow_fetching": True}
