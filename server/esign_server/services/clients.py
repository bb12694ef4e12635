"""Relying systems: OAuth2 client credentials, access tokens and scopes.

Client secrets are 256-bit random values, so a SHA-256 of the secret is what the database keeps (a
slow password hash adds nothing to a secret that cannot be guessed). A login for an unknown client
still computes and compares a hash, so the time taken does not tell whether the client exists.
"""

from __future__ import annotations

import re
import secrets
import time
import weakref
from dataclasses import dataclass
from threading import Lock
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from esign_server.crypto import equal, new_secret, token_hash
from esign_server.models import RelyingSystem
from esign_server.services import audit
from esign_server.services.errors import Conflict, Forbidden, NotFound, ServiceError, Unauthorized

if TYPE_CHECKING:
    from esign_server.context import ServerContext

SCOPES = ("sessions", "admin", "csc", "exchange")
"""``sessions``: create and read signing sessions; ``admin``: the admin API; ``csc``: the CSC API;
``exchange``: the document exchange node (edXML packages, inboxes)."""

_DUMMY_HASH = token_hash("esign-no-such-client")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{3,64}")
FAILED_LOGIN_WINDOW_SECONDS = 60.0
FAILED_LOGIN_NAMES_PER_WINDOW = 20
"""Failed logins are aggregated: per window, one audit event per presented client id for at most this
many ids, then one for all the others together (``client:*``)."""


def shown_client_id(presented: str) -> str:
    """A presented client id as the audit log may keep it: at most 64 characters of it, every character
    outside ``[A-Za-z0-9._-]`` percent-escaped, then cut at 80 (attacker text never goes in raw)."""
    escaped = quote(presented[:64], safe="._-")
    return escaped if len(escaped) <= 80 else escaped[:79] + "~"


