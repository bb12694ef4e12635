"""PKCS11Signer against a real SoftHSM2 token; signatures checked by cryptography and openssl."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11err

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, KeyAccessError
from esign.signers.base import verify_digest_signature
from esign.signers.pkcs11 import (
    PKCS11Signer,
    PKCS11Token,
    find_public_key,
    generate_keypair,
    login_error,
    store_certificate,
)
from tests.softhsm import SoftHSMToken

RSA_KINDS = ("rsa2048", "rsa3072")
EC_KINDS = ("p256", "p384")
DIGESTS = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512)


def signer_for(token: SoftHSMToken, key_label: str, **kwargs: Any) -> PKCS11Signer:
    return PKCS11Signer(token.lib_path, token_label=token.label, pin=token.user_pin, key_label=key_label, **kwargs)


@pytest.fixture(scope="module")
def signers(softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]) -> Iterator[dict[str, PKCS11Signer]]:
    made = {kind: signer_for(softhsm_token, kind) for kind in token_keys}
    yield made
    for signer in made.values():
        signer.close()


@pytest.mark.parametrize("kind", RSA_KINDS)
@pytest.mark.parametrize("scheme", [SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS])
@pytest.mark.parametrize("digest_alg", DIGESTS)
async def test_rsa_key_on_token_signs_digest_that_cryptography_verifies(
    signers: dict[str, PKCS11Signer], kind: str, scheme: SignatureScheme, digest_alg: DigestAlgorithm
) -> None:
    signer = signers[kind]
    algorithm = SignatureAlgorithm(scheme, digest_alg)
    digest = digest_alg.digest(b"hop dong mua ban " + kind.encode())
    signature = await signer.sign_digest(digest, algorithm)
    assert len(signature) == signer.public_key.key_size // 8
    assert verify_digest_signature(signer.public_key, signature, digest, algorithm)
    assert not verify_digest_signature(signer.public_key, signature, digest_alg.digest(b"other"), algorithm)


@pytest.mark.parametrize("kind", EC_KINDS)
@pytest.mark.parametrize("digest_alg", DIGESTS)
async def test_ec_key_on_token_signs_der_ecdsa_that_cryptography_verifies(
    signers: dict[str, PKCS11Signer], kind: str, digest_alg: DigestAlgorithm
) -> None:
    signer = signers[kind]
    algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, digest_alg)
    digest = digest_alg.digest(b"hoa don dien tu")
    signature = await signer.sign_digest(digest, algorithm)
    assert signature[0] == 0x30, "ECDSA signatures come back DER-encoded"
    assert verify_digest_signature(signer.public_key, signature, digest, algorithm)


@pytest.mark.parametrize(
    ("kind", "scheme", "pkeyopts"),
    [
        ("rsa2048", SignatureScheme.RSA_PKCS1V15, []),
        ("rsa3072", SignatureScheme.RSA_PSS, ["rsa_padding_mode:pss", "rsa_pss_saltlen:digest"]),
        ("p256", SignatureScheme.ECDSA, []),
        ("p384", SignatureScheme.ECDSA, []),
    ],
)
def test_openssl_verifies_token_signature_over_the_document(
    signers: dict[str, PKCS11Signer], tmp_path: Path, kind: str, scheme: SignatureScheme, pkeyopts: list[str]
) -> None:
    signer = signers[kind]
    document = tmp_path / "document.xml"
    document.write_bytes(b"<HDon><DLHDon>...</DLHDon></HDon>")
    digest = DigestAlgorithm.SHA256.digest(document.read_bytes())
    signature = signer.sign_digest_sync(digest, SignatureAlgorithm(scheme, DigestAlgorithm.SHA256))
    (tmp_path / "sig.bin").write_bytes(signature)
    (tmp_path / "pub.pem").write_bytes(
        signer.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    command = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin"]
    for option in pkeyopts:
        command += ["-sigopt", option]
    result = subprocess.run([*command, "document.xml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stdout


def test_openssl_pkeyutl_verifies_pkcs1_signature_over_a_precomputed_digest(
    signers: dict[str, PKCS11Signer], tmp_path: Path
) -> None:
    signer = signers["rsa2048"]
    digest = DigestAlgorithm.SHA256.digest(b"to khai thue")
    (tmp_path / "digest.bin").write_bytes(digest)
    (tmp_path / "sig.bin").write_bytes(signer.sign_digest_sync(digest))
    (tmp_path / "cert.pem").write_bytes(signer.certificate.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-certin", "-inkey", "cert.pem", "-pkeyopt", "digest:sha256",
         "-in", "digest.bin", "-sigfile", "sig.bin"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout


def test_certificate_is_read_from_the_token_when_not_given(
    signers: dict[str, PKCS11Signer], token_keys: dict[str, x509.Certificate]
) -> None:
    for kind, certificate in token_keys.items():
        assert signers[kind].certificate == certificate


async def test_key_found_by_id_alone(softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]) -> None:
    with softhsm_token.ref.session() as session:
        (key,) = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "p256"})
        key_id = bytes(key[Attribute.ID])
    signer = PKCS11Signer(
        softhsm_token.lib_path, token_label=softhsm_token.label, pin=softhsm_token.user_pin, key_id=key_id
    )
    try:
        assert signer.certificate == token_keys["p256"]
        digest = DigestAlgorithm.SHA256.digest(b"x")
        assert verify_digest_signature(signer.public_key, await signer.sign_digest(digest), digest, signer.algorithm())
    finally:
        await signer.aclose()


def test_signer_keeps_one_session_for_all_signatures(signers: dict[str, PKCS11Signer]) -> None:
    signer = signers["p256"]
    session = signer._session
    for n in range(5):
        signer.sign_digest_sync(DigestAlgorithm.SHA256.digest(bytes([n])))
    assert signer._session is session


async def test_concurrent_signatures_on_one_session_all_verify(signers: dict[str, PKCS11Signer]) -> None:
    signer = signers["rsa2048"]
    digests = [DigestAlgorithm.SHA256.digest(str(n).encode()) for n in range(40)]
    signatures = await asyncio.gather(*(signer.sign_digest(d) for d in digests))
    algorithm = signer.algorithm()
    assert all(
        verify_digest_signature(signer.public_key, s, d, algorithm) for s, d in zip(signatures, digests, strict=True)
    )


async def test_signer_reopens_a_session_lost_underneath_it(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    signer = signer_for(softhsm_token, "p384")
    try:
        signer._session.close()  # as a token reset would
        digest = DigestAlgorithm.SHA384.digest(b"after reset")
        algorithm = signer.algorithm("sha384")
        signature = await signer.sign_digest(digest, algorithm)
        assert verify_digest_signature(signer.public_key, signature, digest, algorithm)
    finally:
        await signer.aclose()


async def test_closing_one_signer_leaves_another_on_the_same_token_working(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    first = signer_for(softhsm_token, "rsa2048")
    second = signer_for(softhsm_token, "p256")
    await first.aclose()
    digest = DigestAlgorithm.SHA256.digest(b"still logged in")
    assert verify_digest_signature(second.public_key, await second.sign_digest(digest), digest, second.algorithm())
    await second.aclose()


def test_wrong_pin_is_refused_as_key_access_error(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with pytest.raises(KeyAccessError, match="wrong PIN") as caught:
        PKCS11Signer(softhsm_token.lib_path, token_label=softhsm_token.label, pin="0000", key_label="p256")
    assert caught.value.code == "wrong_pin"


def test_wrong_pin_is_refused_even_while_the_token_is_logged_in(
    signers: dict[str, PKCS11Signer], softhsm_token: SoftHSMToken
) -> None:
    # The token itself answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN here.
    assert signers["p256"]._session is not None
    with pytest.raises(KeyAccessError, match="wrong PIN"):
        PKCS11Signer(softhsm_token.lib_path, token_label=softhsm_token.label, pin="9999", key_label="p256")


def test_absent_token_is_named_in_the_error(softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(KeyAccessError, match="no token labelled 'no-such-token'") as caught:
        PKCS11Signer(softhsm_token.lib_path, token_label="no-such-token", pin="1234", key_label="p256")
    assert softhsm_token.label in str(caught.value), "the error lists the tokens that are present"


def test_missing_key_is_a_key_access_error(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with pytest.raises(KeyAccessError, match="no private key 'absent-key'"):
        signer_for(softhsm_token, "absent-key")


def test_missing_library_is_a_key_access_error(tmp_path: Path) -> None:
    with pytest.raises(KeyAccessError, match="PKCS#11 library not found"):
        PKCS11Signer(tmp_path / "libnothing.so", token_label="t", pin="1234", key_label="k")


def test_library_that_is_not_pkcs11_is_a_key_access_error(tmp_path: Path) -> None:
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(KeyAccessError, match="cannot load PKCS#11 library"):
        PKCS11Signer(bogus, token_label="t", pin="1234", key_label="k")


def test_default_library_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ESIGN_PKCS11_LIB", str(tmp_path / "libhsm.so"))
    assert PKCS11Token(label="x").lib_path == str(tmp_path / "libhsm.so")


def test_locked_and_expired_pins_say_what_to_do() -> None:
    # SoftHSM2 never locks a PIN, so the token-side answers are fed to the mapping directly.
    locked = login_error(p11err.PinLocked(), "esign")
    assert isinstance(locked, KeyAccessError)
    assert locked.code == "pin_locked"
    assert "security officer must unblock" in str(locked)
    assert "expired" in str(login_error(p11err.PinExpired(), "esign"))
    assert "no user PIN yet" in str(login_error(p11err.UserPinNotInitialized(), "esign"))


def test_certificate_of_another_key_is_refused(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with pytest.raises(InvalidInput, match="does not match"):
        signer_for(softhsm_token, "p256", certificate=token_keys["p384"])


def test_generated_private_key_is_sensitive_and_not_extractable(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with softhsm_token.ref.session() as session:
        for kind in token_keys:
            (key,) = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: kind})
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.TOKEN] is True
            assert key[Attribute.SIGN] is True


def test_generating_a_key_under_a_used_label_is_refused(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with pytest.raises(InvalidInput, match="already exists"):
        generate_keypair(softhsm_token.ref, "p256", kind="p256")


def test_unknown_key_kind_is_refused(softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(InvalidInput, match="unknown key kind"):
        generate_keypair(softhsm_token.ref, "ed", kind="ed448")  # type: ignore[arg-type]


async def test_keypair_and_certificate_made_through_token_params_sign(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate], test_ca: Any
) -> None:
    public_key = generate_keypair(softhsm_token.ref, "made-by-params", kind="p256")
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    certificate = test_ca.issue(public_key, "made by params")
    store_certificate(softhsm_token.ref, certificate, "made-by-params")
    signer = signer_for(softhsm_token, "made-by-params")
    try:
        assert signer.certificate == certificate
        digest = DigestAlgorithm.SHA256.digest(b"z")
        assert verify_digest_signature(public_key, await signer.sign_digest(digest), digest, signer.algorithm())
    finally:
        await signer.aclose()


def test_storing_a_certificate_of_another_key_is_refused(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    with pytest.raises(InvalidInput, match="does not belong"):
        store_certificate(softhsm_token.ref, token_keys["rsa2048"], "p256")


def test_importing_esign_signers_works_without_python_pkcs11() -> None:
    code = (
        "import sys; sys.modules['pkcs11'] = None\n"
        "import esign, esign.signers\n"
        "from esign.errors import MissingExtra\n"
        "try:\n"
        "    esign.signers.PKCS11Signer\n"
        "except MissingExtra as exc:\n"
        "    print('missing', exc.extra)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": "."}
    )
    assert result.stdout.strip() == "missing pkcs11", result.stderr


async def test_signer_without_offload_signs_on_the_loop_thread(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    signer = signer_for(softhsm_token, "p256", offload=False)
    try:
        digests = [DigestAlgorithm.SHA256.digest(bytes([n])) for n in range(10)]
        signatures = await asyncio.gather(*(signer.sign_digest(d) for d in digests))
        assert all(
            verify_digest_signature(signer.public_key, s, d, signer.algorithm())
            for s, d in zip(signatures, digests, strict=True)
        )
    finally:
        await signer.aclose()


async def test_signer_logs_in_again_when_the_login_is_lost(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    first = signer_for(softhsm_token, "rsa2048")
    second = signer_for(softhsm_token, "p256")
    try:
        assert first._login is not None and first._login.anchor is not None
        first._login.anchor.close()  # C_Logout: every session of this process on the token is logged out
        for signer in (first, second):
            digest = DigestAlgorithm.SHA256.digest(b"after logout")
            signature = await signer.sign_digest(digest)
            assert verify_digest_signature(signer.public_key, signature, digest, signer.algorithm())
    finally:
        await first.aclose()
        await second.aclose()


def test_signer_survives_the_library_being_reinitialised(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    # In a child process: C_Finalize drops every session of the process, and other tests share ours.
    code = f"""
