"""The one signer interface: sign a digest, give the certificate chain.

Where the key lives (a file, an HSM, a remote service, a person's phone) is the backend's business.
Backends implement :meth:`Signer._sign_digest`; the public :meth:`Signer.sign_digest` enforces the
algorithm policy and the digest length first, so no backend can be asked to sign nonsense.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature

from esign.algorithms import (
    DigestAlgorithm,
    SignatureAlgorithm,
    SignatureScheme,
    check_key_strength,
    default_scheme_for_key,
    digest_algorithm,
)
from esign.errors import InvalidInput, SigningError

T = TypeVar("T")


class Signer(ABC):
    """A private key somewhere, with its certificate and the issuing chain.

    ``certificate`` is the signer's own certificate; ``chain`` the CA certificates above it
    (not including ``certificate``), in order from issuer upwards.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        allow_weak: bool = False,
        allow_weak_keys: bool = False,
    ) -> None:
        check_key_strength(certificate.public_key(), allow_weak_keys=allow_weak_keys)
        self.certificate = certificate
        self.chain: tuple[x509.Certificate, ...] = tuple(chain)
        self.allow_weak = allow_weak

    @property
    def public_key(self) -> Any:
        """The public key of :attr:`certificate`."""
        return self.certificate.public_key()

    @property
    def scheme(self) -> SignatureScheme:
        """The default signature scheme for this key."""
        return default_scheme_for_key(self.public_key)

    def algorithm(self, digest: DigestAlgorithm | str = DigestAlgorithm.SHA256) -> SignatureAlgorithm:
        """The default :class:`SignatureAlgorithm` of this key with ``digest``."""
        return SignatureAlgorithm(self.scheme, digest_algorithm(digest, allow_weak=self.allow_weak))

    async def sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm | None = None) -> bytes:
        """Sign a precomputed digest (a DTBS hash); ECDSA signatures come back DER-encoded."""
        algorithm = algorithm or self.algorithm()
        digest_algorithm(algorithm.digest, allow_weak=self.allow_weak)
        if algorithm.scheme is not SignatureScheme.ED25519 and len(digest) != algorithm.digest.digest_size:
            raise InvalidInput(
                f"a {algorithm.digest.value} digest is {algorithm.digest.digest_size} bytes, got {len(digest)}"
            )
        if algorithm.scheme is SignatureScheme.ED25519:
            raise InvalidInput("Ed25519 signs whole messages, not digests; use sign()")
        self._check_scheme(algorithm)
        return await self._sign_digest(digest, algorithm)

    async def sign(self, data: bytes, algorithm: SignatureAlgorithm | None = None) -> bytes:
        """Hash ``data`` with the algorithm's digest and sign it."""
        algorithm = algorithm or self.algorithm()
        return await self.sign_digest(algorithm.digest.digest(data), algorithm)

    def sign_digest_sync(self, digest: bytes, algorithm: SignatureAlgorithm | None = None) -> bytes:
        """Blocking form of :meth:`sign_digest`, for callers without an event loop."""
        return run_sync(self.sign_digest(digest, algorithm))

    def _check_scheme(self, algorithm: SignatureAlgorithm) -> None:
        key = self.public_key
        rsa_schemes = (SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS)
        if isinstance(key, rsa.RSAPublicKey) and algorithm.scheme not in rsa_schemes:
            raise InvalidInput(f"an RSA key cannot sign with {algorithm.scheme.value}")
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm.scheme is not SignatureScheme.ECDSA:
            raise InvalidInput(f"an EC key cannot sign with {algorithm.scheme.value}")

    @abstractmethod
    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Backend hook: sign ``digest`` (already checked) with ``algorithm``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release backend resources (sessions, connections)."""


def verify_digest_signature(public_key: Any, signature: bytes, digest: bytes, algorithm: SignatureAlgorithm) -> bool:
    """Check ``signature`` over a precomputed ``digest``; True when it verifies."""
    prehashed = Prehashed(algorithm.digest.hash_object())
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, rsa_padding(algorithm), prehashed)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            return False
        else:
            return False
    except InvalidSignature:
        return False
    return True


def ecdsa_der_readings(public_key: Any, signature: bytes) -> list[bytes]:
    """The DER signatures an ECDSA ``signature`` can stand for (other keys: the signature as given).

    Accepted forms: DER, and raw ``r || s`` of the curve's size (PKCS#11, CSC and WebCrypto return
    it). The first byte cannot tell them apart: a raw ``r`` begins with 0x30 once in 256. A value is
    read as DER only if it is strict DER, and a value that is both (rarer still) gets both readings,
    for the caller to keep the one that verifies.
    """
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return [signature]
    size = (public_key.curve.key_size + 7) // 8
    readings = []
    try:
        if encode_dss_signature(*decode_dss_signature(signature)) == signature:
            readings.append(signature)
    except ValueError:
        pass
    if len(signature) == 2 * size:
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        readings.append(encode_dss_signature(r, s))
    return readings or [signature]


def verified_signature(public_key: Any, signature: bytes, digest: bytes, algorithm: SignatureAlgorithm) -> bytes | None:
    """``signature`` if it verifies over ``digest`` (ECDSA: in DER, whichever form it came in), else None."""
    for reading in ecdsa_der_readings(public_key, signature):
        if verify_digest_signature(public_key, reading, digest, algorithm):
            return reading
    return None


def rsa_padding(algorithm: SignatureAlgorithm) -> padding.AsymmetricPadding:
    """The RSA padding for ``algorithm``: PKCS#1 v1.5, or PSS with MGF1 and salt = digest length."""
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        return padding.PSS(mgf=padding.MGF1(algorithm.digest.hash_object()), salt_length=algorithm.digest.digest_size)
    return padding.PKCS1v15()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running event loop."""
    import asyncio  # here, not at module level: verifying imports this module and needs no event loop
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Inside a loop (e.g. a notebook or a sync callback in async code): run on a fresh loop in a thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def wrap_backend_error(action: str, exc: Exception) -> SigningError:
    """Turn a backend's own exception into a :class:`SigningError` that names the action."""
    return SigningError(f"{action} failed: {exc.__class__.__name__}: {exc}")
