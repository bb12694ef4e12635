"""Hostile bytes through esign.trust: a PathValidation, a TimestampInfo or InvalidInput — never anything else."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esign.errors import InvalidInput
from esign.trust import check_timestamp_token, validate_path

from .conftest import SmallPKI

FLIPS = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=4)


def _mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position % len(out)] ^= mask
    return bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=FLIPS)
def test_a_mutated_certificate_never_escapes_as_a_raw_exception(pki: SmallPKI, flips: list[tuple[int, int]]) -> None:
    der = _mutate(pki.bare_signer.public_bytes(Encoding.DER), flips)
    try:
        result = validate_path(der, anchors=[pki.root.certificate], intermediates=[pki.ca.certificate],
                               crls=[pki.root_crl(), pki.ca_crl()])  # fmt: skip
    except InvalidInput:
        return
    if result.passed:  # only a flip the signature does not cover (e.g. in the outer length) may pass
        assert result.path[0].public_bytes(Encoding.DER) == pki.bare_signer.public_bytes(Encoding.DER) or (
            result.path[0].tbs_certificate_bytes == pki.bare_signer.tbs_certificate_bytes
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=FLIPS)
def test_a_mutated_time_stamp_token_is_never_trusted_over_other_data(
    pki: SmallPKI, flips: list[tuple[int, int]]
) -> None:
    token = pki.tsa.stamp(hashlib.sha256(b"signed").digest(), "sha256").dump()
    mutant = _mutate(token, flips)
    try:
        info = check_timestamp_token(mutant, hashlib.sha256(b"signed").digest(), anchors=[pki.root.certificate])
    except InvalidInput:
        return
    if info.valid and info.trusted:
        # a trusted answer must still be about our data, from our TSA
        assert info.tsa == "Test TSA"
