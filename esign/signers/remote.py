"""A signer whose key lives on a remote signing service that speaks the CSC API v2 (ours or anyone's).

Only hashes leave the machine. Each signature (or batch, :meth:`RemoteSigner.sign_digests`) is
authorized with ``credentials/authorize``: with an OTP when one is given, otherwise the service asks
the user's phone, answers ``202`` with a handle and a confirmation code, and this signer polls
``credentials/authorizeCheck`` until the user has confirmed, reporting progress to a callback. Then
``signatures/signHash`` signs with the Signature Activation Data (SAD) it got.

HTTP goes through the standard library (``urllib``), so the library keeps no web dependency::

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
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos
from cryptography import x509

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme, digest_algorithm
from esign.errors import EsignError, InvalidInput, KeyAccessError, SigningError
from esign.signers.base import Signer, verify_digest_signature

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


ProgressCallback = Callable[[float, float], None]
"""``progress(elapsed_seconds, timeout_seconds)`` while waiting for the phone."""


class CscError(SigningError):
    """The CSC service refused a request; :attr:`code` is its CSC error name."""

    def __init__(self, code: str, description: str, status: int) -> None:
        super().__init__(f"the signing service refused: {code}: {description}", code=code)
        self.status = status
        self.description = description


class CscHttp:
    """A minimal CSC API client over ``urllib`` (blocking; :class:`RemoteSigner` runs it in a thread)."""

    def __init__(self, base_url: str, *, api_version: str = "v2", timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.timeout = timeout
        self.access_token: str | None = None

    def url(self, method: str) -> str:
        """The URL of a CSC method."""
        return f"{self.base_url}/csc/{self.api_version}/{method}"

    def _send(self, request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) checked
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SigningError(f"cannot reach the signing service at {self.base_url}: {exc}") from None
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"error": "invalid_response", "error_description": raw[:200].decode("utf-8", "replace")}
        if not isinstance(body, dict):
            body = {}
        if status >= 400:
            raise CscError(str(body.get("error", "http_error")), str(body.get("error_description", status)), status)
        return status, body

    def call(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST a JSON body to a CSC method with the bearer token; (status, JSON answer)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url(method), data=data, headers=headers, method="POST")  # noqa: S310
        return self._send(request)

    def login(self, client_id: str, client_secret: str, scope: str = "csc") -> str:
        """OAuth2 client-credentials grant at ``oauth2/token``; keeps and returns the access token."""
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret, "scope": scope}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url("oauth2/token"),
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        try:
            _, body = self._send(request)
        except CscError as exc:
            raise KeyAccessError(f"the signing service refused the client credentials: {exc.description}") from None
        self.access_token = str(body["access_token"])
        return self.access_token


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
    """A :class:`Signer` backed by a CSC v2 service; build it with :meth:`connect` (or :meth:`aconnect`)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        http: CscHttp,
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
        _, info = http.call("credentials/info", {"credentialID": credential_id, "certificates": "chain"})
        try:
            certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in info["cert"]["certificates"]]
            algorithms = [str(a) for a in info["key"]["algo"]]
            multisign = int(info.get("multisign", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningError(f"credentials/info answer is not usable: {exc}") from None
        if not certs:
            raise SigningError(f"credential {credential_id} has no certificate on the signing service")
        if str(info.get("key", {}).get("status", "enabled")) != "enabled":
            raise KeyAccessError(f"credential {credential_id} is disabled on the signing service")
        return cls(
            certs[0],
            certs[1:],
            http=http,
            credential_id=credential_id,
            key_algorithms=algorithms,
            multisign=multisign,
            **options,
        )

    @classmethod
    async def aconnect(cls, base_url: str, credential_id: str, **kwargs: Any) -> RemoteSigner:
        """:meth:`connect` without blocking the event loop."""
        return await asyncio.to_thread(cls.connect, base_url, credential_id, **kwargs)

    def _sign_algo(self, algorithm: SignatureAlgorithm) -> dict[str, str]:
        oid = algorithm.oid
        if self.key_algorithms and oid not in self.key_algorithms:
            raise InvalidInput(
                f"the credential does not sign with {algorithm.name} ({oid}); "
                f"it offers {', '.join(self.key_algorithms)}"
            )
        fields = {"signAlgo": oid, "hashAlgorithmOID": algorithm.digest.oid}
        if algorithm.scheme is SignatureScheme.RSA_PSS:
            fields["signAlgoParams"] = _pss_params(algorithm.digest)
        return fields

    def _current_otp(self) -> str | None:
        if callable(self.otp):
            return self.otp()
        return self.otp

    def _authorize(self, hashes: list[str], algorithm: SignatureAlgorithm) -> str:
        body: dict[str, Any] = {
            "credentialID": self.credential_id,
            "numSignatures": len(hashes),
            "hashes": hashes,
            "hashAlgorithmOID": algorithm.digest.oid,
        }
        if self.description:
            body["description"] = self.description
        if self.document_name:
            # One document per authorization of this signer; a batch of its pages' hashes shares the name.
            body["documentNames"] = [self.document_name] * len(hashes)
        code = self._current_otp()
        if code:
            body["authData"] = [{"id": "OTP", "value": code}]
        status, answer = self.http.call("credentials/authorize", body)
        if status != 202:
            return str(answer["SAD"])
        pending = PendingConfirmation(
            str(answer["authorizationID"]),
            str(answer.get("confirmationCode", "")),
            int(answer.get("expiresIn", self.timeout)),
            len(hashes),
        )
        if self.on_confirmation is not None:
            self.on_confirmation(pending)
        try:
            return self._wait_for_phone(pending)
        finally:
            if self.on_answer is not None:
                self.on_answer()

    def _wait_for_phone(self, pending: PendingConfirmation) -> str:
        started = time.monotonic()
        limit = min(self.timeout, float(pending.expires_in) + 5)
        while True:
            elapsed = time.monotonic() - started
            if self.on_progress is not None:
                self.on_progress(elapsed, limit)
            status, answer = self.http.call(
                "credentials/authorizeCheck",
                {"authorizationID": pending.authorization_id, "credentialID": self.credential_id},
            )
            if status != 202:
                return str(answer["SAD"])
            if elapsed >= limit:
                raise SigningError(f"the user did not confirm within {int(limit)} s", code="timeout")
            time.sleep(self.poll_interval)

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
        fields = self._sign_algo(algorithm)
        hashes = [base64.b64encode(d).decode() for d in digests]
        sad = self._authorize(hashes, algorithm)
        _, answer = self.http.call(
            "signatures/signHash", {"credentialID": self.credential_id, "SAD": sad, "hashes": hashes, **fields}
        )
        try:
            signatures = [base64.b64decode(s) for s in answer["signatures"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningError(f"signatures/signHash answer is not usable: {exc}") from None
        if len(signatures) != len(digests):
            raise SigningError(f"asked for {len(digests)} signatures, the service returned {len(signatures)}")
        for signature, digest in zip(signatures, digests, strict=True):
            if not verify_digest_signature(self.public_key, signature, digest, algorithm):
                raise SigningError("the signing service returned a signature that does not verify with the certificate")
        return signatures

    async def sign_digests(self, digests: Sequence[bytes], algorithm: SignatureAlgorithm | None = None) -> list[bytes]:
        """Several signatures with one confirmation (one phone prompt or one OTP)."""
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
