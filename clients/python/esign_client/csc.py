"""The CSC API v2 of an esign server (or any CSC v2 service), sync and async, on httpx.

The requests and answers are the library's (:mod:`esign.signers.csc`, the one CSC client); this
module sends them over httpx with a client-credentials token. A :class:`CscClient` is also a
transport for the library's :class:`~esign.signers.remote.RemoteSigner`::

    from esign_client import CscClient
    with CscClient(URL, client_id=ID, client_secret=SECRET) as csc:
        info = csc.credentials_info(CREDENTIAL_ID)
        auth = csc.authorize(CREDENTIAL_ID, [digest])          # no OTP: the phone is asked (a seal: SAD at once)
        print("Mã xác nhận:", auth.confirmation_code)
        auth = csc.wait_authorized(auth)                       # polls credentials/authorizeCheck
        [signature] = csc.sign_hash(CREDENTIAL_ID, auth.sad, [digest], sign_algo=info.key_algorithms[0])

        signer = RemoteSigner.over(csc, SEAL_ID)               # the same client under esign's signers
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx

from esign.signers.csc import SHA256_OID, Authorization, CredentialInfo, CscCalls, CscRequest, ProgressCallback
from esign_client._base import AsyncRunner, Auth, Call, SyncRunner, json_body
from esign_client.errors import ConfirmationTimeout

T = TypeVar("T")

__all__ = [
    "SHA256_OID",
    "AsyncCscClient",
    "Authorization",
    "CredentialInfo",
    "CscClient",
    "ProgressCallback",
]


def _call(prefix: str, request: CscRequest[T]) -> Call[T]:
    """The library's CSC request as one of the SDK's HTTP calls."""
    return Call(
        "POST",
        f"{prefix}/{request.method}",
        lambda response: request.parse(response.status_code, json_body(response)),
        json=request.body,
        headers=request.headers,
        ok=request.ok,
    )


def _auth(client_id: str | None, client_secret: str | None, access_token: str | None, api_version: str) -> Auth:
    return Auth(client_id, client_secret, access_token, scope="csc", token_path=f"/csc/{api_version}/oauth2/token")


class CscClient(SyncRunner):
    """Blocking CSC client (``httpx.Client``); refusals raise :class:`~esign_client.errors.ApiError`."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        api_version: str = "v2",
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url, _auth(client_id, client_secret, access_token, api_version), timeout=timeout, http=http
        )
        self.prefix = f"/csc/{api_version}"
        self.calls = CscCalls()

    def send(self, request: CscRequest[T]) -> T:
        """Send one CSC request (the transport :class:`~esign.signers.remote.RemoteSigner` uses)."""
        return self.run(_call(self.prefix, request))

    def info(self) -> dict[str, Any]:
        """The service's ``info``."""
        return self.send(self.calls.info())

    def credentials_list(self, user_id: str, *, only_valid: bool = False) -> list[str]:
        """The credential ids of a user."""
        return self.send(self.calls.credentials_list(user_id, only_valid=only_valid))

    def credentials_info(self, credential_id: str) -> CredentialInfo:
        """Chain, key algorithms, SCAL (``"1"`` for an organization seal) and multisign of a credential."""
        return self.send(self.calls.credentials_info(credential_id))

    def authorize(self, credential_id: str, hashes: Sequence[bytes], **options: Any) -> Authorization:
        """Authorize ``hashes``: with ``otp=`` at once, else pending on the phone (see :meth:`wait_authorized`);
        an organization seal's SAD comes at once. ``options``: ``otp``, ``hash_algorithm_oid``,
        ``description``, ``document_names``."""
        return self.send(self.calls.authorize(credential_id, hashes, **options))

    def authorize_check(self, authorization_id: str) -> Authorization:
        """Poll a pending authorization once."""
        return self.send(self.calls.authorize_check(authorization_id))

    def wait_authorized(
        self,
        pending: Authorization,
        *,
        timeout: float = 300.0,
        poll_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
    ) -> Authorization:
        """Poll ``authorizeCheck`` until the user confirms; :class:`ConfirmationTimeout` after ``timeout``."""
        if not pending.pending:
            return pending
        assert pending.authorization_id is not None
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(elapsed, timeout)
            result = self.authorize_check(pending.authorization_id)
            if not result.pending:
                return result
            if elapsed >= timeout:
                raise ConfirmationTimeout(f"the user did not confirm within {timeout:.0f} s")
            time.sleep(poll_interval)

    def extend_transaction(self, credential_id: str, sad: str) -> Authorization:
        """A fresh SAD for the rest of the authorized hashes."""
        return self.send(self.calls.extend_transaction(credential_id, sad))

    def sign_hash(self, credential_id: str, sad: str, hashes: Sequence[bytes], **options: Any) -> list[bytes]:
        """Signatures of ``hashes`` (``sign_algo=`` an OID from :attr:`CredentialInfo.key_algorithms`)."""
        return self.send(self.calls.sign_hash(credential_id, sad, hashes, **options))

    def timestamp(self, digest: bytes, **options: Any) -> bytes:
        """An RFC 3161 time-stamp token over ``digest``."""
        return self.send(self.calls.timestamp(digest, **options))


