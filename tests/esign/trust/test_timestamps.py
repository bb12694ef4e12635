"""RFC 3161 tokens through esign.trust.check_timestamp_token: imprint, CMS signature, TSA path."""

from __future__ import annotations

import hashlib

import pytest

from esign.errors import InvalidInput
from esign.trust import check_timestamp_token, imprint_of

from .conftest import SmallPKI


def _token(pki: SmallPKI, message: bytes) -> bytes:
    return pki.tsa.stamp(hashlib.sha256(message).digest(), "sha256").dump()


def test_a_good_token_is_valid_and_trusted(pki: SmallPKI) -> None:
    token = _token(pki, b"signed bytes")
    info = check_timestamp_token(token, imprint_of(b"signed bytes"), anchors=[pki.root.certificate])
    assert info.valid and info.trusted, info.message
    assert info.tsa == "Test TSA"
    assert info.tsa_path[-1] == pki.root.certificate.subject.rfc4514_string()
    same = check_timestamp_token(token, hashlib.sha256(b"signed bytes").digest(), anchors=[pki.root.certificate])
    assert same.valid and same.trusted


def test_a_token_over_other_data_is_not_valid(pki: SmallPKI) -> None:
    info = check_timestamp_token(
        _token(pki, b"signed bytes"), imprint_of(b"other bytes"), anchors=[pki.root.certificate]
    )
    assert not info.valid and not info.trusted and "imprint" in info.message


def test_a_tampered_token_is_not_valid(pki: SmallPKI) -> None:
    token = bytearray(_token(pki, b"signed bytes"))
    # flip a byte of the signature value at the very end of the SignerInfo
    token[-3] ^= 0x01
    info = check_timestamp_token(bytes(token), imprint_of(b"signed bytes"), anchors=[pki.root.certificate])
    assert not info.valid and not info.trusted


def test_a_token_from_an_untrusted_tsa_is_valid_but_not_trusted(pki: SmallPKI) -> None:
    info = check_timestamp_token(_token(pki, b"x"), imprint_of(b"x"), anchors=None)
    assert info.valid and not info.trusted and "NO_CERTIFICATE_CHAIN_FOUND" in info.message


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_timestamp_token(b"\x30\x03\x02\x01\x00", b"")
