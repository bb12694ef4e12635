"""A signer whose key lives on a remote signing service that speaks the CSC API v2 (ours or anyone's).

Only hashes leave the machine. Each signature (or batch, :meth:`RemoteSigner.sign_digests`) is
authorized with ``credentials/authorize``: with an OTP when one is given, otherwise the service asks
the user's phone, answers ``202`` with a handle and a confirmation code, and this signer polls
``credentials/authorizeCheck`` until the user has confirmed, reporting progress to a callback (an
organization seal answers with the SAD at once). Then ``signatures/signHash`` signs with the
Signature Activation Data (SAD) it got.

The requests are :mod:`esign.signers.csc`'s, the one CSC client. They go through the standard library
(``urllib``, :class:`~esign.signers.csc.CscHttp`) so the library keeps no web dependency, or through
any other transport (:meth:`RemoteSigner.over`, e.g. the SDK's ``esign_client.CscClient`` on httpx)::

    return RemoteSigner.connect(
        "https://esign.example.vn", credential_id="…",
        client_id="rs_…", client_secret="…",            # or access_token="…"
        otp=lambda: input("OTP: "),                       # or None: confirm on the phone
    )
    signature = signer.sign_digest_sync(digest)

Every signature that comes back is verified against the credential's certificate before use.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos
from cryptography import x509

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme, digest_algorithm
from esign.errors import EsignError, InvalidInput, KeyAccessError, SigningError
from esign.signers.base import Signer, verify_digest_signature
from esign.signers.csc import CscCalls, CscError, CscHttp, CscTransport, ProgressCallback, wait_authorized

DEFAULT_TIMEOUT = 300.0
"""Seconds to wait for the user to confirm on the phone."""

OtpSource = str | Callable[[], str | None] | None
"""An OTP, a function asked for one (None: confirm on the phone instead), or None."""


@dataclass(frozen=True)
class PendingConfirmation:
    """The service is waiting for the user's phone: show :attr:`confirmation_code` to the user."""

    authorization_id: str
    confirmation_code: str
    expires_in: int
    """Seconds the service waits."""
    hashes: int
    """How many hashes the confirmation covers."""


def _pss_params(digest: DigestAlgorithm) -> str:
    params = algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": digest.value},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest.value}},
            "salt_length": digest.digest_size,
        }
    )
    return base64.b64encode(params.dump()).decode()


