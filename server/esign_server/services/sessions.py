"""Signing sessions: pending until the user's phone confirms with a TOTP code, then signed once.

States: ``pending`` -> ``signed`` | ``rejected`` | ``expired`` | ``failed``. Every step is one
transaction. A confirmation locks the session row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
transactions start ``IMMEDIATE``) and finishes with a conditional ``UPDATE ... WHERE status =
'pending'``, so two concurrent confirmations never both sign. What is signed is exactly the items
stored with the session: the confirmation is bound to their digest (``items_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from pydantic_core import PydanticUndefined
from sqlalchemy import bindparam, exists, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from esign.algorithms import (
    DigestAlgorithm,
    SignatureAlgorithm,
    SignatureScheme,
    digest_algorithm,
    signature_algorithm_from_oid,
)
from esign.errors import EsignError, InvalidInput, KeyAccessError, SigningError
from esign.identity import mask_personal_numbers
from esign_server.crypto import token_hash
from esign_server.db import StepTransaction, detached, rows_changed, utcnow
from esign_server.models import (
    Credential,
    CredentialPasskeyPolicy,
    Device,
    RelyingSystem,
    RelyingSystemGrant,
    SessionDocument,
    SigningSession,
)
from esign_server.services import audit, push, webhooks
from esign_server.services.credentials import default_signature_algorithm
from esign_server.services.devices import check_otp, otp_error
from esign_server.services.documents import DocumentIn, PreparedDocument, finish_document, prepare_document
from esign_server.services.errors import Conflict, Forbidden, NotFound, ServiceError, TooManyRequests, Unauthorized
from esign_server.services.grants import holder_if_granted

if TYPE_CHECKING:
    from esign_server.context import ServerContext

PENDING, SIGNED, REJECTED, EXPIRED, FAILED = "pending", "signed", "rejected", "expired", "failed"
TERMINAL = (SIGNED, REJECTED, EXPIRED, FAILED)
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PENDING_RETRY_AFTER_SECONDS = 30
"""``Retry-After`` when a relying system has too many pending requests for one user."""


@dataclass(frozen=True)
class HashItem:
    """One DTBS digest to sign, with a name shown on the phone."""

    name: str
    digest: bytes


def items_digest(algorithm: DigestAlgorithm, items: Sequence[HashItem]) -> str:
    """SHA-256 over the digest algorithm and every digest in order: what a confirmation binds to."""
    h = hashlib.sha256(f"esign-items\n{algorithm.value}\n{len(items)}\n".encode())
    for item in items:
        h.update(item.digest.hex().encode() + b"\n")
    return h.hexdigest()


def confirmation_code(session_id: str, digest_hex: str) -> str:
    """A short code derived from the items (and the session): shown by the relying system and the phone."""
    raw = hashlib.sha256(f"esign-confirmation\n{session_id}\n{digest_hex}".encode()).digest()
    number = int.from_bytes(raw[:8], "big")
    chars = []
    for _ in range(6):
        number, index = divmod(number, len(_CODE_ALPHABET))
        chars.append(_CODE_ALPHABET[index])
    return "".join(chars[:3]) + "-" + "".join(chars[3:])


def fingerprint(digest_hex: str) -> str:
    """The first 64 bits of the items digest, grouped for reading aloud: ``3f2a 9c01 ...``."""
    return " ".join(digest_hex[i : i + 4] for i in range(0, 16, 4))


def resolve_algorithm(credential: Credential, digest: DigestAlgorithm, signature_oid: str | None) -> SignatureAlgorithm:
    """The signature algorithm for a credential: by OID when asked, else the key's default with ``digest``."""
    return _resolve_algorithm(credential.public_key_der, credential.key_algorithm, digest, signature_oid)


@lru_cache(maxsize=1024)
def _key_default_algorithm(public_key_der: bytes) -> SignatureAlgorithm:
    """A public key's usual signature algorithm (parsed once per key: a key's type never changes)."""
    return default_signature_algorithm(serialization.load_der_public_key(public_key_der))


def _resolve_algorithm(
    public_key_der: bytes, key_algorithm: str, digest: DigestAlgorithm, signature_oid: str | None
) -> SignatureAlgorithm:
    default = _key_default_algorithm(bytes(public_key_der))
    if signature_oid is None:
        return SignatureAlgorithm(default.scheme, digest)
    algorithm = signature_algorithm_from_oid(signature_oid)
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        algorithm = SignatureAlgorithm(SignatureScheme.RSA_PSS, digest)
    rsa_key = default.scheme is SignatureScheme.RSA_PKCS1V15
    if rsa_key != (algorithm.scheme in (SignatureScheme.RSA_PKCS1V15, SignatureScheme.RSA_PSS)):
        raise InvalidInput(f"signature algorithm {signature_oid} does not fit a {key_algorithm} key")
    if algorithm.digest is not digest:
        raise InvalidInput(
            f"signature algorithm {signature_oid} uses {algorithm.digest.value}, items are {digest.value}"
        )
    return algorithm


