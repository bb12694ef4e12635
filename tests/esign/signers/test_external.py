"""ExternalSigner: callback and request-queue paths; nothing unverified is accepted."""

from __future__ import annotations

import asyncio
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, SigningError
from esign.signers import ExternalSigner, FileSigner, SignatureRequest
from esign.signers.base import verify_digest_signature
from tests.esign.signers.certificates import issue_certificate

DIGEST = DigestAlgorithm.SHA256.digest(b"quyet dinh so 20/2020")


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ec_cert(ec_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return issue_certificate(ec_key.public_key(), "phone signer", ec_key)


@pytest.fixture(scope="module")
def key_holder(ec_key: ec.EllipticCurvePrivateKey, ec_cert: x509.Certificate) -> FileSigner:
    """Where the key really is (standing in for the phone or card on the other side)."""
    return FileSigner(ec_key, ec_cert)


async def test_callback_signature_is_verified_and_returned(ec_cert: x509.Certificate, key_holder: FileSigner) -> None:
    seen: list[tuple[bytes, SignatureAlgorithm]] = []

    async def phone(digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        seen.append((digest, algorithm))
        return await key_holder.sign_digest(digest, algorithm)

    signer = ExternalSigner(ec_cert, callback=phone)
    signature = await signer.sign_digest(DIGEST)
    assert seen == [(DIGEST, SignatureAlgorithm(SignatureScheme.ECDSA, DigestAlgorithm.SHA256))]
    assert verify_digest_signature(ec_cert.public_key(), signature, DIGEST, signer.algorithm())


async def test_raw_r_s_ecdsa_from_webcrypto_is_returned_as_der(
    ec_cert: x509.Certificate, key_holder: FileSigner
) -> None:
    async def webcrypto(digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        r, s = decode_dss_signature(await key_holder.sign_digest(digest, algorithm))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    signature = await ExternalSigner(ec_cert, callback=webcrypto).sign_digest(DIGEST)
    assert signature[0] == 0x30
    assert verify_digest_signature(ec_cert.public_key(), signature, DIGEST, key_holder.algorithm())


async def test_callback_with_a_signature_from_another_key_is_refused(ec_cert: x509.Certificate) -> None:
    other = ec.generate_private_key(ec.SECP256R1())

    async def wrong_key(digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        return other.sign(digest, ec.ECDSA(Prehashed(algorithm.digest.hash_object())))

    with pytest.raises(SigningError, match="does not verify against the certificate"):
        await ExternalSigner(ec_cert, callback=wrong_key).sign_digest(DIGEST)


async def test_callback_failure_becomes_signing_error(ec_cert: x509.Certificate) -> None:
    async def broken(digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        raise ConnectionError("card reader unplugged")

    with pytest.raises(SigningError, match="card reader unplugged"):
        await ExternalSigner(ec_cert, callback=broken).sign_digest(DIGEST)


async def test_slow_callback_times_out(ec_cert: x509.Certificate) -> None:
    async def never(digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        await asyncio.sleep(10)
        return b""

    with pytest.raises(SigningError, match=r"no signature within 0\.05 s"):
        await ExternalSigner(ec_cert, callback=never, timeout=0.05).sign_digest(DIGEST)


async def test_queued_request_answered_with_supply_completes_signing(
    ec_cert: x509.Certificate, key_holder: FileSigner
) -> None:
    signer = ExternalSigner(ec_cert)
    task = asyncio.create_task(signer.sign_digest(DIGEST))
    request = await signer.next_request(timeout=2)
    assert isinstance(request, SignatureRequest)
    assert request.digest == DIGEST
    assert signer.pending_requests() == [request]
    signer.supply(request.id, await key_holder.sign_digest(request.digest, request.algorithm))
    signature = await task
    assert verify_digest_signature(ec_cert.public_key(), signature, DIGEST, request.algorithm)
    assert signer.pending_requests() == []


async def test_taker_waiting_before_the_request_gets_it(ec_cert: x509.Certificate, key_holder: FileSigner) -> None:
    signer = ExternalSigner(ec_cert)
    taker = asyncio.create_task(signer.next_request(timeout=2))
    await asyncio.sleep(0)
    task = asyncio.create_task(signer.sign_digest(DIGEST))
    request = await taker
    signer.supply(request.id, await key_holder.sign_digest(request.digest, request.algorithm))
    assert verify_digest_signature(ec_cert.public_key(), await task, DIGEST, request.algorithm)


async def test_several_requests_come_out_in_order_and_each_gets_its_own_signature(
    ec_cert: x509.Certificate, key_holder: FileSigner
) -> None:
    signer = ExternalSigner(ec_cert)
    digests = [DigestAlgorithm.SHA256.digest(bytes([n])) for n in range(3)]
    tasks = [asyncio.create_task(signer.sign_digest(d)) for d in digests]
    requests = [await signer.next_request(timeout=2) for _ in digests]
    assert [r.digest for r in requests] == digests
    for request in reversed(requests):
        signer.supply(request.id, await key_holder.sign_digest(request.digest, request.algorithm))
    for digest, signature in zip(digests, await asyncio.gather(*tasks), strict=True):
        assert verify_digest_signature(ec_cert.public_key(), signature, digest, key_holder.algorithm())


async def test_supplied_bad_signature_is_refused_and_fails_the_signing(ec_cert: x509.Certificate) -> None:
    signer = ExternalSigner(ec_cert)
    task = asyncio.create_task(signer.sign_digest(DIGEST))
    request = await signer.next_request(timeout=2)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = other.sign(DIGEST, ec.ECDSA(Prehashed(DigestAlgorithm.SHA256.hash_object())))
    with pytest.raises(SigningError, match="does not verify"):
        signer.supply(request.id, forged)
    with pytest.raises(SigningError, match="does not verify"):
        await task
    with pytest.raises(InvalidInput, match="is waiting"):
        signer.supply(request.id, forged)


async def test_fail_refuses_the_request_with_the_reason(ec_cert: x509.Certificate) -> None:
    signer = ExternalSigner(ec_cert)
    task = asyncio.create_task(signer.sign_digest(DIGEST))
    request = await signer.next_request(timeout=2)
    signer.fail(request.id, "the user rejected the request")
    with pytest.raises(SigningError, match="the user rejected the request"):
        await task


async def test_unanswered_request_times_out_and_is_forgotten(ec_cert: x509.Certificate) -> None:
    signer = ExternalSigner(ec_cert, timeout=0.05)
    with pytest.raises(SigningError, match="no signature was supplied"):
        await signer.sign_digest(DIGEST)
    assert signer.pending_requests() == []
    with pytest.raises(SigningError, match="no signature request arrived"):
        await signer.next_request(timeout=0.05)


async def test_supply_from_another_thread_completes_signing(ec_cert: x509.Certificate, key_holder: FileSigner) -> None:
    signer = ExternalSigner(ec_cert)
    task = asyncio.create_task(signer.sign_digest(DIGEST))
    request = await signer.next_request(timeout=2)
    signature = await key_holder.sign_digest(request.digest, request.algorithm)
    worker = threading.Thread(target=signer.supply, args=(request.id, signature))
    worker.start()
    assert await asyncio.wait_for(task, 2) == signature
    worker.join()


async def test_unknown_request_id_is_invalid_input(ec_cert: x509.Certificate) -> None:
    with pytest.raises(InvalidInput, match="no signature request"):
        ExternalSigner(ec_cert).supply("nope", b"x")


async def test_rsa_pss_signature_from_outside_is_verified(tmp_path: object) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    holder = FileSigner(key, issue_certificate(key.public_key(), "rsa", key))
    algorithm = SignatureAlgorithm(SignatureScheme.RSA_PSS, DigestAlgorithm.SHA256)

    async def card(digest: bytes, alg: SignatureAlgorithm) -> bytes:
        return await holder.sign_digest(digest, alg)

    signer = ExternalSigner(holder.certificate, callback=card)
    signature = await signer.sign_digest(DIGEST, algorithm)
    assert verify_digest_signature(key.public_key(), signature, DIGEST, algorithm)
    with pytest.raises(SigningError, match="does not verify"):
        # A PKCS#1 v1.5 answer to a PSS request is refused.
        await ExternalSigner(
            holder.certificate, callback=lambda d, a: holder.sign_digest(d, holder.algorithm())
        ).sign_digest(DIGEST, algorithm)
