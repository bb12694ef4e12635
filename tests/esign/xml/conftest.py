"""Fixtures for the XML tests: signers from the dev PKI (parsed once) and sample documents."""

from __future__ import annotations

import pytest

from esign.pki import DevPKI
from esign.signers import FileSigner

INVOICE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<HDon><DLHDon Id="data"><TTChung><PBan>2.0.0</PBan><THDon>Hóa đơn giá trị gia tăng</THDon>'
    "<KHHDon>C26TAA</KHHDon><SHDon>123</SHDon><NLap>2026-11-23</NLap></TTChung>"
    "<NDHDon><NBan><Ten>Công ty A</Ten><MST>0100109106</MST></NBan><NMua><Ten>Công ty B</Ten></NMua>"
    "<TToan><TgTTTBSo>16500000</TgTTTBSo></TToan></NDHDon></DLHDon>\n</HDon>\n"
).encode()

DOCUMENT = (
    b'<?xml version="1.0"?>\n<doc xmlns="urn:example:doc" xmlns:x="urn:x" xml:lang="vi">\n'
    b'  <item Id="item-1">first <b>bold</b></item>\n  <!-- a comment -->\n'
    b'  <x:item Id="item-2">second</x:item>\n</doc>\n'
)


@pytest.fixture(scope="session")
def signers(dev_pki: DevPKI) -> dict[str, FileSigner]:
    """Every dev PKI signer, loaded once."""
    return {name: dev_pki.signer(name) for name in dev_pki.signer_names}


@pytest.fixture(scope="session")
def rsa(signers: dict[str, FileSigner]) -> FileSigner:
    return signers["person-rsa2048"]


@pytest.fixture(scope="session")
def ecdsa(signers: dict[str, FileSigner]) -> FileSigner:
    return signers["person-p256"]