def _stored_item(item: HashItem, document: SessionDocument | None) -> dict[str, Any]:
    stored = {"name": item.name, "digest": base64.b64encode(item.digest).decode()}
    if document is not None:
        stored["format"] = document.format
        if document.options.get("preset"):  # the phone offers a preview of where the mark goes
            stored["preset"] = str(document.options["preset"])
    return stored


def _request_hash(**fields: Any) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


_CREDENTIALS = Credential.__table__  # type: ignore[attr-defined]
_DEVICES = Device.__table__  # type: ignore[attr-defined]
_GRANTS = RelyingSystemGrant.__table__  # type: ignore[attr-defined]
_PENDING_OF = SigningSession.__table__.alias("pending_of")  # type: ignore[attr-defined]
# What a new session needs to know of its credential, in one prebuilt statement (not the whole row).
_CREDENTIAL_FOR_SESSION_STATEMENT = sa_select(
    _CREDENTIALS.c.status,
    _CREDENTIALS.c.user_id,
    _CREDENTIALS.c.key_algorithm,
    _CREDENTIALS.c.public_key_der,
    _CREDENTIALS.c.certificate_der.is_not(None).label("has_certificate"),
    exists().where(_DEVICES.c.user_id == _CREDENTIALS.c.user_id, _DEVICES.c.status == "active").label("has_device"),
    exists()
    .where(_GRANTS.c.client_id == bindparam("client_id"), _GRANTS.c.user_id == _CREDENTIALS.c.user_id)
    .label("granted"),
    sa_select(func.count())
    .where(
        _PENDING_OF.c.client_id == bindparam("client_id"),
        _PENDING_OF.c.user_id == _CREDENTIALS.c.user_id,
        _PENDING_OF.c.status == PENDING,
        _PENDING_OF.c.expires_at > bindparam("now", type_=_PENDING_OF.c.expires_at.type),
    )
    .scalar_subquery()
    .label("pending"),
).where(_CREDENTIALS.c.id == bindparam("id"))
_RECENT = SigningSession.__table__  # type: ignore[attr-defined]
# Reads the pair's last hour through its index: at most the limit's worth of rows, since refused
# requests leave none (a limit of 0 turns the check, and this statement, off).
_LAST_HOUR_OF_PAIR = sa_select(func.count()).where(
    _RECENT.c.client_id == bindparam("client_id"),
    _RECENT.c.user_id == bindparam("user_id"),
    _RECENT.c.created_at > bindparam("hour_ago", type_=_RECENT.c.created_at.type),
)
_CREDENTIAL_FOR_SESSION = _CREDENTIAL_FOR_SESSION_STATEMENT
_SESSION_COLUMNS = [c.name for c in SigningSession.__table__.columns]  # type: ignore[attr-defined]
# The model's plain defaults (status pending, no signatures yet, ...), so the INSERT below keeps to them.
_SESSION_DEFAULTS = {
    name: field.default
    for name, field in SigningSession.model_fields.items()
    if field.default is not PydanticUndefined and field.default_factory is None
}
_INSERT_SESSION = insert(SigningSession.__table__)  # type: ignore[attr-defined]


def create_session(
    ctx: ServerContext,
    *,
    client_id: str,
    credential_id: str,
    items: Sequence[HashItem],
    digest: str = "sha256",
    signature_algorithm: str | None = None,
    description: str | None = None,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    ttl_seconds: int | None = None,
    kind: str = "hash",
    documents: Sequence[DocumentIn] = (),
    prepared: Sequence[PreparedDocument] = (),
    documents_fingerprint: Sequence[str] = (),
) -> tuple[SigningSession, bool]:
    """Create a pending session; returns it and whether it is new (False: replayed idempotency key).

    Either ``items`` (digests) or ``documents`` (whole PDF/XML files, prepared here).
    """
    if documents:
        if items:
            raise ServiceError("give items (hashes) or documents, not both")
        return _create_document_session(
            ctx,
            client_id=client_id,
            credential_id=credential_id,
            documents=documents,
            description=description,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            ttl_seconds=ttl_seconds,
        )
    new = _NewSession.of(
        ctx,
        client_id=client_id,
        credential_id=credential_id,
        items=items,
        digest=digest,
        signature_algorithm=signature_algorithm,
        description=description,
        callback_url=callback_url,
        idempotency_key=idempotency_key,
        ttl_seconds=ttl_seconds,
        kind=kind,
        prepared=prepared,
    )
    try:
        with ctx.db.write() as session:
            made = new.write(session)
    except IntegrityError as exc:
        return new.after_race(ctx, exc)
    return new.settle(ctx, made)


