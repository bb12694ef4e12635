"""Wire models of the CSC API, with the field names of the CSC specification (v2.0.0.2 and v1.0.4.0).

Requests accept both generations' names (``hashes``/``hash``, ``hashAlgorithmOID``/``hashAlgo``,
``authData``/``OTP``) so v1 clients such as pyHanko's ``CSCSigner`` work unchanged; unknown fields
are ignored, as the specification asks of servers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class CscBody(BaseModel):
    """Base of CSC request bodies."""

    model_config = ConfigDict(extra="ignore")

    clientData: str | None = Field(None, max_length=2000)
    """Opaque data of the client (logged, never interpreted)."""


class InfoRequest(BaseModel):
    """``info``."""

    model_config = ConfigDict(extra="ignore")

    lang: str | None = None


class CredentialsListRequest(CscBody):
    """``credentials/list``: relying systems name the user (they hold no user token)."""

    userID: str = Field(max_length=36)
    credentialInfo: bool = False
    certificates: Literal["none", "single", "chain"] = "single"
    certInfo: bool = False
    authInfo: bool = False
    onlyValid: bool = False
    maxResults: int | None = Field(None, ge=1, le=1000)
    lang: str | None = None


class CredentialsInfoRequest(CscBody):
    """``credentials/info``."""

    credentialID: str = Field(max_length=36)
    certificates: Literal["none", "single", "chain"] = "single"
    certInfo: bool = False
    authInfo: bool = False
    lang: str | None = None


class AuthDataItem(BaseModel):
    """One ``authData`` entry (v2): ``{"id": "OTP", "value": "123456"}``."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(max_length=64)
    value: str = Field(max_length=256)


class AuthorizeRequest(CscBody):
    """``credentials/authorize``: with an OTP the SAD comes back at once; without, the phone is asked."""

    credentialID: str = Field(max_length=36)
    numSignatures: int | None = Field(None, ge=1)
    hashes: list[str] | None = Field(None, max_length=10_000)
    hash: list[str] | None = Field(None, max_length=10_000)
    """v1 name of ``hashes``."""
    hashAlgorithmOID: str | None = Field(None, max_length=64)
    """Absent (v1 has no such field): the hash length tells SHA-256, SHA-384 or SHA-512."""
    authData: list[AuthDataItem] | None = None
    OTP: str | None = Field(None, max_length=16)
    """v1: the OTP."""
    PIN: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=500)
    documentNames: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(None, max_length=10_000)
    """This service's extension: the name of the document behind each hash, in order, shown on the
    user's phone beside ``description`` (without it the phone shows the description and a count)."""

    def hash_values(self) -> list[str]:
        """The hashes, whichever name carried them."""
        return list(self.hashes if self.hashes is not None else self.hash or [])

    def otp(self) -> str | None:
        """The OTP from ``authData`` (id ``OTP``) or the v1 ``OTP`` field."""
        for item in self.authData or []:
            if item.id.upper() == "OTP":
                return item.value
        return self.OTP


class AuthorizeCheckRequest(CscBody):
    """``credentials/authorizeCheck``: the handle a ``202`` from ``credentials/authorize`` gave."""

    authorizationID: str = Field(max_length=36)
    credentialID: str | None = Field(None, max_length=36)


class ExtendTransactionRequest(CscBody):
    """``credentials/extendTransaction``."""

    credentialID: str = Field(max_length=36)
    SAD: str = Field(max_length=200)
    hashes: list[str] | None = None
    hash: list[str] | None = None
    hashAlgorithmOID: str | None = None
    hashAlgo: str | None = None


class CredentialRequest(CscBody):
    """``credentials/sendOTP`` and ``credentials/getChallenge``."""

    credentialID: str = Field(max_length=36)


class SignHashRequest(CscBody):
    """``signatures/signHash``."""

    credentialID: str = Field(max_length=36)
    SAD: str = Field(max_length=200)
    hashes: list[str] | None = Field(None, max_length=10_000)
    hash: list[str] | None = Field(None, max_length=10_000)
    hashAlgorithmOID: str | None = Field(None, max_length=64)
    hashAlgo: str | None = Field(None, max_length=64)
    signAlgo: str = Field(max_length=64)
    signAlgoParams: str | None = Field(None, max_length=1000)
    operationMode: Literal["S", "A"] = "S"
    validity_period: int | None = None
    response_uri: str | None = None

    def hash_values(self) -> list[str]:
        """The hashes, whichever name carried them."""
        return list(self.hashes if self.hashes is not None else self.hash or [])


class TimestampRequest(CscBody):
    """``signatures/timestamp``: a time-stamp token over a hash, from the service's TSA."""

    hash: str = Field(max_length=200)
    hashAlgo: str | None = Field(None, max_length=64)
    hashAlgorithmOID: str | None = Field(None, max_length=64)
    nonce: str | None = Field(None, max_length=64)
    """Hexadecimal nonce to put in the token."""


class SadResponse(BaseModel):
    """A SAD and its lifetime (``credentials/authorize``, ``authorizeCheck``, ``extendTransaction``)."""

    SAD: str
    expiresIn: int


class PendingAuthorization(BaseModel):
    """``202``: the request waits on the user's phone; poll ``credentials/authorizeCheck``."""

    authorizationID: str
    status: Literal["pending"] = "pending"
    expiresIn: int
    confirmationCode: str


class SignHashResponse(BaseModel):
    """``signatures/signHash``: base64 signatures in the order of the hashes."""

    signatures: list[str]


class TimestampResponse(BaseModel):
    """``signatures/timestamp``: a base64 RFC 3161 time-stamp token."""

    timestamp: str


class ChallengeResponse(BaseModel):
    """``credentials/getChallenge``."""

    challenge: str
    expiresIn: int


class CscErrorBody(BaseModel):
    """The CSC error shape."""

    error: str
    error_description: str
