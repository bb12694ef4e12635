"""Wire models of the document exchange node (``/api/exchange``, ``/api/admin/exchange``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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


class EnvelopePublic(BaseModel):
    """What the node found of a package's envelope signature (the XMLDSig in ``edXMLHeader``) on receipt.

    A signature that does not verify is refused (422 ``signature_invalid``), so it never shows here.
    """

    check: Literal["passed", "indeterminate", "unsigned"]
    """``passed``: verified, the signer trusted. ``indeterminate``: intact, but the signer could not be
    established (an untrusted or unknown root, no revocation information). ``unsigned``: no signature,
    or a placeholder."""
    signer: str | None = None
    """The signing certificate's subject, personal numbers masked."""
    reason: str | None = None
    """Why the check is not ``passed``."""


class PackageAccepted(BaseModel):
    """The node took the package (or had it already: ``duplicate``, nothing delivered again)."""

    package_id: str
    kind: str
    document_id: str
    sender: str
    duplicate: bool
    signed_by_node: bool
    deliveries: list[DeliveryPublic]
    envelope: EnvelopePublic | None = None
    """The envelope signature as the node found it (for a duplicate: as it found the first copy)."""


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
    envelope: EnvelopePublic | None = None
    """The envelope signature as the node found it on receipt (null: received before the node checked)."""


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
    """Every step; the ``received`` events carry their package's ``envelope`` check."""
    envelope: EnvelopePublic | None = None
    """This package's envelope signature as the node found it on receipt."""