@dataclass(frozen=True)
class _NewSession:
    """A checked request for a session, to be written in a transaction (:meth:`write`)."""

    client_id: str
    credential_id: str
    session_id: str
    items: Sequence[HashItem]
    digest: DigestAlgorithm
    signature_algorithm: str | None
    ttl: int
    kind: str
    description: str | None
    callback_url: str | None
    idempotency_key: str | None
    request_hash: str
    bound: str
    prepared: Sequence[PreparedDocument]
    max_pending: int
    max_per_hour: int

    @classmethod
    def of(
        cls,
        ctx: ServerContext,
        *,
        client_id: str,
        credential_id: str,
        items: Sequence[HashItem],
        digest: str = "sha256",
        signature_algorithm: str | None = None,
        description: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        ttl_seconds: int | None = None,
        kind: str = "hash",
        prepared: Sequence[PreparedDocument] = (),
    ) -> _NewSession:
        """Check the request (before any transaction)."""
        if not items:
            raise ServiceError("a session needs at least one item")
        if len(items) > ctx.settings.max_items_per_session:
            raise ServiceError(f"at most {ctx.settings.max_items_per_session} items per session")
        alg = digest_algorithm(digest)
        for index, item in enumerate(items):
            if len(item.digest) != alg.digest_size:
                raise InvalidInput(
                    f"item {index}: a {alg.value} digest is {alg.digest_size} bytes, got {len(item.digest)}"
                )
        ttl = ttl_seconds or ctx.settings.session_ttl_seconds
        if not 10 <= ttl <= 86_400:
            raise ServiceError("ttl_seconds must be between 10 and 86400")
        if callback_url is not None:
            webhooks.require_registered(ctx, client_id=client_id, url=callback_url)
        request_hash = _request_hash(
            credential_id=credential_id,
            digest=alg.value,
            sig=signature_algorithm,
            description=description,
            callback=callback_url,
            ttl=ttl_seconds,
            kind=kind,
            items=[(i.name, i.digest.hex()) for i in items],
        )
        return cls(
            client_id,
            credential_id,
            str(uuid.uuid4()),
            items,
            alg,
            signature_algorithm,
            ttl,
            kind,
            description,
            callback_url,
            idempotency_key,
            request_hash,
            items_digest(alg, items),
            prepared,
            ctx.settings.max_pending_per_client_user,
            ctx.settings.max_sessions_per_client_user_per_hour,
        )

    def write(self, session: StepTransaction) -> SigningSession | _Replay:
        """Insert the session (and its audit event) in ``session``'s transaction, or find the earlier
        session the idempotency key names (:meth:`settle` tells them apart)."""
        if self.idempotency_key is not None:
            existing = _by_idempotency_key(session, self.client_id, self.idempotency_key)
            if existing is not None:
                return _Replay(_replayed(existing, self.request_hash))
        now = utcnow()
        cred = session.execute(
            _CREDENTIAL_FOR_SESSION, {"id": self.credential_id, "client_id": self.client_id, "now": now}
        ).first()
        if cred is None or not cred.granted:
            # Another user's credential reads as no credential at all: a relying system acts only for
            # the users who authorised it (services.grants).
            raise NotFound(f"no credential {self.credential_id}", code="credential_not_found")
        last_hour = 0
        if self.max_per_hour:
            pair = {"client_id": self.client_id, "user_id": cred.user_id, "hour_ago": now - timedelta(hours=1)}
            last_hour = session.execute(_LAST_HOUR_OF_PAIR, pair).scalar_one()
        if self.max_per_hour and last_hour >= self.max_per_hour:
            raise TooManyRequests(
                f"this relying system already asked this user {last_hour} times in the last hour",
                code="too_many_sessions",
                retry_after=PENDING_RETRY_AFTER_SECONDS,
            )
        if cred.pending >= self.max_pending:
            raise TooManyRequests(
                f"this relying system already has {cred.pending} pending requests for this user",
                code="too_many_pending",
                retry_after=PENDING_RETRY_AFTER_SECONDS,
            )
        if cred.status != "active" or not cred.has_certificate:
            raise Conflict(f"credential {self.credential_id} is {cred.status}", code="credential_not_active")
        if not cred.has_device:
            raise Conflict("the credential's holder has no enrolled device to confirm with", code="no_active_device")
        algorithm = _resolve_algorithm(cred.public_key_der, cred.key_algorithm, self.digest, self.signature_algorithm)
        prepared = self.prepared
        values: dict[str, Any] = {
            **_SESSION_DEFAULTS,
            "id": self.session_id,
            "client_id": self.client_id,
            "user_id": cred.user_id,
            "credential_id": self.credential_id,
            "kind": self.kind,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.ttl),
            "digest_algorithm": self.digest.value,
            "signature_algorithm": algorithm.oid,
            "items": [_stored_item(i, prepared[n].row if prepared else None) for n, i in enumerate(self.items)],
            "items_digest": self.bound,
            "confirmation_code": confirmation_code(self.session_id, self.bound),
            "description": self.description,
            "callback_url": self.callback_url,
            "idempotency_key": self.idempotency_key,
            "request_hash": self.request_hash,
        }
        # A driver-level INSERT: the ORM's unit of work costs more CPU than the rest of the step.
        session.execute(_INSERT_SESSION, values)
        row = detached(SigningSession, values)
        for doc in prepared:
            doc.row.session_id = self.session_id
            session.add(doc.row)
        audit.record(
            session,
            actor=f"client:{self.client_id}",
            action="session.created",
            target=f"session:{self.session_id}",
            credential_id=self.credential_id,
            items=len(self.items),
            items_digest=self.bound,
            kind=self.kind,
        )
        return row

    def settle(self, ctx: ServerContext, made: SigningSession | _Replay) -> tuple[SigningSession, bool]:
        """Once :meth:`write` has committed: tell the user's phone; the session and whether it is new."""
        if isinstance(made, _Replay):
            return made.session, False
        ctx.events.publish(f"user:{made.user_id}", f"session:{made.id}")
        push.announce(ctx, made)  # Web Push to the user's phones, in the background
        return made, True

    def after_race(self, ctx: ServerContext, error: IntegrityError) -> tuple[SigningSession, bool]:
        """:meth:`write` failed on a unique key: two requests with the same idempotency key raced, and
        the other one won (or, with no such session, the error stands)."""
        existing = None
        if self.idempotency_key is not None:
            with ctx.db.read() as session:
                existing = _by_idempotency_key(session, self.client_id, self.idempotency_key)
        if existing is None:
            raise error
        return _replayed(existing, self.request_hash), False


