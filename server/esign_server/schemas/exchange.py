"""Wire models of the document exchange node (``/api/exchange``, ``/api/admin/exchange``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from esign_server.schemas import Wire


class BindingSet(Wire):
    """Let a relying system send for an organization code and read its inbox."""

    org_code: str = Field(min_length=1, max_length=40, examples=["H49.22"])
    client_id: str = Field(min_length=3, max_length=64)
    subtree: bool = False
    """Cover the codes below ``org_code`` too (a peer node's client): they may send, they get no inbox here."""
    credential_id: str | None = Field(None, max_length=36)
    """The organization's credential the node signs envelopes with when asked (``?sign=true``)."""


class BindingPublic(BaseModel):
    """A binding of an organization code to a relying system."""

    org_code: str
    client_id: str
    subtree: bool
    credential_id: str | None


class RouteSet(Wire):
    """Send the packages for codes under a prefix to a peer exchange node."""

    url: str = Field(min_length=8, max_length=2000, examples=["https://exchange.h50.gov.vn"])
    client_id: str = Field(min_length=3, max_length=64)
    """The client id the peer node issued to this node (scope ``exchange``)."""
    client_secret: str = Field(min_length=8, max_length=200)


class RoutePublic(BaseModel):
    """A peer route (the secret is never shown)."""

    prefix: str
    url: str
    client_id: str


class DeliveryPublic(BaseModel):
    """One recipient of a package: ``route`` ``local`` (an inbox here) or the peer route's prefix."""

    id: str
    recipient: str
    route: str
    state: str
    """Local: ``inbox``, ``fetched``, ``acked``. Peer: ``pending``, ``sent``, ``failed``."""
    last_status: str | None = None
    attempts: int = 0
    last_error: str | None = None


class PackageAccepted(BaseModel):
    """The node took the package (or had it already: ``duplicate``, nothing delivered again)."""

    package_id: str
    kind: str
    document_id: str
    sender: str
    duplicate: bool
    signed_by_node: bool
    deliveries: list[DeliveryPublic]


class InboxEntryPublic(BaseModel):
    """A package in an organization's inbox."""

    delivery_id: str
    package_id: str
    kind: str
    """``document`` or ``status``."""
    recipient: str
    sender: str
    document_id: str
    subject: str | None
    status_code: str | None
    state: str
    received_at: datetime


class HistoryPublic(BaseModel):
    """Where a document has been, as this node saw it."""

    package_id: str
    kind: str
    document_id: str
    origin: str
    hops: list[dict[str, str | None]]
    """The ``TraceHeader`` list of the package as this node passes it on."""
    deliveries: list[DeliveryPublic]
    statuses: list[dict[str, Any]]
    events: list[dict[str, Any]]
