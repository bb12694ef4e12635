"""Sign PDFs with pyHanko's own ``CSCSigner`` (unmodified) through an esign server, at SCAL2.

pyHanko leaves getting the Signature Activation Data to a ``CSCAuthorizationManager``; this one
sends the library's CSC requests (:mod:`esign.signers.csc`, the one CSC client) over pyHanko's aiohttp
session: ``credentials/authorize`` with the hashes of the batch, with an OTP or (without) by asking the
user's phone and polling ``credentials/authorizeCheck``. With ``batch_size=N`` pyHanko collects N
documents' hashes and this manager authorizes them with one confirmation::

    async with aiohttp.ClientSession() as http:
        signer = await csc_signer(http, URL, CREDENTIAL_ID, access_token=TOKEN, batch_size=3,
                                  on_confirmation=lambda code: print("Mã xác nhận:", code))
        await asyncio.gather(*(signers.async_sign_pdf(w, meta, signer=signer, output=o) for w, o in docs))
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp

from esign.algorithms import DigestAlgorithm
from esign.signers.csc import Authorization, CscCalls, CscRequest
from esign.thirdparty import import_pyhanko

import_pyhanko()  # quietly, before the imports below (esign.thirdparty)

from pyhanko.sign.general import SigningError  # noqa: E402
from pyhanko.sign.signers.csc_signer import (  # noqa: E402
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

T = TypeVar("T")


def _digest_oid(digest: bytes) -> str:
    """The SHA-2 digest OID of a hash by its length (pyHanko hands over hashes, not their algorithm)."""
    for algorithm in (DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512):
        if algorithm.digest_size == len(digest):
            return algorithm.oid
    return DigestAlgorithm.SHA256.oid


class EsignAuthorizationManager(CSCAuthorizationManager):
    """SAD for exactly the hashes pyHanko is about to sign: by OTP, or by a confirmation on the phone."""

    def __init__(
        self,
        csc_session_info: CSCServiceSessionInfo,
        credential_info: CSCCredentialInfo,
        http: aiohttp.ClientSession,
        *,
        otp: str | Callable[[], str] | None = None,
        on_confirmation: Callable[[str], None] | None = None,
        poll_interval: float = 1.0,
        timeout: float = 300.0,
        description: str | None = None,
        document_names: list[str] | None = None,
    ) -> None:
        super().__init__(csc_session_info, credential_info)
        self.http = http
        self.otp = otp
        self.on_confirmation = on_confirmation
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.description = description
        self.document_names = document_names
        """The batch's documents in the order pyHanko signs them, shown on the user's phone (the
        service's ``documentNames`` extension); without them the phone shows the description and a count."""

    async def _send(self, request: CscRequest[T]) -> T:
        """One of the library's CSC requests (:mod:`esign.signers.csc`) over pyHanko's aiohttp session."""
        url = self.csc_session_info.endpoint_url(request.method)
        async with self.http.post(url, json=request.body, headers=self.auth_headers) as response:
            data = await response.json(content_type=None)
            if response.status not in request.ok:
                raise SigningError(
                    f"{request.method} refused: {data.get('error')}: {data.get('error_description')}"
                    if isinstance(data, dict)
                    else f"{request.method} refused with HTTP {response.status}"
                )
            return request.parse(response.status, data if isinstance(data, dict) else {})

    def _sad(self, authorization: Authorization) -> CSCAuthorizationInfo:
        return self.parse_csc_auth_response({"SAD": authorization.sad, "expiresIn": authorization.expires_in})

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        """Authorize the batch's hashes (SCAL2; an organization seal answers at once); waits for the phone
        when no OTP is configured."""
        code = self.otp() if callable(self.otp) else self.otp
        names = self.document_names if self.document_names and len(self.document_names) == len(hash_b64s) else None
        calls = CscCalls()
        digests = [base64.b64decode(h) for h in hash_b64s]
        answer = await self._send(
            calls.authorize(
                self.csc_session_info.credential_id,
                digests,
                otp=code,
                hash_algorithm_oid=_digest_oid(digests[0] if digests else b""),
                description=self.description,
                document_names=names,
            )
        )
        if not answer.pending:
            return self._sad(answer)
        if self.on_confirmation is not None:
            self.on_confirmation(answer.confirmation_code or "")
        assert answer.authorization_id is not None
        check = calls.authorize_check(answer.authorization_id, self.csc_session_info.credential_id)
        started = time.monotonic()
        while time.monotonic() - started < self.timeout:
            await asyncio.sleep(self.poll_interval)
            answer = await self._send(check)
            if not answer.pending:
                return self._sad(answer)
        raise SigningError(f"the user did not confirm within {self.timeout:.0f} s")


async def csc_signer(
    http: aiohttp.ClientSession,
    base_url: str,
    credential_id: str,
    *,
    access_token: str,
    api_version: str = "v1",
    batch_size: int = 1,
    **manager_options: Any,
) -> CSCSigner:
    """A pyHanko ``CSCSigner`` for ``credential_id`` on an esign server, with :class:`EsignAuthorizationManager`."""
    info = CSCServiceSessionInfo(base_url.rstrip("/"), credential_id, oauth_token=access_token, api_ver=api_version)
    credential = await fetch_certs_in_csc_credential(http, info)
    manager = EsignAuthorizationManager(info, credential, http, **manager_options)
    return CSCSigner(http, manager, batch_size=batch_size)