class RemoteSigner(Signer):
    """A :class:`Signer` backed by a CSC v2 service; build it with :meth:`connect`, :meth:`aconnect` or :meth:`over`."""

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        http: CscTransport,
        credential_id: str,
        key_algorithms: Sequence[str],
        multisign: int = 1,
        otp: OtpSource = None,
        on_confirmation: Callable[[PendingConfirmation], None] | None = None,
        on_progress: ProgressCallback | None = None,
        on_answer: Callable[[], None] | None = None,
        poll_interval: float = 1.0,
        timeout: float = DEFAULT_TIMEOUT,
        description: str | None = None,
        document_name: str | None = None,
    ) -> None:
        super().__init__(certificate, chain)
        self.on_answer = on_answer
        self.http = http
        """The transport the CSC requests go through."""
        self.calls = CscCalls()
        self.credential_id = credential_id
        self.key_algorithms = tuple(key_algorithms)
        self.multisign = multisign
        self.otp = otp
        self.on_confirmation = on_confirmation
        self.on_progress = on_progress
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.description = description
        self.document_name = document_name
        """The document being signed, shown on the user's phone (set it before each document; the
        service's ``documentNames`` extension). Without it the phone shows ``description`` and a count."""

    @classmethod
    def connect(
        cls,
        base_url: str,
        credential_id: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        api_version: str = "v2",
        **options: Any,
    ) -> RemoteSigner:
        """Log in (client credentials) or use ``access_token``, then read the credential's chain and algorithms.

        ``options`` go to the constructor: ``otp``, ``on_confirmation``, ``on_progress``, ``on_answer``,
        ``poll_interval``, ``timeout``, ``description``, ``document_name``.
        """
        http = CscHttp(base_url, api_version=api_version)
        if access_token:
            http.access_token = access_token
        elif client_id and client_secret:
            http.login(client_id, client_secret)
        else:
            raise InvalidInput("give client_id and client_secret, or an access_token, for the signing service")
        return cls.over(http, credential_id, **options)

    @classmethod
    def over(cls, transport: CscTransport, credential_id: str, **options: Any) -> RemoteSigner:
        """A signer whose CSC requests go through ``transport`` (anything with ``send(CscRequest)``, such as
        :class:`~esign.signers.csc.CscHttp` or the SDK's ``esign_client.CscClient``); reads the credential."""
        info = transport.send(CscCalls().credentials_info(credential_id))
        if not info.certificates:
            raise SigningError(f"credential {credential_id} has no certificate on the signing service")
        if not info.enabled:
            raise KeyAccessError(f"credential {credential_id} is disabled on the signing service")
        return cls(
            info.certificates[0],
            info.certificates[1:],
            http=transport,
            credential_id=credential_id,
            key_algorithms=info.key_algorithms,
            multisign=info.multisign,
            **options,
        )

    @classmethod
    async def aconnect(cls, base_url: str, credential_id: str, **kwargs: Any) -> RemoteSigner:
        """:meth:`connect` without blocking the event loop."""
        return await asyncio.to_thread(cls.connect, base_url, credential_id, **kwargs)

    def _sign_algo(self, algorithm: SignatureAlgorithm) -> tuple[str, str | None]:
        oid = algorithm.oid
        if self.key_algorithms and oid not in self.key_algorithms:
            raise InvalidInput(
                f"the credential does not sign with {algorithm.name} ({oid}); "
                f"it offers {', '.join(self.key_algorithms)}"
            )
        return oid, _pss_params(algorithm.digest) if algorithm.scheme is SignatureScheme.RSA_PSS else None

    def _current_otp(self) -> str | None:
        if callable(self.otp):
            return self.otp()
        return self.otp

    def _authorize(self, digests: Sequence[bytes], algorithm: SignatureAlgorithm) -> str:
        # One document per authorization of this signer; a batch of its pages' hashes shares the name.
        names = [self.document_name] * len(digests) if self.document_name else None
        request = self.calls.authorize(
            self.credential_id,
            digests,
            otp=self._current_otp(),
            hash_algorithm_oid=algorithm.digest.oid,
            description=self.description,
            document_names=names,
        )
        answer = self.http.send(request)
        if answer.sad is not None:
            return answer.sad
        pending = PendingConfirmation(
            str(answer.authorization_id),
            answer.confirmation_code or "",
            answer.expires_in or int(self.timeout),
            len(digests),
        )
        if self.on_confirmation is not None:
            self.on_confirmation(pending)
        try:
            confirmed = wait_authorized(
                self.http,
                answer,
                credential_id=self.credential_id,
                timeout=min(self.timeout, float(pending.expires_in) + 5),
                poll_interval=self.poll_interval,
                on_progress=self.on_progress,
            )
        finally:
            if self.on_answer is not None:
                self.on_answer()
        assert confirmed.sad is not None
        return confirmed.sad

    def sign_digests_blocking(
        self, digests: Sequence[bytes], algorithm: SignatureAlgorithm | None = None
    ) -> list[bytes]:
        """Authorize all ``digests`` with one confirmation, sign them in one ``signHash``, verify each."""
        algorithm = algorithm or self.algorithm()
        digest_algorithm(algorithm.digest, allow_weak=self.allow_weak)
        if not digests:
            return []
        if len(digests) > self.multisign:
            raise InvalidInput(
                f"the credential allows {self.multisign} signatures per authorization, not {len(digests)}"
            )
        for digest in digests:
            if len(digest) != algorithm.digest.digest_size:
                raise InvalidInput(f"a {algorithm.digest.value} digest is {algorithm.digest.digest_size} bytes")
        self._check_scheme(algorithm)
        sign_algo, params = self._sign_algo(algorithm)
        sad = self._authorize(digests, algorithm)
        signatures = self.http.send(
            self.calls.sign_hash(
                self.credential_id,
                sad,
                digests,
                sign_algo=sign_algo,
                hash_algorithm_oid=algorithm.digest.oid,
                sign_algo_params=params,
            )
        )
        if len(signatures) != len(digests):
            raise SigningError(f"asked for {len(digests)} signatures, the service returned {len(signatures)}")
        for signature, digest in zip(signatures, digests, strict=True):
            if not verify_digest_signature(self.public_key, signature, digest, algorithm):
                raise SigningError("the signing service returned a signature that does not verify with the certificate")
        return signatures

    async def sign_digests(self, digests: Sequence[bytes], algorithm: SignatureAlgorithm | None = None) -> list[bytes]:
        """Several signatures with one confirmation (one phone prompt or one OTP; none for a seal)."""
        return await asyncio.to_thread(self.sign_digests_blocking, list(digests), algorithm)

    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        try:
            return (await asyncio.to_thread(self.sign_digests_blocking, [digest], algorithm))[0]
        except EsignError:
            raise
        except Exception as exc:  # a broken answer must not surface as a raw traceback
            raise SigningError(f"remote signing failed: {exc.__class__.__name__}: {exc}") from None


def console_signer(
    base_url: str,
    credential_id: str | None,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    access_token: str | None = None,
    otp: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    document_name: str | None = None,
) -> RemoteSigner:
    """A :class:`RemoteSigner` for command-line use: prints the confirmation code, shows a progress bar.

    ``document_name`` (the commands pass the input file's name) is what the user's phone shows.

    Credentials default to ``$ESIGN_CLIENT_ID``/``$ESIGN_CLIENT_SECRET`` or ``$ESIGN_ACCESS_TOKEN``;
    without ``otp`` the user confirms on the phone while the bar runs. A missing ``credential_id`` is
    the command line's mistake (``--remote`` without ``--credential``): :class:`InvalidInput`.
    """
    import os

    if not credential_id:
        raise InvalidInput("--remote needs --credential ID")

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]Waiting for the phone[/] / Đang chờ xác nhận"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("confirm", total=timeout)

    def show(pending: PendingConfirmation) -> None:
        console.print(
            f"Confirm on your phone / Xác nhận trên điện thoại: [bold]{pending.confirmation_code}[/] "
            f"({pending.hashes} signature{'s' if pending.hashes > 1 else ''})"
        )
        progress.start()

    def tick(elapsed: float, total: float) -> None:
        progress.update(task, completed=elapsed, total=total)

    return RemoteSigner.connect(
        base_url,
        credential_id,
        client_id=client_id or os.environ.get("ESIGN_CLIENT_ID"),
        client_secret=client_secret or os.environ.get("ESIGN_CLIENT_SECRET"),
        access_token=access_token or os.environ.get("ESIGN_ACCESS_TOKEN"),
        otp=otp,
        on_confirmation=show,
        on_progress=tick,
        on_answer=progress.stop,
        timeout=timeout,
        document_name=document_name,
    )


__all__ = ["CscError", "CscHttp", "PendingConfirmation", "ProgressCallback", "RemoteSigner", "console_signer"]
