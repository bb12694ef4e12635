"""What the sync and async clients share: requests described as data, tokens, error handling.

Each API call is built once as a :class:`Call` (method, path, body, how to read the answer); the
sync client runs it on ``httpx.Client``, the async one on ``httpx.AsyncClient``. A token is fetched
with the client-credentials grant on first use and fetched again once when the server says it expired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from esign.errors import InvalidInput
from esign_client.errors import ApiError

T = TypeVar("T")
S = TypeVar("S", bound="SyncRunner")
A = TypeVar("A", bound="AsyncRunner")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request and how to turn its answer into a value."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    content: bytes | None = None
    """A raw body (e.g. an edXML package) instead of ``json``."""
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200, 201)
    timeout: float | None = None


@dataclass
class Auth:
    """Client credentials or a fixed token, and the token currently held."""

    client_id: str | None = None
    client_secret: str | None = None
    access_token: str | None = None
    scope: str = "sessions"
    token_path: str = "/oauth2/token"  # noqa: S105 - a URL path

    def __post_init__(self) -> None:
        if not self.access_token and not (self.client_id and self.client_secret):
            raise InvalidInput("give client_id and client_secret, or an access_token")

    @property
    def can_refresh(self) -> bool:
        """Whether a new token can be fetched (client credentials known)."""
        return bool(self.client_id and self.client_secret)

    def token_request(self) -> tuple[str, dict[str, str]]:
        """Path and form of the client-credentials grant."""
        assert self.client_id and self.client_secret
        return self.token_path, {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }

    def take(self, response: httpx.Response) -> None:
        """Keep the token of a token answer."""
        if response.status_code != 200:
            raise ApiError.from_response(response)
        self.access_token = str(response.json()["access_token"])

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}


def expired(response: httpx.Response) -> bool:
    """Whether the server refused the token (so a fresh one may help)."""
    return response.status_code == 401


def checked(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or :class:`ApiError`."""
    if response.status_code not in call.ok:
        raise ApiError.from_response(response)
    return call.parse(response)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer."""
    body = response.json()
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "invalid_response", "expected a JSON object")
    return body


class SyncRunner:
    """Runs :class:`Call`\\s on ``httpx.Client`` with a client-credentials token."""

    def __init__(self, base_url: str, auth: Auth, *, timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        self.auth = auth
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _send(self, call: Call[T]) -> httpx.Response:
        return self._http.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            params=call.params,
            headers={**self.auth.headers(), **call.headers},
            timeout=call.timeout or self._http.timeout,
        )

    def _login(self) -> None:
        path, form = self.auth.token_request()
        self.auth.take(self._http.post(path, data=form))

    def run(self, call: Call[T]) -> T:
        """Send one call (fetching a token first, or again once if it expired)."""
        if not self.auth.access_token:
            self._login()
        response = self._send(call)
        if expired(response) and self.auth.can_refresh:
            self._login()
            response = self._send(call)
        return checked(call, response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRunner:
    """Runs :class:`Call`\\s on ``httpx.AsyncClient`` with a client-credentials token."""

    def __init__(
        self, base_url: str, auth: Auth, *, timeout: float = 30.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self.auth = auth
        self._http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def _send(self, call: Call[T]) -> httpx.Response:
        return await self._http.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            params=call.params,
            headers={**self.auth.headers(), **call.headers},
            timeout=call.timeout or self._http.timeout,
        )

    async def _login(self) -> None:
        path, form = self.auth.token_request()
        self.auth.take(await self._http.post(path, data=form))

    async def run(self, call: Call[T]) -> T:
        """Send one call (fetching a token first, or again once if it expired)."""
        if not self.auth.access_token:
            await self._login()
        response = await self._send(call)
        if expired(response) and self.auth.can_refresh:
            await self._login()
            response = await self._send(call)
        return checked(call, response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
