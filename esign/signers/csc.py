"""The CSC API v2 client: every request and answer of the protocol, once, whatever carries the HTTP.

:class:`CscCalls` builds each request (:class:`CscRequest`: the method, its JSON body, how to read
the answer); a *transport* sends it. :class:`CscHttp` is the library's own transport on the standard
library (``urllib``: ``esign`` keeps no web dependency); the SDK (``esign_client.CscClient``) sends the
same requests over httpx, sync or async. :class:`~esign.signers.remote.RemoteSigner` signs through
any transport with a ``send`` method::

    http = CscHttp("https://esign.example.vn")
    http.login(CLIENT_ID, CLIENT_SECRET)
    calls = CscCalls()
    info = http.send(calls.credentials_info(CREDENTIAL_ID))
    auth = http.send(calls.authorize(CREDENTIAL_ID, [digest]))        # an organization seal: SAD at once
    [signature] = http.send(calls.sign_hash(CREDENTIAL_ID, auth.sad, [digest], sign_algo=info.key_algorithms[0]))
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from cryptography import x509

from esign.errors import InvalidInput, KeyAccessError, SigningError

T = TypeVar("T")
SHA256_OID = "2.16.840.1.101.3.4.2.1"

ProgressCallback = Callable[[float, float], None]
"""``progress(elapsed_seconds, timeout_seconds)`` while waiting for the phone."""


class CscError(SigningError):
    """The CSC service refused a request; :attr:`code` is its CSC error name, :attr:`status` the HTTP status."""

    def __init__(self, code: str, description: str, status: int) -> None:
        super().__init__(f"the signing service refused: {code}: {description}", code=code)
        self.status = status
        self.description = description


@dataclass(frozen=True)
class CredentialInfo:
    """``credentials/info``: the certificate chain (signer first) and what the key signs with."""

    credential_id: str
    certificates: tuple[x509.Certificate, ...]
    key_algorithms: tuple[str, ...]
    """Signature-algorithm OIDs, the usual one first."""
    scal: str
    """``"2"``: a person confirms each authorization; ``"1"``: an organization seal (no person)."""
    multisign: int
    """Most hashes one authorization may cover."""
    enabled: bool
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


@dataclass(frozen=True)
class CscRequest(Generic[T]):
    """One CSC method call: its name (``credentials/authorize``), JSON body, and how to read the answer."""

    method: str
    body: dict[str, Any]
    parse: Callable[[int, dict[str, Any]], T]
    """``parse(http_status, json_body)``."""
    ok: tuple[int, ...] = (200,)
    """The HTTP statuses that are answers (others are refusals: :class:`CscError`)."""
    headers: dict[str, str] = field(default_factory=dict)


class CscTransport(Protocol):
    """Anything that sends a :class:`CscRequest` to a CSC service and returns the parsed answer."""

    def send(self, request: CscRequest[T]) -> T:
        """Send ``request``; its parsed answer, or an :class:`~esign.errors.EsignError` on a refusal."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unusable(method: str, exc: Exception) -> SigningError:
    return SigningError(f"{method} answer is not usable: {exc.__class__.__name__}: {exc}")


def parse_authorization(status: int, body: dict[str, Any]) -> Authorization:
    """A ``credentials/authorize`` answer: ``202`` pending on the phone, else the SAD."""
    try:
        if status == 202:
            return Authorization(
                None,
                int(body.get("expiresIn", 0)),
                str(body["authorizationID"]),
                str(body["confirmationCode"]) if body.get("confirmationCode") is not None else None,
            )
        return Authorization(str(body["SAD"]), int(body.get("expiresIn", 3600)))
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable("credentials/authorize", exc) from None


