"""The CSC API v2 of an esign server (or any CSC v2 service), sync and async.

::

    from esign_client import CscClient
    with CscClient(URL, client_id=ID, client_secret=SECRET) as csc:
        info = csc.credentials_info(CREDENTIAL_ID)
        auth = csc.authorize(CREDENTIAL_ID, [digest])          # no OTP: the phone is asked
        print("Mã xác nhận:", auth.confirmation_code)
        auth = csc.wait_authorized(auth)                       # polls credentials/authorizeCheck
        [signature] = csc.sign_hash(CREDENTIAL_ID, auth.sad, [digest], sign_algo=info.key_algorithms[0])
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509

from esign_client._base import AsyncRunner, Auth, Call, SyncRunner, json_body
from esign_client.errors import ConfirmationTimeout

SHA256_OID = "2.16.840.1.101.3.4.2.1"


@dataclass(frozen=True)
class CredentialInfo:
    """``credentials/info``: the certificate chain (signer first) and what the key signs with."""

    credential_id: str
    certificates: tuple[x509.Certificate, ...]
    key_algorithms: tuple[str, ...]
    """Signature-algorithm OIDs, the usual one first."""
    scal: str
    multisign: int
    raw: dict[str, Any]

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's certificate."""
        return self.certificates[0]


@dataclass(frozen=True)
class Authorization:
    """``credentials/authorize`` / ``authorizeCheck``: a SAD, or (pending) a handle and a confirmation code."""

    sad: str | None
    expires_in: int
    authorization_id: str | None = None
    confirmation_code: str | None = None

    @property
    def pending(self) -> bool:
        """Whether the user's phone has not answered yet."""
        return self.sad is None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _authorization(response: httpx.Response) -> Authorization:
    body = json_body(response)
    if response.status_code == 202:
        return Authorization(
            None, int(body.get("expiresIn", 0)), str(body["authorizationID"]), body.get("confirmationCode")
        )
    return Authorization(str(body["SAD"]), int(body.get("expiresIn", 3600)))


def _credential_info(credential_id: str) -> Callable[[httpx.Response], CredentialInfo]:
    def parse(response: httpx.Response) -> CredentialInfo:
        body = json_body(response)
        certs = tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["cert"]["certificates"])
        return CredentialInfo(
            credential_id, certs, tuple(body["key"]["algo"]), str(body.get("SCAL", "1")), int(body["multisign"]), body
        )

    return parse


def _signatures(response: httpx.Response) -> list[bytes]:
    return [base64.b64decode(s) for s in json_body(response)["signatures"]]


class CscCalls:
    """The CSC requests, shared by the sync and async clients."""

    def __init__(self, api_version: str = "v2") -> None:
        self.prefix = f"/csc/{api_version}"

    def info(self) -> Call[dict[str, Any]]:
        """``info``."""
        return Call("POST", f"{self.prefix}/info", json_body, json={})

    def credentials_list(self, user_id: str, *, only_valid: bool = False) -> Call[list[str]]:
        """``credentials/list`` of a user."""
        return Call(
            "POST",
            f"{self.prefix}/credentials/list",
            lambda r: [str(c) for c in json_body(r)["credentialIDs"]],
            json={"userID": user_id, "onlyValid": only_valid},
        )

    def credentials_info(self, credential_id: str) -> Call[CredentialInfo]:
        """``credentials/info`` with the whole chain."""
        body = {"credentialID": credential_id, "certificates": "chain", "certInfo": True, "authInfo": True}
        return Call("POST", f"{self.prefix}/credentials/info", _credential_info(credential_id), json=body)

    def authorize(
        self,
        credential_id: str,
        hashes: Sequence[bytes],
        *,
        otp: str | None = None,
        hash_algorithm_oid: str = SHA256_OID,
        description: str | None = None,
        document_names: Sequence[str] | None = None,
    ) -> Call[Authorization]:
        """``credentials/authorize``: with ``otp`` a SAD at once; without, ``202`` and the phone is asked.

        ``description`` and ``document_names`` (one per hash; this service's extension) are what the
        user's phone shows."""
        body: dict[str, Any] = {
            "credentialID": credential_id,
            "numSignatures": len(hashes),
            "hashes": [_b64(h) for h in hashes],
            "hashAlgorithmOID": hash_algorithm_oid,
        }
        if otp:
            body["authData"] = [{"id": "OTP", "value": otp}]
        if description:
            body["description"] = description
        if document_names:
            body["documentNames"] = list(document_names)
        return Call("POST", f"{self.prefix}/credentials/authorize", _authorization, json=body, ok=(200, 202))

    def authorize_check(self, authorization_id: str) -> Call[Authorization]:
        """``credentials/authorizeCheck``."""
        return Call(
            "POST",
            f"{self.prefix}/credentials/authorizeCheck",
            lambda r: (
                Authorization(None, int(json_body(r).get("expiresIn", 0)), authorization_id)
                if r.status_code == 202
                else _authorization(r)
            ),
            json={"authorizationID": authorization_id},
            ok=(200, 202),
        )

    def extend_transaction(self, credential_id: str, sad: str) -> Call[Authorization]:
        """``credentials/extendTransaction``: a fresh SAD for the hashes not signed yet."""
        body = {"credentialID": credential_id, "SAD": sad}
        return Call("POST", f"{self.prefix}/credentials/extendTransaction", _authorization, json=body)

    def sign_hash(
        self,
        credential_id: str,
        sad: str,
        hashes: Sequence[bytes],
        *,
        sign_algo: str,
        hash_algorithm_oid: str = SHA256_OID,
    ) -> Call[list[bytes]]:
        """``signatures/signHash``."""
        body = {
            "credentialID": credential_id,
            "SAD": sad,
            "hashes": [_b64(h) for h in hashes],
            "hashAlgorithmOID": hash_algorithm_oid,
            "signAlgo": sign_algo,
        }
        return Call("POST", f"{self.prefix}/signatures/signHash", _signatures, json=body)

    def timestamp(self, digest: bytes, *, hash_algorithm_oid: str = SHA256_OID) -> Call[bytes]:
        """``signatures/timestamp``: an RFC 3161 token (DER)."""
        return Call(
            "POST",
            f"{self.prefix}/signatures/timestamp",
            lambda r: base64.b64decode(json_body(r)["timestamp"]),
            json={"hash": _b64(digest), "hashAlgo": hash_algorithm_oid},
        )


