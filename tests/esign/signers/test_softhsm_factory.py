"""The SoftHSM2 token factory other test packages reuse (tests/softhsm.py)."""

from __future__ import annotations

import subprocess

import pytest

from esign.errors import KeyAccessError
from esign.signers.pkcs11 import PKCS11Token, find_public_key, generate_keypair
from tests.softhsm import SoftHSMToken, make_softhsm_token


def test_tokens_made_one_after_another_are_all_usable_in_this_process(softhsm_token: SoftHSMToken) -> None:
    later = [make_softhsm_token(None, user_pin="2468") for _ in range(2)]
    for token in (softhsm_token, *later):
        with token.ref.session(rw=True) as session:
            generate_keypair(session, "factory-check", kind="p256")
            assert find_public_key(session, label="factory-check").curve.name == "secp256r1"  # type: ignore[union-attr]


def test_a_subprocess_sees_the_tokens(softhsm_token: SoftHSMToken) -> None:
    listed = subprocess.run(
        ["pkcs11-tool", "--module", softhsm_token.lib_path, "--list-token-slots"],
        capture_output=True,
        text=True,
        env=softhsm_token.env,
    )
    assert listed.returncode == 0, listed.stderr
    assert softhsm_token.label in listed.stdout


def test_a_label_already_used_is_refused(softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(ValueError, match="already exists"):
        make_softhsm_token(None, softhsm_token.label)


def test_each_token_has_its_own_pin(softhsm_token: SoftHSMToken) -> None:
    other = make_softhsm_token(None, user_pin="13579")
    with pytest.raises(KeyAccessError, match="wrong PIN"):
        with PKCS11Token(label=other.label, pin=softhsm_token.user_pin, lib_path=other.lib_path).session():
            pass