import pkcs11
from esign.algorithms import DigestAlgorithm
from esign.signers.base import verify_digest_signature
from esign.signers.pkcs11 import PKCS11Signer
signer = PKCS11Signer({softhsm_token.lib_path!r}, token_label={softhsm_token.label!r}, pin="1234", key_label="p256")
digest = DigestAlgorithm.SHA256.digest(b"x")
signer.sign_digest_sync(digest)
pkcs11.lib({softhsm_token.lib_path!r}).reinitialize()
signature = signer.sign_digest_sync(digest)
print(verify_digest_signature(signer.public_key, signature, digest, signer.algorithm()))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**softhsm_token.env, "PYTHONPATH": "."}
    )
    assert result.stdout.strip() == "True", result.stderr


def test_key_made_by_pkcs11_tool_signs_through_the_signer(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate], test_ca: Any
) -> None:
    made = subprocess.run(
        ["pkcs11-tool", "--module", softhsm_token.lib_path, "--token-label", softhsm_token.label,
         "--login", "--pin", softhsm_token.user_pin, "--keypairgen", "--key-type", "EC:prime256v1",
         "--label", "from-pkcs11-tool", "--id", "7701"],
        capture_output=True, text=True, env=softhsm_token.env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    public_key = find_public_key(softhsm_token.ref, label="from-pkcs11-tool")
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    certificate = test_ca.issue(public_key, "pkcs11-tool key")
    signer = PKCS11Signer(
        softhsm_token.lib_path,
        token_label=softhsm_token.label,
        pin=softhsm_token.user_pin,
        key_id=bytes.fromhex("7701"),
        certificate=certificate,
    )
    try:
        digest = DigestAlgorithm.SHA256.digest(b"interop")
        assert verify_digest_signature(public_key, signer.sign_digest_sync(digest), digest, signer.algorithm())
    finally:
        signer.close()


def test_public_key_read_back_matches_the_certificate(
    softhsm_token: SoftHSMToken, token_keys: dict[str, x509.Certificate]
) -> None:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for kind, certificate in token_keys.items():
        read_back = find_public_key(softhsm_token.ref, label=kind)
        assert read_back.public_bytes(*spki) == certificate.public_key().public_bytes(*spki)
    with pytest.raises(KeyAccessError, match="no single public key"):
        find_public_key(softhsm_token.ref, label="nothing-here")