def _credential_info(credential_id: str) -> Callable[[int, dict[str, Any]], CredentialInfo]:
    def parse(status: int, body: dict[str, Any]) -> CredentialInfo:
        try:
            certs = tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["cert"]["certificates"])
            return CredentialInfo(
                credential_id,
                certs,
                tuple(str(a) for a in body["key"]["algo"]),
                str(body.get("SCAL", "1")),
                int(body.get("multisign", 1)),
                str(body.get("key", {}).get("status", "enabled")) == "enabled",
                body,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _unusable("credentials/info", exc) from None

    return parse


def _signatures(status: int, body: dict[str, Any]) -> list[bytes]:
    try:
        return [base64.b64decode(s) for s in body["signatures"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable("signatures/signHash", exc) from None


class CscCalls:
    """The CSC v2 requests (v1 field names are accepted by our server too)."""

    def info(self) -> CscRequest[dict[str, Any]]:
        """``info``."""
        return CscRequest("info", {}, lambda status, body: body)

    def credentials_list(self, user_id: str, *, only_valid: bool = False) -> CscRequest[list[str]]:
        """``credentials/list`` of a user."""
        return CscRequest(
            "credentials/list",
            {"userID": user_id, "onlyValid": only_valid},
            lambda status, body: [str(c) for c in body["credentialIDs"]],
        )

    def credentials_info(self, credential_id: str) -> CscRequest[CredentialInfo]:
        """``credentials/info`` with the whole chain."""
        body = {"credentialID": credential_id, "certificates": "chain", "certInfo": True, "authInfo": True}
        return CscRequest("credentials/info", body, _credential_info(credential_id))

    def authorize(
        self,
        credential_id: str,
        hashes: Sequence[bytes],
        *,
        otp: str | None = None,
        hash_algorithm_oid: str = SHA256_OID,
        description: str | None = None,
        document_names: Sequence[str] | None = None,
    ) -> CscRequest[Authorization]:
        """``credentials/authorize``: with ``otp`` a SAD at once; without, ``202`` and the phone is asked
        (an organization seal answers with the SAD at once, no person involved).

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
        return CscRequest("credentials/authorize", body, parse_authorization, ok=(200, 202))

    def authorize_check(self, authorization_id: str, credential_id: str | None = None) -> CscRequest[Authorization]:
        """``credentials/authorizeCheck``: still pending (``202``), or the SAD."""
        body: dict[str, Any] = {"authorizationID": authorization_id}
        if credential_id:
            body["credentialID"] = credential_id

        def parse(status: int, answer: dict[str, Any]) -> Authorization:
            if status == 202:
                return Authorization(None, int(answer.get("expiresIn", 0)), authorization_id)
            return parse_authorization(status, answer)

        return CscRequest("credentials/authorizeCheck", body, parse, ok=(200, 202))

    def extend_transaction(self, credential_id: str, sad: str) -> CscRequest[Authorization]:
        """``credentials/extendTransaction``: a fresh SAD for the hashes not signed yet."""
        return CscRequest(
            "credentials/extendTransaction", {"credentialID": credential_id, "SAD": sad}, parse_authorization
        )

    def sign_hash(
        self,
        credential_id: str,
        sad: str,
        hashes: Sequence[bytes],
        *,
        sign_algo: str,
        hash_algorithm_oid: str = SHA256_OID,
        sign_algo_params: str | None = None,
    ) -> CscRequest[list[bytes]]:
        """``signatures/signHash``: the signatures, in the order of ``hashes``."""
        body = {
            "credentialID": credential_id,
            "SAD": sad,
            "hashes": [_b64(h) for h in hashes],
            "hashAlgorithmOID": hash_algorithm_oid,
            "signAlgo": sign_algo,
        }
        if sign_algo_params:
            body["signAlgoParams"] = sign_algo_params
        return CscRequest("signatures/signHash", body, _signatures)

    def timestamp(self, digest: bytes, *, hash_algorithm_oid: str = SHA256_OID) -> CscRequest[bytes]:
        """``signatures/timestamp``: an RFC 3161 token (DER)."""
        return CscRequest(
            "signatures/timestamp",
            {"hash": _b64(digest), "hashAlgo": hash_algorithm_oid},
            lambda status, body: base64.b64decode(body["timestamp"]),
        )


def wait_authorized(
    transport: CscTransport,
    pending: Authorization,
    *,
    credential_id: str | None = None,
    timeout: float = 300.0,
    poll_interval: float = 1.0,
    on_progress: ProgressCallback | None = None,
) -> Authorization:
    """Poll ``authorizeCheck`` until the user confirms; :class:`SigningError` (code ``timeout``) after ``timeout``."""
    if not pending.pending:
        return pending
    assert pending.authorization_id is not None
    request = CscCalls().authorize_check(pending.authorization_id, credential_id)
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if on_progress is not None:
            on_progress(elapsed, timeout)
        result = transport.send(request)
        if not result.pending:
            return result
        if elapsed >= timeout:
            raise SigningError(f"the user did not confirm within {int(timeout)} s", code="timeout")
        time.sleep(poll_interval)


class CscHttp:
    """The library's CSC transport on ``urllib`` (blocking; :class:`~esign.signers.remote.RemoteSigner`
    runs it in a thread). Keeps the access token of :meth:`login` and sends it with each request."""

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

    def _exchange(self, request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
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
        return status, body if isinstance(body, dict) else {}

    def send(self, request: CscRequest[T]) -> T:
        """POST the request's JSON body with the bearer token; its parsed answer, or :class:`CscError`."""
        headers = {"Content-Type": "application/json", "Accept": "application/json", **request.headers}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        data = json.dumps(request.body).encode()
        status, body = self._exchange(
            urllib.request.Request(self.url(request.method), data=data, headers=headers, method="POST")  # noqa: S310
        )
        if status not in request.ok:
            raise CscError(str(body.get("error", "http_error")), str(body.get("error_description", status)), status)
        return request.parse(status, body)

    def login(self, client_id: str, client_secret: str, scope: str = "csc") -> str:
        """OAuth2 client-credentials grant at ``oauth2/token``; keeps and returns the access token."""
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret, "scope": scope}
        ).encode()
        status, body = self._exchange(
            urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
                self.url("oauth2/token"),
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                method="POST",
            )
        )
        if status != 200 or "access_token" not in body:
            raise KeyAccessError(
                f"the signing service refused the client credentials: {body.get('error_description', status)}"
            )
        self.access_token = str(body["access_token"])
        return self.access_token


__all__ = [
    "Authorization",
    "CredentialInfo",
    "CscCalls",
    "CscError",
    "CscHttp",
    "CscRequest",
    "CscTransport",
    "ProgressCallback",
    "parse_authorization",
    "wait_authorized",
]
