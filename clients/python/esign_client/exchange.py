"""The document exchange node of an esign server (``/api/exchange``): send edXML packages, read the
inbox of the organizations bound to this relying system, fetch and acknowledge, follow a document.

The relying system's client needs the ``exchange`` scope, and the operator binds its organization
codes to it (``PUT /api/admin/exchange/bindings``)::

    from esign_client import ExchangeClient
    with ExchangeClient(URL, client_id=ID, client_secret=SECRET) as node:
        sent = node.send(package_bytes, sign=True)       # the node signs the envelope for the sender
        print(sent.package_id, [(d.recipient, d.state) for d in sent.deliveries])
        node.history(sent.package_id).deliveries          # acked, last status 03 ...

    # The receiving side: acknowledge each package once it is safely stored.
    with ExchangeClient(URL, client_id=ID2, client_secret=SECRET2) as node:
        node.receive_all(lambda item, package: store(item.recipient, package))

Every refusal is an :class:`~esign_client.errors.ApiError` with the server's code (``recipient_unknown``,
``invalid_package`` ...); an invalid package's problems are in ``ApiError.body["problems"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from esign_client._base import Auth, Call, SyncRunner, json_body
from esign_client.errors import ApiError

PACKAGE_MEDIA_TYPE = "application/xml"


@dataclass(frozen=True)
class Envelope:
    """What the node found of a package's envelope signature on receipt (one that does not verify is
    refused, ``signature_invalid``, and never shows here)."""

    check: str
    """``passed`` (verified, signer trusted), ``indeterminate`` (intact, signer not established) or
    ``unsigned`` (no signature, or a placeholder)."""
    signer: str | None
    """The signing certificate's subject, personal numbers masked."""
    reason: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> Envelope | None:
        """Parse the server's JSON (None: the package was received before the node checked envelopes)."""
        if body is None:
            return None
        return cls(check=str(body["check"]), signer=body.get("signer"), reason=body.get("reason"))


@dataclass(frozen=True)
class Delivery:
    """One recipient of a package: ``route`` is ``local`` (an inbox on this node) or a peer route's prefix."""

    id: str
    recipient: str
    route: str
    state: str
    """Local: ``inbox``, ``fetched``, ``acked``. Peer: ``pending``, ``sent``, ``failed``."""
    last_status: str | None
    """The latest status code the recipient sent back (``01`` arrived ... ``06`` finished)."""
    attempts: int
    last_error: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Delivery:
        """Parse the server's JSON."""
        return cls(
            id=str(body["id"]),
            recipient=str(body["recipient"]),
            route=str(body["route"]),
            state=str(body["state"]),
            last_status=body.get("last_status"),
            attempts=int(body.get("attempts", 0)),
            last_error=body.get("last_error"),
        )


@dataclass(frozen=True)
class Sent:
    """The node's answer to a package: taken (or already had: ``duplicate``, nothing delivered again)."""

    package_id: str
    kind: str
    """``document`` or ``status``."""
    document_id: str
    sender: str
    duplicate: bool
    signed_by_node: bool
    deliveries: tuple[Delivery, ...]
    envelope: Envelope | None
    """The envelope signature as the node found it (for a duplicate: as it found the first copy)."""
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Sent:
        """Parse the server's JSON."""
        return cls(
            package_id=str(body["package_id"]),
            kind=str(body["kind"]),
            document_id=str(body["document_id"]),
            sender=str(body["sender"]),
            duplicate=bool(body["duplicate"]),
            signed_by_node=bool(body["signed_by_node"]),
            deliveries=tuple(Delivery.from_json(d) for d in body.get("deliveries", [])),
            envelope=Envelope.from_json(body.get("envelope")),
            raw=body,
        )