@dataclass(frozen=True)
class _Replay:
    """An idempotency key's earlier session, found by :meth:`_NewSession.write`."""

    session: SigningSession


def _create_document_session(
    ctx: ServerContext, *, client_id: str, credential_id: str, documents: Sequence[DocumentIn], **options: Any
) -> tuple[SigningSession, bool]:
    if len(documents) > ctx.settings.max_items_per_session:
        raise ServiceError(f"at most {ctx.settings.max_items_per_session} documents per session")
    cred = holder_if_granted(ctx, client_id=client_id, credential_id=credential_id)
    if cred is None:
        raise NotFound(f"no credential {credential_id}", code="credential_not_found")
    if cred.status != "active" or cred.certificate_der is None:
        raise Conflict(f"credential {credential_id} is {cred.status}", code="credential_not_active")
    fingerprint_ = [hashlib.sha256(d.format.encode() + d.content).hexdigest() for d in documents]
    key = options.get("idempotency_key")
    if key is not None:
        with ctx.db.read() as session:
            existing = _by_idempotency_key(session, client_id, key)
        if existing is not None:
            # Prepared documents differ each time (time, ids): the replay is judged on the inputs.
            return _replayed(existing, _document_request_hash(credential_id, documents, fingerprint_, options)), False
    prepared = [prepare_document(ctx, cred, n, d) for n, d in enumerate(documents)]
    oids = {p.signature_algorithm_oid for p in prepared}
    if len(oids) != 1:
        raise ServiceError("all documents of a session must be signed with one signature algorithm")
    items = [HashItem(d.name, p.digest) for d, p in zip(documents, prepared, strict=True)]
    row, created = create_session(
        ctx,
        client_id=client_id,
        credential_id=credential_id,
        items=items,
        signature_algorithm=oids.pop(),
        kind="document",
        prepared=prepared,
        **options,
    )
    if created:
        with ctx.db.write() as session:
            session.execute(
                update(SigningSession)
                .where(col(SigningSession.id) == row.id)
                .values(request_hash=_document_request_hash(credential_id, documents, fingerprint_, options))
            )
    return row, created


def _document_request_hash(
    credential_id: str, documents: Sequence[DocumentIn], fingerprints: Sequence[str], options: dict[str, Any]
) -> str:
    return _request_hash(
        credential_id=credential_id,
        documents=[(d.name, d.options, f) for d, f in zip(documents, fingerprints, strict=True)],
        **{k: v for k, v in options.items() if k != "idempotency_key"},
    )


def document_rows(ctx: ServerContext, session_id: str) -> list[SessionDocument]:
    """The documents of a session, in order."""
    with ctx.db.read() as session:
        return list(
            session.exec(
                select(SessionDocument)
                .where(SessionDocument.session_id == session_id)
                .order_by(col(SessionDocument.index))
            ).all()
        )


def _by_idempotency_key(session: StepTransaction, client_id: str, key: str) -> SigningSession | None:
    found = session.execute(_BY_IDEMPOTENCY_KEY, {"client_id": client_id, "key": key}).first()
    return detached(SigningSession, found._asdict()) if found is not None else None


