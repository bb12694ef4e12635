"""The native signing-session API: ask a user to sign hashes, wait for the phone, fetch the signatures.

Sync::

    from esign_client import EsignClient
    with EsignClient(URL, client_id=ID, client_secret=SECRET) as api:
        session = api.create_session(CREDENTIAL_ID, [("hop-dong.pdf", digest)])
        print("Mã xác nhận:", session.confirmation_code)      # show it to the user
        session = api.wait(session.id, timeout=300)            # the user confirms on the phone
        signature = api.fetch_signatures(session.id)[0]

Whole documents signed on the server (the phone confirms their names; only the server sees them)::

        session = api.create_session(CREDENTIAL_ID, documents=[
            Document("cong-van.pdf", "pdf", pdf_bytes, {"level": "B-T", "reason": "Phê duyệt"})],
            description="Công văn 125/STP-HCTP")
        api.wait(session.id)
        signed_pdf = api.fetch_document(session.id, 0)

Async: the same methods on :class:`AsyncEsignClient`, awaited.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from esign_client._base import AsyncRunner, Auth, Call, SyncRunner, json_body
from esign_client.errors import ApiError, ConfirmationTimeout

TERMINAL = ("signed", "rejected", "expired", "failed")


@dataclass(frozen=True)
class HashItem:
    """A digest to sign, with the name the user's phone shows."""

    name: str
    digest: bytes


@dataclass(frozen=True)
class Document:
    """A whole PDF or XML document for the server to sign, under the name the user's phone shows."""

    name: str
    format: str
    """``pdf`` or ``xml``."""
    content: bytes
    options: dict[str, str | int | bool] | None = None
    """PDF: ``level``, ``reason``, ``location``, ``contact``, ``field_name``; XML: ``profile``,
    ``reference_id``, ``signature_parent``, ``c14n``."""


@dataclass(frozen=True)
class Session:
    """A signing session as the relying system sees it."""

    id: str
    status: str
    """``pending``, ``signed``, ``rejected``, ``expired`` or ``failed``."""
    credential_id: str
    confirmation_code: str
    """Show this to the user: the phone shows the same code."""
    fingerprint: str
    expires_at: datetime
    digest_algorithm: str
    signature_algorithm: str
    items: tuple[HashItem, ...]
    signatures: tuple[bytes, ...] | None
    reason: str | None
    raw: dict[str, Any]

    @property
    def done(self) -> bool:
        """Whether the session has ended (any terminal state)."""
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Session:
        """Parse the server's JSON."""
        sigs = body.get("signatures")
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            credential_id=str(body["credential_id"]),
            confirmation_code=str(body["confirmation_code"]),
            fingerprint=str(body.get("fingerprint", "")),
            expires_at=datetime.fromisoformat(str(body["expires_at"])),
            digest_algorithm=str(body["digest_algorithm"]),
            signature_algorithm=str(body["signature_algorithm"]),
            items=tuple(HashItem(str(i["name"]), base64.b64decode(i["digest"])) for i in body.get("items", [])),
            signatures=tuple(base64.b64decode(s) for s in sigs) if sigs is not None else None,
            reason=body.get("reason"),
            raw=body,
        )


def _session(response: httpx.Response) -> Session:
    return Session.from_json(json_body(response))


def _items(items: Sequence[HashItem | tuple[str, bytes] | bytes]) -> list[dict[str, str]]:
    result = []
    for index, item in enumerate(items):
        if isinstance(item, bytes):
            item = HashItem(f"item {index + 1}", item)
        elif isinstance(item, tuple):
            item = HashItem(*item)
        result.append({"name": item.name, "digest": base64.b64encode(item.digest).decode()})
    return result


def _documents(documents: Sequence[Document]) -> list[dict[str, Any]]:
    return [
        {
            "name": d.name,
            "format": d.format,
            "content": base64.b64encode(d.content).decode(),
            "options": d.options or {},
        }
        for d in documents
    ]


def _bytes(response: httpx.Response) -> bytes:
    if response.status_code >= 400:
        json_body(response)  # raises ApiError with the server's code and message
    return response.content