ProgressCallback = Callable[[float, float], None]
"""``progress(elapsed_seconds, timeout_seconds)`` while the phone has not answered."""


class CscClient(SyncRunner):
    """Blocking CSC client (``httpx.Client``)."""

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
        auth = Auth(client_id, client_secret, access_token, scope="csc", token_path=f"/csc/{api_version}/oauth2/token")
        super().__init__(base_url, auth, timeout=timeout, http=http)
        self.calls = CscCalls(api_version)

    def info(self) -> dict[str, Any]:
        """The service's ``info``."""
        return self.run(self.calls.info())

    def credentials_list(self, user_id: str, *, only_valid: bool = False) -> list[str]:
        """The credential ids of a user."""
        return self.run(self.calls.credentials_list(user_id, only_valid=only_valid))

    def credentials_info(self, credential_id: str) -> CredentialInfo:
        """Chain and key algorithms of a credential."""
        return self.run(self.calls.credentials_info(credential_id))

    def authorize(self, credential_id: str, hashes: Sequence[bytes], **options: Any) -> Authorization:
        """Authorize ``hashes``: with ``otp=`` at once, else pending on the phone (see :meth:`wait_authorized`)."""
        return self.run(self.calls.authorize(credential_id, hashes, **options))

    def authorize_check(self, authorization_id: str) -> Authorization:
        """Poll a pending authorization once."""
        return self.run(self.calls.authorize_check(authorization_id))

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
        return self.run(self.calls.extend_transaction(credential_id, sad))

    def sign_hash(self, credential_id: str, sad: str, hashes: Sequence[bytes], **options: Any) -> list[bytes]:
        """Signatures of ``hashes`` (``sign_algo=`` an OID from :attr:`CredentialInfo.key_algorithms`)."""
        return self.run(self.calls.sign_hash(credential_id, sad, hashes, **options))

    def timestamp(self, digest: bytes, **options: Any) -> bytes:
        """An RFC 3161 time-stamp token over ``digest``."""
        return self.run(self.calls.timestamp(digest, **options))


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
        auth = Auth(client_id, client_secret, access_token, scope="csc", token_path=f"/csc/{api_version}/oauth2/token")
        super().__init__(base_url, auth, timeout=timeout, http=http)
        self.calls = CscCalls(api_version)

    async def info(self) -> dict[str, Any]:
        """The service's ``info``."""
        return await self.run(self.calls.info())

    async def credentials_list(self, user_id: str, *, only_valid: bool = False) -> list[str]:
        """The credential ids of a user."""
        return await self.run(self.calls.credentials_list(user_id, only_valid=only_valid))

    async def credentials_info(self, credential_id: str) -> CredentialInfo:
        """Chain and key algorithms of a credential."""
        return await self.run(self.calls.credentials_info(credential_id))

    async def authorize(self, credential_id: str, hashes: Sequence[bytes], **options: Any) -> Authorization:
        """Authorize ``hashes``: with ``otp=`` at once, else pending on the phone."""
        return await self.run(self.calls.authorize(credential_id, hashes, **options))

    async def authorize_check(self, authorization_id: str) -> Authorization:
        """Poll a pending authorization once."""
        return await self.run(self.calls.authorize_check(authorization_id))

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
        return await self.run(self.calls.extend_transaction(credential_id, sad))

    async def sign_hash(self, credential_id: str, sad: str, hashes: Sequence[bytes], **options: Any) -> list[bytes]:
        """Signatures of ``hashes``."""
        return await self.run(self.calls.sign_hash(credential_id, sad, hashes, **options))

    async def timestamp(self, digest: bytes, **options: Any) -> bytes:
        """An RFC 3161 time-stamp token over ``digest``."""
        return await self.run(self.calls.timestamp(digest, **options))
