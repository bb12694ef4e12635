"""The document exchange node (QCVN 102:2016 edXML): who speaks for which code, where other codes
are routed, the packages received, one delivery per package and recipient, and each package's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class ExchangeBinding(SQLModel, table=True):
    """An organization code a relying system may send for and read the inbox of (set by the admin).

    With ``subtree`` the binding covers the code's children too (a peer node speaking for a province).
    ``credential_id`` is the organization's credential the node signs envelopes with when asked.
    """

    __tablename__ = "exchange_bindings"
    __table_args__ = (UniqueConstraint("org_code", "client_id", name="uq_exchange_bindings_code_client"),)

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(max_length=35, index=True)
    """QĐ 20/2020 form (``H49.22``)."""
    client_id: str = Field(foreign_key="relying_systems.id", max_length=64, index=True)
    subtree: bool = Field(default=False)
    credential_id: str | None = Field(default=None, foreign_key="credentials.id", max_length=36)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExchangeRoute(SQLModel, table=True):
    """Codes under ``prefix`` live on a peer exchange node at ``url``; this node authenticates there
    with the client credentials that peer issued (the secret sealed under the master key)."""

    __tablename__ = "exchange_routes"

    prefix: str = Field(primary_key=True, max_length=35)
    url: str = Field(max_length=2000)
    """The peer's base URL (``https://exchange.h50.gov.vn``); packages go to ``{url}/api/exchange/packages``."""
    client_id: str = Field(max_length=64)
    client_secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_by: str = Field(max_length=120)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExchangePackage(SQLModel, table=True):
    """A package as this node received it and passes it on (after its trace hop and signature)."""

    __tablename__ = "exchange_packages"
    __table_args__ = (Index("ix_exchange_packages_document", "document_id", "origin"),)

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=8)
    """``document`` or ``status``."""
    sender: str = Field(max_length=35)
    """``From/OrganId`` of this package."""
    document_id: str = Field(max_length=500)
    """The document's ``DocumentId`` (for a status package: its ``ResponseFor/DocumentId``)."""
    origin: str = Field(max_length=35)
    """The organization that sent the document (for a status package: ``ResponseFor/OrganId``)."""
    business_type: str | None = Field(default=None, max_length=2)
    status_code: str | None = Field(default=None, max_length=2)
    subject: str | None = Field(default=None, max_length=2000)
    content_sha256: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_from: str = Field(max_length=64)
    """The client that sent it here: a relying system or a peer node's client."""
    signed_by_node: bool = Field(default=False)
    envelope_check: str | None = Field(default=None, max_length=16)
    """The envelope signature on receipt: ``passed``, ``indeterminate`` or ``unsigned`` (one that does not
    verify is refused); None for a package received before the node checked envelopes."""
    envelope_signer: str | None = Field(default=None, max_length=500)
    """The signing certificate's subject, personal numbers masked."""
    envelope_reason: str | None = Field(default=None, max_length=300)
    """Why the check is not ``passed``."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExchangeDelivery(SQLModel, table=True):
    """One package to one recipient: an inbox entry (``route`` ``local``) or an outbox row to a peer.

    ``dedupe_key`` (a hash of DocumentId, sender, recipient and what the package does) is unique:
    the same package is never delivered twice to one recipient, whoever retries.
    """

    __tablename__ = "exchange_deliveries"
    __table_args__ = (
        Index("ix_exchange_deliveries_due", "state", "next_attempt_at"),
        Index("ix_exchange_deliveries_inbox", "recipient", "state"),
        Index("ix_exchange_deliveries_document", "document_id", "origin"),
    )

    id: str = Field(primary_key=True, max_length=36)
    package_id: str = Field(foreign_key="exchange_packages.id", max_length=36, index=True)
    dedupe_key: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=8)
    sender: str = Field(max_length=35)
    recipient: str = Field(max_length=35)
    document_id: str = Field(max_length=500)
    origin: str = Field(max_length=35)
    route: str = Field(max_length=35)
    """``local`` (the recipient's inbox here) or the prefix of the peer route it goes by."""
    state: str = Field(max_length=16)
    """Local: ``inbox`` → ``fetched`` → ``acked``. Peer: ``pending`` (due at ``next_attempt_at``) →
    ``sent`` or ``failed`` (given up)."""
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When a peer delivery is due; while an attempt runs, the end of its lease."""
    last_error: str | None = Field(default=None, max_length=300)
    last_status: str | None = Field(default=None, max_length=2)
    """The latest status code the recipient reported on this document (documents only)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ExchangeEvent(SQLModel, table=True):
    """One step in a document's life on this node (received, hop, delivered, sent, fetched, acked,
    status); the history of a package is the events of its document and origin."""

    __tablename__ = "exchange_events"
    __table_args__ = (Index("ix_exchange_events_document", "document_id", "origin"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(max_length=500)
    origin: str = Field(max_length=35)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    event: str = Field(max_length=16)
    organ_id: str = Field(max_length=35)
    """Who the step concerns: the recipient, the hop's node, the organization reporting a status."""
    package_id: str | None = Field(default=None, max_length=36)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