class SessionCalls:
    """The session API's requests, shared by the sync and async clients."""

    @staticmethod
    def create(
        credential_id: str,
        items: Sequence[HashItem | tuple[str, bytes] | bytes] = (),
        *,
        documents: Sequence[Document] = (),
        digest_algorithm: str = "sha256",
        signature_algorithm: str | None = None,
        description: str | None = None,
        callback_url: str | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Session]:
        """``POST /api/sessions``."""
        body: dict[str, Any] = {"credential_id": credential_id, "items": _items(items)}
        if documents:
            body["documents"] = _documents(documents)
        body["digest_algorithm"] = digest_algorithm
        for key, value in (
            ("signature_algorithm", signature_algorithm),
            ("description", description),
            ("callback_url", callback_url),
            ("ttl_seconds", ttl_seconds),
        ):
            if value is not None:
                body[key] = value
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Call("POST", "/api/sessions", _session, json=body, headers=headers)

    @staticmethod
    def get(session_id: str, wait: float = 0) -> Call[Session]:
        """``GET /api/sessions/{id}`` (long-poll with ``wait``)."""
        params = {"wait": wait} if wait else None
        return Call("GET", f"/api/sessions/{session_id}", _session, params=params, timeout=wait + 30)

    @staticmethod
    def document(session_id: str, index: int) -> Call[bytes]:
        """``GET /api/sessions/{id}/documents/{index}``: a signed document."""
        return Call("GET", f"/api/sessions/{session_id}/documents/{index}", _bytes)

    @staticmethod
    def cancel(session_id: str) -> Call[Session]:
        """``POST /api/sessions/{id}/cancel``."""
        return Call("POST", f"/api/sessions/{session_id}/cancel", _session)

    @staticmethod
    def credential(credential_id: str) -> Call[dict[str, Any]]:
        """``GET /api/credentials/{id}``: certificate, chain, algorithms."""
        return Call("GET", f"/api/credentials/{credential_id}", json_body)


def _signatures(session: Session) -> list[bytes]:
    if session.status != "signed" or session.signatures is None:
        raise ApiError(409, f"session_{session.status}", f"the session is {session.status}, not signed")
    return list(session.signatures)


class EsignClient(SyncRunner):
    """Blocking client of the session API (``httpx.Client``)."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url, Auth(client_id, client_secret, access_token, scope="sessions"), timeout=timeout, http=http
        )

    def create_session(
        self, credential_id: str, items: Sequence[HashItem | tuple[str, bytes] | bytes] = (), **options: Any
    ) -> Session:
        """Ask the credential's holder to sign ``items`` (named digests) or ``documents=[Document(...)]``
        (whole PDF/XML, signed on the server); show them ``confirmation_code``."""
        return self.run(SessionCalls.create(credential_id, items, **options))

    def fetch_document(self, session_id: str, index: int) -> bytes:
        """A signed document of a signed document session (``documents[index]``)."""
        return self.run(SessionCalls.document(session_id, index))

    def get_session(self, session_id: str) -> Session:
        """The session now."""
        return self.run(SessionCalls.get(session_id))

    def wait(self, session_id: str, *, timeout: float = 300.0, poll: float = 25.0) -> Session:
        """Long-poll until the session ends; :class:`ConfirmationTimeout` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            session = self.run(SessionCalls.get(session_id, wait=max(0.0, min(poll, remaining))))
            if session.done:
                return session
            if remaining <= 0:
                raise ConfirmationTimeout(f"session {session_id} still pending after {timeout:.0f} s")

    def fetch_signatures(self, session_id: str) -> list[bytes]:
        """The signatures of a signed session, in item order."""
        return _signatures(self.get_session(session_id))

    def cancel(self, session_id: str) -> Session:
        """Withdraw a pending request."""
        return self.run(SessionCalls.cancel(session_id))

    def credential(self, credential_id: str) -> dict[str, Any]:
        """A credential's certificate (PEM), chain and algorithms."""
        return self.run(SessionCalls.credential(credential_id))


class AsyncEsignClient(AsyncRunner):
    """The same API on ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url, Auth(client_id, client_secret, access_token, scope="sessions"), timeout=timeout, http=http
        )

    async def create_session(
        self, credential_id: str, items: Sequence[HashItem | tuple[str, bytes] | bytes] = (), **options: Any
    ) -> Session:
        """Ask the credential's holder to sign ``items`` (named digests) or ``documents=[Document(...)]``
        (whole PDF/XML, signed on the server); show them ``confirmation_code``."""
        return await self.run(SessionCalls.create(credential_id, items, **options))

    async def fetch_document(self, session_id: str, index: int) -> bytes:
        """A signed document of a signed document session (``documents[index]``)."""
        return await self.run(SessionCalls.document(session_id, index))

    async def get_session(self, session_id: str) -> Session:
        """The session now."""
        return await self.run(SessionCalls.get(session_id))

    async def wait(self, session_id: str, *, timeout: float = 300.0, poll: float = 25.0) -> Session:
        """Long-poll until the session ends; :class:`ConfirmationTimeout` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            session = await self.run(SessionCalls.get(session_id, wait=max(0.0, min(poll, remaining))))
            if session.done:
                return session
            if remaining <= 0:
                raise ConfirmationTimeout(f"session {session_id} still pending after {timeout:.0f} s")

    async def fetch_signatures(self, session_id: str) -> list[bytes]:
        """The signatures of a signed session, in item order."""
        return _signatures(await self.get_session(session_id))

    async def cancel(self, session_id: str) -> Session:
        """Withdraw a pending request."""
        return await self.run(SessionCalls.cancel(session_id))

    async def credential(self, credential_id: str) -> dict[str, Any]:
        """A credential's certificate (PEM), chain and algorithms."""
        return await self.run(SessionCalls.credential(credential_id))
