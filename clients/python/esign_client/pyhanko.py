"""Sign PDFs with pyHanko's own ``CSCSigner`` (unmodified) through an esign server, at SCAL2.

pyHanko leaves getting the Signature Activation Data to a ``CSCAuthorizationManager``; this one
calls ``credentials/authorize`` with the hashes of the batch, with an OTP or (without) by asking the
user's phone and polling ``credentials/authorizeCheck``. With ``batch_size=N`` pyHanko collects N
documents' hashes and this manager authorizes them with one confirmation::

    async with aiohttp.ClientSession() as http:
        signer = await csc_signer(http, URL, CREDENTIAL_ID, access_token=TOKEN, batch_size=3,
                                  on_confirmation=lambda code: print("Mã xác nhận:", code))
        await asyncio.gather(*(signers.async_sign_pdf(w, meta, signer=signer, output=o) for w, o in docs))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

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

    async def _post(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = self.csc_session_info.endpoint_url(method)
        async with self.http.post(url, json=body, headers=self.auth_headers) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise SigningError(
                    f"{method} refused: {data.get('error')}: {data.get('error_description')}"
                    if isinstance(data, dict)
                    else f"{method} refused with HTTP {response.status}"
                )
            return response.status, data

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        """Authorize the batch's hashes (SCAL2); waits for the phone when no OTP is configured."""
        code = self.otp() if callable(self.otp) else self.otp
        body = self.format_csc_auth_request(hash_b64s=hash_b64s, otp=code, description=self.description)
        if self.document_names and len(self.document_names) == len(hash_b64s):
            body["documentNames"] = list(self.document_names)
        status, data = await self._post("credentials/authorize", body)
        if status != 202:
            return self.parse_csc_auth_response(data)
        if self.on_confirmation is not None:
            self.on_confirmation(str(data.get("confirmationCode", "")))
        check = {"authorizationID": data.get("authorizationID"), "credentialID": self.csc_session_info.credential_id}
        started = time.monotonic()
        while time.monotonic() - started < self.timeout:
            await asyncio.sleep(self.poll_interval)
            status, data = await self._post("credentials/authorizeCheck", check)
            if status != 202:
                return self.parse_csc_auth_response(data)
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