class _FailedLogins:
    """Counts failed logins per presented client id and says when one is worth an audit event."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._window = -1
        self._logged: set[str] = set()
        self._unlogged: dict[str, int] = {}

    def note(self, name: str, now: float) -> tuple[str, int] | None:
        """For a failure under ``name``: (the name to log, failures folded into this event) or None
        (counted, to be folded into the name's next event)."""
        window = int(now // FAILED_LOGIN_WINDOW_SECONDS)
        with self._lock:
            if window != self._window:
                self._window, self._logged = window, set()
            if name not in self._logged and len(self._logged) >= FAILED_LOGIN_NAMES_PER_WINDOW:
                name = "*"
            count = self._unlogged.pop(name, 0) + 1
            if name in self._logged:
                if len(self._unlogged) < 10_000 or name in self._unlogged:
                    self._unlogged[name] = count
                return None
            self._logged.add(name)
            return name, count


# Per database (one server has one; a test process has many).
_failed_logins: weakref.WeakKeyDictionary[Engine, _FailedLogins] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class NewClient:
    """A registered relying system with its secrets, shown once."""

    client: RelyingSystem
    client_secret: str
    webhook_secret: str


def webhook_aad(client_id: str) -> bytes:
    """Associated data of a client's sealed webhook secret."""
    return b"esign-webhook-secret:" + client_id.encode()


def create_client(
    ctx: ServerContext, *, name: str, scopes: list[str], client_id: str | None = None, actor: str
) -> NewClient:
    """Register a relying system; returns its client secret and webhook secret (shown only now)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ServiceError(f"unknown or missing scopes {unknown}; use some of {', '.join(SCOPES)}")
    client_id = client_id or f"rs_{secrets.token_hex(8)}"
    if not _CLIENT_ID.fullmatch(client_id):
        raise ServiceError("client_id: 3-64 letters, digits, '.', '_' or '-'")
    secret = new_secret()
    webhook_secret = new_secret()
    client = RelyingSystem(
        id=client_id,
        name=" ".join(name.split()) or client_id,
        secret_hash=token_hash(secret),
        scopes=" ".join(sorted(set(scopes))),
        webhook_secret_enc=ctx.sealer.seal(webhook_secret.encode(), webhook_aad(client_id)),
    )
    try:
        with ctx.db.write() as session:
            session.add(client)
            session.flush()
            audit.record(
                session, actor=actor, action="client.created", target=f"client:{client_id}", scopes=client.scopes
            )
    except IntegrityError:
        raise Conflict(f"client {client_id} already exists", code="client_exists") from None
    return NewClient(client, secret, webhook_secret)


def get_client(ctx: ServerContext, client_id: str) -> RelyingSystem:
    """A relying system by client id."""
    with ctx.db.read() as session:
        client = session.get(RelyingSystem, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


def webhook_secret(ctx: ServerContext, client: RelyingSystem) -> bytes:
    """The client's webhook HMAC key."""
    return ctx.sealer.open(client.webhook_secret_enc, webhook_aad(client.id))


def issue_access_token(
    ctx: ServerContext, *, client_id: str, client_secret: str, scope: str | None
) -> tuple[str, list[str]]:
    """OAuth2 client-credentials grant: check the secret, return a token and its granted scopes."""
    with ctx.db.read() as session:
        client = session.get(RelyingSystem, client_id[:64])
    presented = token_hash(client_secret)
    ok = equal(presented, client.secret_hash if client is not None else _DUMMY_HASH)
    if client is None or not ok or client.status != "active":
        counter = _failed_logins.setdefault(ctx.db.engine, _FailedLogins())
        noted = counter.note(shown_client_id(client_id), time.time())
        if noted is not None:
            name, failures = noted
            with ctx.db.write() as session:
                audit.record(
                    session,
                    actor="anonymous",
                    action="client.login_failed",
                    target=f"client:{name}",
                    failures=failures,
                )
        raise Unauthorized("invalid client credentials", code="invalid_client")
    allowed = client.scopes.split()
    requested = scope.split() if scope else allowed
    if any(s not in allowed for s in requested):
        raise Forbidden(f"scope not allowed for this client; allowed: {' '.join(allowed)}", code="invalid_scope")
    with ctx.db.write() as session:
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="client.token_issued",
            target=f"client:{client_id}",
            scopes=" ".join(requested),
        )
    return ctx.tokens.issue(client.id, requested), requested


def rotate_secret(ctx: ServerContext, *, client_id: str, actor: str) -> str:
    """A new client secret (shown only now); the old one stops working at once. Access tokens already
    issued stay valid until they expire (``ESIGN_ACCESS_TOKEN_TTL_SECONDS``)."""
    secret = new_secret()
    with ctx.db.write() as session:
        client = session.exec(select(RelyingSystem).where(RelyingSystem.id == client_id).with_for_update()).first()
        if client is None:
            raise NotFound(f"no client {client_id}")
        client.secret_hash = token_hash(secret)
        session.add(client)
        audit.record(session, actor=actor, action="client.secret_rotated", target=f"client:{client_id}")
    return secret


def set_status(ctx: ServerContext, *, client_id: str, active: bool, actor: str) -> RelyingSystem:
    """Disable a relying system (no new access token; tokens already issued expire on their own) or
    enable it again."""
    status = "active" if active else "disabled"
    with ctx.db.write() as session:
        client = session.exec(select(RelyingSystem).where(RelyingSystem.id == client_id).with_for_update()).first()
        if client is None:
            raise NotFound(f"no client {client_id}")
        if client.status != status:
            client.status = status
            session.add(client)
            audit.record(
                session,
                actor=actor,
                action="client.enabled" if active else "client.disabled",
                target=f"client:{client_id}",
            )
    return client


def list_clients(ctx: ServerContext) -> list[RelyingSystem]:
    """Every relying system, by name."""
    with ctx.db.read() as session:
        return list(session.exec(select(RelyingSystem).order_by(col(RelyingSystem.name))).all())