@dataclass(frozen=True)
class InboxItem:
    """A package delivered to one of the organizations bound to this relying system.

    A package for several of them is listed once per recipient, with the same ``package_id``.
    """

    delivery_id: str
    package_id: str
    kind: str
    """``document`` or ``status``."""
    recipient: str
    sender: str
    document_id: str
    subject: str | None
    status_code: str | None
    """A status package's code."""
    state: str
    received_at: datetime
    envelope: Envelope | None
    """The package's envelope signature as the node found it on receipt."""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> InboxItem:
        """Parse the server's JSON."""
        return cls(
            delivery_id=str(body["delivery_id"]),
            package_id=str(body["package_id"]),
            kind=str(body["kind"]),
            recipient=str(body["recipient"]),
            sender=str(body["sender"]),
            document_id=str(body["document_id"]),
            subject=body.get("subject"),
            status_code=body.get("status_code"),
            state=str(body["state"]),
            received_at=datetime.fromisoformat(str(body["received_at"])),
            envelope=Envelope.from_json(body.get("envelope")),
        )


@dataclass(frozen=True)
class History:
    """Where a document has been, as the node saw it."""

    package_id: str
    kind: str
    document_id: str
    origin: str
    hops: tuple[dict[str, str | None], ...]
    """The package's ``TraceHeader`` list (``organ_id``, ``timestamp`` ...) as the node passes it on."""
    deliveries: tuple[Delivery, ...]
    statuses: tuple[dict[str, Any], ...]
    """The status packages about the document (``organ_id``, ``code`` ...)."""
    events: tuple[dict[str, Any], ...]
    """Every step on the node (``received``, ``delivered``, ``fetched``, ``acked`` ...)."""
    envelope: Envelope | None
    """The package's envelope signature as the node found it on receipt."""
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> History:
        """Parse the server's JSON."""
        return cls(
            package_id=str(body["package_id"]),
            kind=str(body["kind"]),
            document_id=str(body["document_id"]),
            origin=str(body["origin"]),
            hops=tuple(body.get("hops", [])),
            deliveries=tuple(Delivery.from_json(d) for d in body.get("deliveries", [])),
            statuses=tuple(body.get("statuses", [])),
            events=tuple(body.get("events", [])),
            envelope=Envelope.from_json(body.get("envelope")),
            raw=body,
        )


@dataclass(frozen=True)
class Received:
    """What :meth:`ExchangeClient.receive_all` did: the items handled and acknowledged, and those whose
    handler raised (their packages stay in the inbox for the next round)."""

    acked: tuple[InboxItem, ...]
    failed: tuple[tuple[InboxItem, Exception], ...]


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ApiError(response.status_code, "invalid_response", "expected a JSON list of objects")
    return body


def _sent(response: httpx.Response) -> Sent:
    return Sent.from_json(json_body(response))


def _inbox(response: httpx.Response) -> list[InboxItem]:
    return [InboxItem.from_json(item) for item in _json_list(response)]


def _deliveries(response: httpx.Response) -> list[Delivery]:
    return [Delivery.from_json(item) for item in _json_list(response)]


def _history(response: httpx.Response) -> History:
    return History.from_json(json_body(response))


def _content(response: httpx.Response) -> bytes:
    return response.content


class ExchangeCalls:
    """The exchange API's requests."""

    @staticmethod
    def send(package: bytes, *, sign: bool = False, recipients: Sequence[str] | None = None) -> Call[Sent]:
        """``POST /api/exchange/packages`` (201 delivered, 200 a duplicate)."""
        params: dict[str, Any] = {"sign": "true" if sign else "false"}
        if recipients:
            params["recipients"] = list(recipients)
        headers = {"Content-Type": PACKAGE_MEDIA_TYPE}
        return Call("POST", "/api/exchange/packages", _sent, params=params, headers=headers, content=package)

    @staticmethod
    def inbox(org: str | None = None, *, include_acked: bool = False, limit: int = 100) -> Call[list[InboxItem]]:
        """``GET /api/exchange/inbox``."""
        params: dict[str, Any] = {"limit": limit}
        if org:
            params["org"] = org
        if include_acked:
            params["include_acked"] = "true"
        return Call("GET", "/api/exchange/inbox", _inbox, params=params)

    @staticmethod
    def fetch(package_id: str) -> Call[bytes]:
        """``GET /api/exchange/packages/{id}``: the package as delivered."""
        return Call("GET", f"/api/exchange/packages/{package_id}", _content, ok=(200,))

    @staticmethod
    def ack(package_id: str) -> Call[list[Delivery]]:
        """``POST /api/exchange/packages/{id}/ack``."""
        return Call("POST", f"/api/exchange/packages/{package_id}/ack", _deliveries, ok=(200,))

    @staticmethod
    def history(package_id: str) -> Call[History]:
        """``GET /api/exchange/packages/{id}/history``."""
        return Call("GET", f"/api/exchange/packages/{package_id}/history", _history, ok=(200,))