def _replayed(existing: SigningSession, request_hash: str) -> SigningSession:
    if existing.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_conflict")
    return existing


def _read_session(ctx: ServerContext, session_id: str) -> SigningSession | None:
    with ctx.db.read() as conn:
        found = conn.execute(_SESSION_BY_ID, {"id": session_id}).first()
    return detached(SigningSession, found._asdict()) if found is not None else None


def get_for_client(ctx: ServerContext, *, client_id: str, session_id: str) -> SigningSession:
    """A session of this relying system (another system's session is 'not found')."""
    row = _read_session(ctx, session_id)
    if row is None or row.client_id != client_id:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    return _expire_if_due(ctx, row)


def get_for_user(ctx: ServerContext, *, user_id: str, session_id: str) -> SigningSession:
    """A session of this user (for the user's devices)."""
    row = _read_session(ctx, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    return _expire_if_due(ctx, row)


_SESSIONS = SigningSession.__table__  # type: ignore[attr-defined]
# A plain table UPDATE (a Core statement, not an ORM-enabled one): the SET values come per call.
_FINISH = update(_SESSIONS).where(_SESSIONS.c.id == bindparam("row_id"), _SESSIONS.c.status == PENDING)
_SESSION_BY_ID = sa_select(_SESSIONS).where(_SESSIONS.c.id == bindparam("id"))
_BY_IDEMPOTENCY_KEY = sa_select(_SESSIONS).where(
    _SESSIONS.c.client_id == bindparam("client_id"), _SESSIONS.c.idempotency_key == bindparam("key")
)


def _finish(session: StepTransaction, row: SigningSession, status: str, *, now: datetime, **values: Any) -> bool:
    """Move a pending session to ``status`` with a conditional UPDATE; True when this call did it."""
    params = {"status": status, "completed_at": now, **values}
    result = session.execute(_FINISH.values(**params), {"row_id": row.id})
    if rows_changed(result) != 1:
        return False
    row.status = status
    row.completed_at = now
    for key, value in values.items():
        setattr(row, key, value)
    # The webhook is queued in the same transaction (or savepoint) as the final state: both commit or
    # neither does, so a crash cannot end a session without its webhook.
    webhooks.enqueue_in(session, row)
    return True


def _expire_if_due(ctx: ServerContext, row: SigningSession) -> SigningSession:
    if row.status != PENDING or row.expires_at > utcnow():
        return row
    with ctx.db.write() as session:
        if _finish(session, row, EXPIRED, now=utcnow(), reason="not confirmed in time"):
            audit.record(session, actor="system", action="session.expired", target=f"session:{row.id}")
            done = True
        else:
            done = False
    if done:
        _after_terminal(ctx, row)
        return row
    with ctx.db.read() as session:
        fresh = session.get(SigningSession, row.id)
    return fresh or row


def expire_due(ctx: ServerContext, *, limit: int = 500) -> int:
    """Expire every overdue pending session (run periodically); returns how many this call expired."""
    now = utcnow()
    with ctx.db.read() as session:
        due = session.exec(
            select(SigningSession)
            .where(SigningSession.status == PENDING, col(SigningSession.expires_at) <= now)
            .limit(limit)
        ).all()
    count = 0
    for row in due:
        if _expire_if_due(ctx, row).status == EXPIRED:
            count += 1
    return count


_LOCK_SESSION = sa_select(_SESSIONS).where(_SESSIONS.c.id == bindparam("session_id")).with_for_update()


def _locked(session: StepTransaction, session_id: str, user_id: str) -> SigningSession:
    found = session.execute(_LOCK_SESSION, {"session_id": session_id}).first()
    if found is None or found.user_id != user_id:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    # Not in the ORM session: changes go through conditional UPDATEs only.
    return detached(SigningSession, found._asdict())


def _state_conflict(row: SigningSession) -> Conflict:
    return Conflict(f"the session is already {row.status}", code=f"session_{row.status}", status_value=row.status)


def sign_items(ctx: ServerContext, credential: Credential, row: SigningSession) -> list[str]:
    """Sign the session's stored digests with the credential's key; base64 signatures in order."""
    algorithm = signature_algorithm_from_oid(row.signature_algorithm)
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        algorithm = SignatureAlgorithm(SignatureScheme.RSA_PSS, DigestAlgorithm(row.digest_algorithm))
    store = ctx.keystore(credential.keystore)
    return [
        base64.b64encode(
            store.sign_digest(credential.id, credential.key_ref, base64.b64decode(item["digest"]), algorithm)
        ).decode()
        for item in row.items
    ]


@dataclass(frozen=True)
class DeviceRef:
    """What a confirmation needs to know of the device: its id (empty: any of the user's) and its user."""

    id: str
    user_id: str


_DEVICE_BY_TOKEN = sa_select(_DEVICES.c.id, _DEVICES.c.user_id, _DEVICES.c.status).where(
    _DEVICES.c.device_token_hash == bindparam("token_hash")
)


def confirm(ctx: ServerContext, *, device: Device, session_id: str, code: str) -> SigningSession:
    """The user's phone confirms with a TOTP code: on success the items are signed, once."""
    return _confirm(ctx, device, None, session_id, code)


def confirm_with_relayed_code(ctx: ServerContext, *, user_id: str, session_id: str, code: str) -> SigningSession:
    """:func:`confirm` with a code the relying system passed on (CSC ``credentials/authorize`` with an
    OTP): accepted from any active device of the user, counted against that relying system."""
    return _confirm(ctx, DeviceRef("", user_id), None, session_id, code)


def confirm_with_token(ctx: ServerContext, *, device_token: str, session_id: str, code: str) -> SigningSession:
    """:func:`confirm` for a phone presenting its device token, checked inside the step's transaction.

    The same outcome as :func:`~esign_server.services.devices.authenticate_device` then :func:`confirm`,
    with one transaction fewer on the hottest path of a session.
    """
    return _confirm(ctx, None, device_token, session_id, code)


def _confirm(
    ctx: ServerContext, device: Device | DeviceRef | None, device_token: str | None, session_id: str, code: str
) -> SigningSession:
    with ctx.db.write() as session:
        outcome = _confirm_in(ctx, session, device, device_token, session_id, code)
    return outcome.settle(ctx)


@dataclass(frozen=True)
class _Confirmation:
    """What a confirmation's transaction decided, acted on once it has committed."""

    row: SigningSession
    error: EsignError | None
    terminal: bool

    def settle(self, ctx: ServerContext) -> SigningSession:
        """Announce a finished session (events, webhook); raise the refusal the transaction recorded."""
        if self.terminal:
            _after_terminal(ctx, self.row)
        if self.error is not None:
            raise self.error
        return self.row


def _confirm_in(
    ctx: ServerContext,
    session: StepTransaction,
    device: Device | DeviceRef | None,
    device_token: str | None,
    session_id: str,
    code: str,
) -> _Confirmation:
    """A confirmation's statements, in ``session``'s transaction. Raises what undoes the whole step; a
    wrong code or an expired session is recorded (committed) and then refused (:meth:`_Confirmation.settle`)."""
    if device is None:
        found = session.execute(_DEVICE_BY_TOKEN, {"token_hash": token_hash(device_token or "")}).first()
        if found is None or found.status != "active":
            raise Unauthorized("invalid device token", code="invalid_device")
        device = DeviceRef(found.id, found.user_id)
    row = _locked(session, session_id, device.user_id)
    now = utcnow()
    if row.status != PENDING:
        raise _state_conflict(row)
    if row.expires_at <= now:
        _finish(session, row, EXPIRED, now=now, reason="not confirmed in time")
        audit.record(session, actor="system", action="session.expired", target=f"session:{row.id}")
        expired = Conflict("the session has expired", code="session_expired", status_value=EXPIRED)
        return _Confirmation(row, expired, True)
    if session.execute(_PASSKEY_REQUIRED, {"credential_id": row.credential_id}).scalar():
        actor = f"device:{device.id}" if device.id else f"client:{row.client_id}"
        audit.record(session, actor=actor, action="session.totp_refused", target=f"session:{row.id}")
        refused = Forbidden("this credential is confirmed with a passkey only", code="passkey_required")
        return _Confirmation(row, refused, False)
    check = check_otp(
        ctx, session, user_id=row.user_id, client_id=row.client_id, code=code, now=now, device_id=device.id or None
    )
    if not check.accepted:
        # A code that was not looked at (a lockout, the user-wide slow-down) or was right but already
        # used is no guess at this session: only wrong codes count towards failing it.
        counted = check.locked_until is None and check.throttled_until is None and not check.already_used
        _otp_failure(ctx, session, row, device, not counted, now)
        return _Confirmation(row, otp_error(check), row.status == FAILED)
    if not device.id:  # a code passed on by the relying system: the device it came from confirmed
        device = DeviceRef(check.device_id or "", device.user_id)
    return _Confirmation(row, _sign_and_finish(ctx, session, row, device, now), True)


def confirm_verified(
    ctx: ServerContext, *, device_id: str, user_id: str, session_id: str, items_digest: str, method: str
) -> SigningSession:
    """Sign a session whose confirmation was verified by ``method`` (a passkey assertion over a challenge
    bound to ``items_digest``, see :mod:`esign_server.services.passkeys`): the items are signed once.

    :raises Conflict: the session is no longer pending, has expired, or holds other items.
    """
    with ctx.db.write() as session:
        row = _locked(session, session_id, user_id)
        now = utcnow()
        if row.status != PENDING:
            raise _state_conflict(row)
        if row.items_digest != items_digest:
            raise Conflict("the confirmation was made for other items", code="session_conflict")
        if row.expires_at <= now:
            _finish(session, row, EXPIRED, now=now, reason="not confirmed in time")
            audit.record(session, actor="system", action="session.expired", target=f"session:{row.id}")
            expired = Conflict("the session has expired", code="session_expired", status_value=EXPIRED)
            outcome = _Confirmation(row, expired, True)
        else:
            device = DeviceRef(device_id, user_id)
            outcome = _Confirmation(row, _sign_and_finish(ctx, session, row, device, now, method), True)
    return outcome.settle(ctx)


def _otp_failure(
    ctx: ServerContext,
    session: StepTransaction,
    row: SigningSession,
    device: Device | DeviceRef,
    uncounted: bool,
    now: datetime,
) -> None:
    """Count a wrong code against the session (one not looked at, or right but already used, is not)."""
    actor = f"device:{device.id}" if device.id else f"client:{row.client_id}"
    audit.record(session, actor=actor, action="session.otp_failed", target=f"session:{row.id}", locked=uncounted)
    if uncounted:
        return
    failures = row.otp_failures + 1
    if failures >= ctx.settings.otp_max_attempts:
        _finish(
            session, row, FAILED, now=now, otp_failures=failures, device_id=device.id, reason="too many wrong codes"
        )
        audit.record(
            session, actor="system", action="session.failed", target=f"session:{row.id}", reason="too many wrong codes"
        )
    else:
        session.execute(_COUNT_OTP_FAILURE, {"row_id": row.id, "failures": failures})
        row.otp_failures = failures


_CREDENTIAL_BY_ID = sa_select(_CREDENTIALS).where(_CREDENTIALS.c.id == bindparam("id"))
_POLICIES = CredentialPasskeyPolicy.__table__  # type: ignore[attr-defined]
_PASSKEY_REQUIRED = sa_select(_POLICIES.c.require_passkey).where(
    _POLICIES.c.credential_id == bindparam("credential_id")
)
_COUNT_OTP_FAILURE = (
    update(_SESSIONS).where(_SESSIONS.c.id == bindparam("row_id")).values(otp_failures=bindparam("failures"))
)
_DOCUMENTS = SessionDocument.__table__  # type: ignore[attr-defined]
_DOCUMENTS_OF = (
    sa_select(_DOCUMENTS).where(_DOCUMENTS.c.session_id == bindparam("session_id")).order_by(_DOCUMENTS.c.index)
)
_STORE_SIGNED_DOCUMENT = (
    update(_DOCUMENTS)
    .where(_DOCUMENTS.c.session_id == bindparam("doc_session"), _DOCUMENTS.c.index == bindparam("doc_index"))
    .values(signed_content=bindparam("signed"))
)


def _sign_and_finish(
    ctx: ServerContext,
    session: StepTransaction,
    row: SigningSession,
    device: Device | DeviceRef,
    now: datetime,
    method: str = "totp",
) -> EsignError | None:
    found = session.execute(_CREDENTIAL_BY_ID, {"id": row.credential_id}).first()
    credential = detached(Credential, found._asdict()) if found is not None else None
    if credential is None or credential.status != "active":
        _finish(session, row, FAILED, now=now, device_id=device.id, reason="credential is no longer active")
        audit.record(
            session, actor="system", action="session.failed", target=f"session:{row.id}", reason="credential not active"
        )
        return Conflict("the credential is no longer active", code="credential_not_active")
    if row.kind == "csc":
        # A CSC authorization: the confirmation is the Signature Activation Data for these hashes;
        # signatures/signHash signs them later, once (services.csc).
        if not _finish(session, row, SIGNED, now=now, device_id=device.id):
            raise Conflict("the session was completed by another request", code="session_conflict")
        audit.record(
            session,
            actor=f"device:{device.id}",
            action="session.signed",
            target=f"session:{row.id}",
            credential_id=credential.id,
            items=len(row.items),
            items_digest=row.items_digest,
            method=method,
            signatures_deferred_to="csc.signHash",
        )
        return None
    try:
        signatures = sign_items(ctx, credential, row)
        if row.kind == "document":
            for found_doc in session.execute(_DOCUMENTS_OF, {"session_id": row.id}).all():
                doc = detached(SessionDocument, found_doc._asdict())
                signed = finish_document(ctx, credential, doc, base64.b64decode(signatures[doc.index]))
                session.execute(
                    _STORE_SIGNED_DOCUMENT, {"doc_session": row.id, "doc_index": doc.index, "signed": signed}
                )
    except KeyAccessError:
        # The key store is out of reach (HSM token removed, connection lost): not the session's fault.
        # Raising rolls the whole step back, the OTP step included: the session stays pending and
        # the user can confirm again once the key store is back (the API answers 503 + Retry-After).
        raise
    except EsignError as exc:
        _finish(session, row, FAILED, now=now, device_id=device.id, reason=f"signing failed: {exc.message}"[:500])
        audit.record(
            session,
            actor="system",
            action="session.failed",
            target=f"session:{row.id}",
            reason=mask_personal_numbers(exc.message),
        )
        return SigningError(f"signing failed: {exc.message}")
    if not _finish(session, row, SIGNED, now=now, device_id=device.id, signatures=signatures):
        raise Conflict("the session was completed by another request", code="session_conflict")
    audit.record(
        session,
        actor=f"device:{device.id}",
        action="session.signed",
        target=f"session:{row.id}",
        credential_id=credential.id,
        items=len(signatures),
        items_digest=row.items_digest,
        method=method,
    )
    return None


def reject(ctx: ServerContext, *, device: Device, session_id: str, reason: str | None) -> SigningSession:
    """The user declines on the phone (no code needed to say no)."""
    with ctx.db.write() as session:
        row = _locked(session, session_id, device.user_id)
        if row.status != PENDING:
            raise _state_conflict(row)
        text = (reason or "rejected by the user").strip()[:500]
        _finish(session, row, REJECTED, now=utcnow(), device_id=device.id, reason=text)
        audit.record(
            session,
            actor=f"device:{device.id}",
            action="session.rejected",
            target=f"session:{row.id}",
            reason=mask_personal_numbers(text),  # free text typed by the user
        )
    _after_terminal(ctx, row)
    return row


def cancel(ctx: ServerContext, *, client_id: str, session_id: str) -> SigningSession:
    """The relying system withdraws a pending request (it ends as ``rejected``)."""
    with ctx.db.write() as session:
        row = session.exec(select(SigningSession).where(SigningSession.id == session_id).with_for_update()).first()
        if row is None or row.client_id != client_id:
            raise NotFound(f"no session {session_id}", code="session_not_found")
        session.expunge(row)
        if row.status != PENDING:
            raise _state_conflict(row)
        _finish(session, row, REJECTED, now=utcnow(), reason="cancelled by the relying system")
        audit.record(session, actor=f"client:{client_id}", action="session.cancelled", target=f"session:{row.id}")
    _after_terminal(ctx, row)
    return row


def withdraw(ctx: ServerContext, *, client_id: str, session_id: str, reason: str) -> None:
    """End a relying system's pending session as ``failed`` (its request was answered otherwise); a
    session that is no longer pending is left as it is."""
    with ctx.db.write() as session:
        row = session.exec(select(SigningSession).where(SigningSession.id == session_id).with_for_update()).first()
        if row is None or row.client_id != client_id or row.status != PENDING:
            return
        session.expunge(row)
        _finish(session, row, FAILED, now=utcnow(), reason=reason[:500])
        audit.record(
            session, actor=f"client:{client_id}", action="session.failed", target=f"session:{row.id}", reason=reason
        )
    _after_terminal(ctx, row)


MAX_PENDING_SHOWN = 2000
"""A bound on a user's pending list (each relying system may keep ``max_pending_per_client_user`` open)."""


def list_for_user(ctx: ServerContext, *, user_id: str, pending: bool, limit: int = 50) -> list[SigningSession]:
    """Every pending request of a user, by relying system then oldest first (``limit`` is not applied:
    no relying system may push another's request off the phone), or past ones (newest first)."""
    with ctx.db.read() as session:
        query = select(SigningSession).where(SigningSession.user_id == user_id)
        if pending:
            limit = MAX_PENDING_SHOWN
            query = query.where(SigningSession.status == PENDING, col(SigningSession.expires_at) > utcnow()).order_by(
                col(SigningSession.client_id), col(SigningSession.created_at)
            )
        else:
            query = query.where(SigningSession.status != PENDING).order_by(col(SigningSession.created_at).desc())
        return list(session.exec(query.limit(limit)).all())


def list_for_client(ctx: ServerContext, *, client_id: str, limit: int = 50) -> list[SigningSession]:
    """A relying system's recent sessions, newest first."""
    with ctx.db.read() as session:
        return list(
            session.exec(
                select(SigningSession)
                .where(SigningSession.client_id == client_id)
                .order_by(col(SigningSession.created_at).desc())
                .limit(limit)
            ).all()
        )


def relying_system_names(ctx: ServerContext, client_ids: set[str]) -> dict[str, str]:
    """Display names of relying systems."""
    if not client_ids:
        return {}
    with ctx.db.read() as session:
        rows = session.exec(select(RelyingSystem).where(col(RelyingSystem.id).in_(client_ids))).all()
    return {r.id: r.name for r in rows}


def _after_terminal(ctx: ServerContext, row: SigningSession) -> None:
    ctx.events.publish(f"session:{row.id}", f"user:{row.user_id}")
    if row.callback_url:
        webhooks.deliver_later(ctx)  # its outbox row was committed with the session's end (_finish)
