"""Two-phase signing: the digest goes out, the signature comes back later.

The private key is elsewhere (a phone, a smart card on another machine, a remote service with a
protocol of its own). :class:`ExternalSigner` hands each digest out and waits for the signature,
either through an async ``callback(digest, algorithm) -> signature``, or, without a callback, by
publishing a :class:`SignatureRequest` that other code takes with :meth:`ExternalSigner.next_request`
and answers with :meth:`ExternalSigner.supply` or :meth:`ExternalSigner.fail`.

Nothing that comes back is trusted: every signature is verified against the certificate's public key
before it is accepted, so a wrong key, a wrong digest or a corrupted answer fails here, with a
:class:`SigningError`, and not later in a validator.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509

from esign.algorithms import SignatureAlgorithm
from esign.errors import EsignError, InvalidInput, SigningError
from esign.signers.base import Signer, verified_signature

SignatureCallback = Callable[[bytes, SignatureAlgorithm], Awaitable[bytes] | bytes]
"""``callback(digest, algorithm)`` returning the signature (ECDSA as DER or raw ``r || s``)."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a signature may take to come back by default: long enough for a person with a phone."""


@dataclass(frozen=True)
class SignatureRequest:
    """One digest waiting for its signature."""

    id: str
    """Opaque identifier to answer with (:meth:`ExternalSigner.supply` / :meth:`ExternalSigner.fail`)."""
    digest: bytes
    """The digest to sign (the DTBS hash), exactly ``algorithm.digest.digest_size`` bytes."""
    algorithm: SignatureAlgorithm
    """How to sign it: scheme and digest algorithm."""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the request was published."""


@dataclass(eq=False)
class _Pending:
    request: SignatureRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bytes]


class ExternalSigner(Signer):
    """A signer whose key is outside this process; signatures are verified before they are accepted.

    With a callback::

        async def ask_phone(digest: bytes, algorithm: SignatureAlgorithm) -> bytes: ...
        signer = ExternalSigner(certificate, callback=ask_phone)
        signature = await signer.sign_digest(digest)

    With the request queue (no callback)::

        signer = ExternalSigner(certificate, timeout=120)
        task = asyncio.create_task(signer.sign_digest(digest))
        request = await signer.next_request()          # elsewhere: send request.digest out
        signer.supply(request.id, signature)           # when the answer arrives
        signature = await task

    ``timeout`` (seconds, None for no limit) bounds how long one signature may take.
    :meth:`supply` and :meth:`fail` may be called from any thread.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        callback: SignatureCallback | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        allow_weak: bool = False,
        allow_weak_keys: bool = False,
    ) -> None:
        super().__init__(certificate, chain, allow_weak=allow_weak, allow_weak_keys=allow_weak_keys)
        if timeout is not None and timeout <= 0:
            raise InvalidInput("timeout must be positive (or None for no limit)")
        self.callback = callback
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._unclaimed: deque[str] = deque()
        self._takers: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[SignatureRequest]]] = deque()

    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        if self.callback is not None:
            return await self._sign_by_callback(digest, algorithm)
        return await self._sign_by_request(digest, algorithm)

    async def _sign_by_callback(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        assert self.callback is not None

        async def call() -> bytes:
            assert self.callback is not None
            answer = self.callback(digest, algorithm)
            if inspect.isawaitable(answer):
                answer = await answer
            return answer

        try:
            async with asyncio.timeout(self.timeout):
                signature = await call()
        except TimeoutError:
            raise SigningError(f"the external signer gave no signature within {self.timeout:g} s") from None
        except EsignError:
            raise
        except Exception as exc:
            raise SigningError(f"the external signer failed: {exc.__class__.__name__}: {exc}") from None
        return self._accept(signature, digest, algorithm)

    async def _sign_by_request(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        loop = asyncio.get_running_loop()
        request = SignatureRequest(id=uuid.uuid4().hex, digest=digest, algorithm=algorithm)
        pending = _Pending(request, loop, loop.create_future())
        with self._lock:
            self._pending[request.id] = pending
            self._publish(request.id)
        try:
            async with asyncio.timeout(self.timeout):
                return await pending.future
        except TimeoutError:
            raise SigningError(
                f"no signature was supplied for request {request.id} within {self.timeout:g} s"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(request.id, None)

    def _publish(self, request_id: str) -> None:
        """Hand a new request to a waiting taker, or queue it (called with the lock held)."""
        while self._takers:
            loop, taker = self._takers.popleft()
            if not taker.done():
                loop.call_soon_threadsafe(_deliver, taker, self._pending[request_id].request, self, request_id)
                return
        self._unclaimed.append(request_id)

    async def next_request(self, timeout: float | None = None) -> SignatureRequest:
        """Wait for the next digest to sign (oldest first); SigningError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        with self._lock:
            while self._unclaimed:
                request_id = self._unclaimed.popleft()
                if request_id in self._pending:
                    return self._pending[request_id].request
            taker: asyncio.Future[SignatureRequest] = loop.create_future()
            self._takers.append((loop, taker))
        try:
            async with asyncio.timeout(timeout):
                return await taker
        except TimeoutError:
            raise SigningError(f"no signature request arrived within {timeout:g} s") from None
        finally:
            with self._lock:
                if (loop, taker) in self._takers:
                    self._takers.remove((loop, taker))

    def pending_requests(self) -> list[SignatureRequest]:
        """Every request still waiting for its signature, oldest first (taken or not)."""
        with self._lock:
            return [p.request for p in sorted(self._pending.values(), key=lambda p: p.request.created_at)]

    def supply(self, request_id: str, signature: bytes) -> None:
        """Answer request ``request_id`` with ``signature``; it is verified first.

        A signature that does not verify against the certificate fails the request too: the
        :class:`SigningError` is raised here and by the waiting :meth:`sign_digest`.
        """
        pending = self._lookup(request_id)
        request = pending.request
        try:
            accepted = self._accept(signature, request.digest, request.algorithm)
        except SigningError as exc:
            self._settle(pending, error=exc)
            raise
        self._settle(pending, signature=accepted)

    def fail(self, request_id: str, reason: str) -> None:
        """Refuse request ``request_id`` (the user rejected, the device failed): sign_digest raises."""
        self._settle(self._lookup(request_id), error=SigningError(f"the external signer refused: {reason}"))

    def _lookup(self, request_id: str) -> _Pending:
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None or pending.future.done():
            raise InvalidInput(f"no signature request {request_id!r} is waiting (unknown, answered or expired)")
        return pending

    def _settle(self, pending: _Pending, *, signature: bytes = b"", error: SigningError | None = None) -> None:
        with self._lock:
            # Claimed now, so a second answer to the same request is refused by _lookup.
            self._pending.pop(pending.request.id, None)
        pending.loop.call_soon_threadsafe(_resolve, pending.future, signature, error)

    def _accept(self, signature: object, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """The signature as DER/bytes if it verifies against the certificate; SigningError if not."""
        if not isinstance(signature, bytes | bytearray) or not signature:
            raise SigningError(f"the external signer returned {type(signature).__name__}, not signature bytes")
        # ECDSA may come as DER or as raw r || s (WebCrypto, PKCS#11): kept in DER, whichever verifies.
        verified = verified_signature(self.public_key, bytes(signature), digest, algorithm)
        if verified is None:
            raise SigningError(
                "the signature supplied does not verify against the certificate's public key "
                f"({self.certificate.subject.rfc4514_string()}) for this digest and {algorithm.name}"
            )
        return verified


def _deliver(
    taker: asyncio.Future[SignatureRequest], request: SignatureRequest, signer: ExternalSigner, request_id: str
) -> None:
    if taker.done():
        # The taker gave up between being chosen and being called: put the request back.
        with signer._lock:
            if request_id in signer._pending:
                signer._publish(request_id)
        return
    taker.set_result(request)


def _resolve(future: asyncio.Future[bytes], signature: bytes, error: SigningError | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(signature)


__all__ = ["DEFAULT_TIMEOUT", "ExternalSigner", "SignatureCallback", "SignatureRequest"]