class ExchangeClient(SyncRunner):
    """Blocking client of the exchange node (``httpx.Client``, scope ``exchange``); every refusal is an
    :class:`~esign_client.errors.ApiError` carrying the server's error code."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        # 60 s by default: packages carry their attachments (up to the node's limit, 20 MB by default).
        super().__init__(
            base_url, Auth(client_id, client_secret, access_token, scope="exchange"), timeout=timeout, http=http
        )

    def send(self, package: bytes, *, sign: bool = False, recipients: Sequence[str] | None = None) -> Sent:
        """Send an edXML package (a document or a status package) for a sender code bound to this system.

        ``sign``: the node signs the envelope with the sender organization's credential. ``recipients``:
        deliver to these receivers of the package only. A package the node already delivered (same
        DocumentId, sender, receiver) comes back with ``duplicate=True`` and is not delivered again.

        :raises ApiError: refused, e.g. ``invalid_package`` (``body["problems"]``), ``recipient_unknown``,
            ``sender_not_bound``, ``package_too_large``.
        """
        return self.run(ExchangeCalls.send(package, sign=sign, recipients=recipients))

    def inbox(self, org: str | None = None, *, include_acked: bool = False, limit: int = 100) -> list[InboxItem]:
        """The packages delivered to this system's organizations (or to ``org`` only), oldest first."""
        return self.run(ExchangeCalls.inbox(org, include_acked=include_acked, limit=limit))

    def fetch(self, package_id: str) -> bytes:
        """The package's bytes as delivered (with the node's trace hop); its inbox items become ``fetched``."""
        return self.run(ExchangeCalls.fetch(package_id))

    def ack(self, package_id: str) -> list[Delivery]:
        """Mark the package handled for every organization of this system it was delivered to: it leaves
        the inbox. Answer the sender with a status package separately (:meth:`send`)."""
        return self.run(ExchangeCalls.ack(package_id))

    def history(self, package_id: str) -> History:
        """The document's hops, each recipient's delivery and latest status, and every step on the node."""
        return self.run(ExchangeCalls.history(package_id))

    def receive_all(self, handler: Callable[[InboxItem, bytes], object], *, limit: int = 100) -> Received:
        """Fetch each package of one inbox listing, call ``handler(item, package_bytes)`` for each of its
        items, and acknowledge it only when the handler returned without raising for all of them.

        The server acknowledges a package for all of this system's recipients at once, so a package
        listed for several organizations is fetched once and acknowledged after its last item; when
        the listing is full (``limit`` items), the package of its last item may go on past it and is
        left for the next call (unless it is the only one: keep ``limit`` above the number of
        organizations this system serves). A handler's exception does not stop the others: it is in
        :attr:`Received.failed` and that package stays in the inbox. Call again while items keep coming.

        :raises ApiError: the node refused a listing, a fetch or an acknowledgement.
        """
        listed = self.inbox(limit=limit)
        by_package: dict[str, list[InboxItem]] = {}
        for item in listed:
            by_package.setdefault(item.package_id, []).append(item)
        if len(listed) >= limit and len(by_package) > 1:
            del by_package[listed[-1].package_id]
        acked: list[InboxItem] = []
        failed: list[tuple[InboxItem, Exception]] = []
        for package_id, items in by_package.items():
            package = self.fetch(package_id)
            errors: list[tuple[InboxItem, Exception]] = []
            for item in items:
                try:
                    handler(item, package)
                except Exception as exc:  # the handler's failure is reported and its package kept
                    errors.append((item, exc))
            if errors:
                failed += errors
            else:
                self.ack(package_id)
                acked += items
        return Received(tuple(acked), tuple(failed))