class AsyncCscClient(AsyncRunner):
    """The CSC client on ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        api_version: str = "v2",
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url, _auth(client_id, client_secret, access_token, api_version), timeout=timeout, http=http
        )
        self.prefix = f"/csc/{api_version}"
        self.calls = CscCalls()

    async def send(self, request: CscRequest[T]) -> T:
        """Send one CSC request."""
        return await self.run(_call(self.prefix, request))

    async def info(self) -> dict[str, Any]:
        """The service's ``info``."""
        return await self.send(self.calls.info())

    async def credentials_list(self, user_id: str, *, only_valid: bool = False) -> list[str]:
        """The credential ids of a user."""
        return await self.send(self.calls.credentials_list(user_id, only_valid=only_valid))

    async def credentials_info(self, credential_id: str) -> CredentialInfo:
        """Chain, key algorithms, SCAL and multisign of a credential."""
        return await self.send(self.calls.credentials_info(credential_id))

    async def authorize(self, credential_id: str, hashes: Sequence[bytes], **options: Any) -> Authorization:
        """Authorize ``hashes``: with ``otp=`` at once, else pending on the phone (a seal: SAD at once)."""
        return await self.send(self.calls.authorize(credential_id, hashes, **options))

    async def authorize_check(self, authorization_id: str) -> Authorization:
        """Poll a pending authorization once."""
        return await self.send(self.calls.authorize_check(authorization_id))

    async def wait_authorized(
        self,
        pending: Authorization,
        *,
        timeout: float = 300.0,
        poll_interval: float = 1.0,
        on_progress: ProgressCallback | None = None,
    ) -> Authorization:
        """Poll ``authorizeCheck`` until the user confirms; :class:`ConfirmationTimeout` after ``timeout``."""
        if not pending.pending:
            return pending
        assert pending.authorization_id is not None
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(elapsed, timeout)
            result = await self.authorize_check(pending.authorization_id)
            if not result.pending:
                return result
            if elapsed >= timeout:
                raise ConfirmationTimeout(f"the user did not confirm within {timeout:.0f} s")
            await asyncio.sleep(poll_interval)

    async def extend_transaction(self, credential_id: str, sad: str) -> Authorization:
        """A fresh SAD for the rest of the authorized hashes."""
        return await self.send(self.calls.extend_transaction(credential_id, sad))

    async def sign_hash(self, credential_id: str, sad: str, hashes: Sequence[bytes], **options: Any) -> list[bytes]:
        """Signatures of ``hashes``."""
        return await self.send(self.calls.sign_hash(credential_id, sad, hashes, **options))

    async def timestamp(self, digest: bytes, **options: Any) -> bytes:
        """An RFC 3161 time-stamp token over ``digest``."""
        return await self.send(self.calls.timestamp(digest, **options))
