"""CSC fixtures: a relying system holding a ``csc`` token, and request helpers."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from esign_server.context import ServerContext

from ..conftest import Integrator, Person, register_client


@pytest.fixture
def rp(ctx: ServerContext) -> Integrator:
    """A relying system allowed on the CSC API."""
    return register_client(ctx, ["csc"], name="Hệ thống hóa đơn")


def h(text: str) -> bytes:
    """The SHA-256 of a text (a stand-in for a DTBS hash)."""
    return hashlib.sha256(text.encode()).digest()


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode()


async def csc_post(
    http: httpx.AsyncClient, rp: Integrator, method: str, body: dict[str, object], version: str = "v2"
) -> httpx.Response:
    """POST a CSC method with the relying system's token."""
    return await http.post(f"/csc/{version}/{method}", json=body, headers=rp.headers)


async def authorize_with_otp(
    http: httpx.AsyncClient, rp: Integrator, person: Person, hashes: list[bytes], code: str
) -> str:
    """``credentials/authorize`` with an OTP (v2 names); the SAD."""
    response = await csc_post(
        http,
        rp,
        "credentials/authorize",
        {
            "credentialID": person.credential_id,
            "numSignatures": len(hashes),
            "hashes": [b64(x) for x in hashes],
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "authData": [{"id": "OTP", "value": code}],
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["SAD"])
