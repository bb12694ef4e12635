"""The CSC API's signing rules: authorize hashes (OTP now, or the phone later), then sign them with the SAD.

A ``credentials/authorize`` call becomes a signing session of kind ``csc`` whose items are the
hashes, so the user confirms it exactly like any other session: with the OTP passed in the call,
or later on the phone (then the caller polls ``credentials/authorizeCheck`` with the handle it got).
Once confirmed, the caller gets a Signature Activation Data (SAD): a random token whose SHA-256 is
stored. ``signatures/signHash`` then signs only hashes the SAD was issued for, no more of them than
were authorized, before the SAD expires; each step is one transaction with conditional ``UPDATE``\\s
so two workers spending the same SAD at once cannot both succeed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, insert, text, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import col, select

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, digest_algorithm
from esign.errors import EsignError, InvalidInput, KeyAccessError
from esign_server.db import StepTransaction, UTCDateTime, rows_changed, utcnow
from esign_server.models import Credential, SigningSession, User
from esign_server.models.csc import CscAuthorization, CscAuthorizedHash
from esign_server.services import audit, seals
from esign_server.services import sessions as session_service
from esign_server.services.credentials import default_signature_algorithm, public_key_of
from esign_server.services.errors import NotFound, ServiceError
from esign_server.services.grants import is_granted

if TYPE_CHECKING:
    from esign_server.context import ServerContext

SAD_TTL_SECONDS = 300
"""How long a SAD stays usable after the user's confirmation (``credentials/extendTransaction`` renews it)."""
AUTHORIZE_TTL_SECONDS = 300
"""How long an authorization waits for the phone."""
KEYSTORE_RETRY_AFTER_SECONDS = 5
"""``Retry-After`` when the key store (an HSM token) is out of reach."""


class CscError(ServiceError):
    """A refused CSC request; ``code`` is the CSC error name (``invalid_request``, ``invalid_otp`` ...)."""

    code = "invalid_request"


class InvalidSad(CscError):
    """Every SAD problem gets this one answer: unknown, another client's, expired, used up, wrong hash."""

    def __init__(self, detail: str = "the SAD is invalid, expired or used up") -> None:
        super().__init__(detail, code="invalid_request", status=400)


@dataclass(frozen=True)
class AuthorizationResult:
    """The outcome of ``credentials/authorize`` or ``credentials/authorizeCheck``."""

    authorization_id: str
    status: str
    """``pending`` (the phone has not answered yet) or ``authorized`` (``sad`` is set)."""
    expires_in: int
    """Seconds until the SAD (or, while pending, the request) expires."""
    confirmation_code: str
    """The short code the phone shows too: the client shows it to the user."""
    sad: str | None = None


@dataclass(frozen=True)
class HashSignatures:
    """Signatures of ``signatures/signHash``, in the order of the hashes."""

    signatures: list[bytes]
    algorithm: SignatureAlgorithm


def sad_hash(sad: str) -> str:
    """What the database keeps of a SAD."""
    return hashlib.sha256(b"esign-csc-sad\x00" + sad.encode()).hexdigest()


def _new_sad() -> str:
    return "sad_" + secrets.token_urlsafe(32)


def decode_hashes(values: Sequence[str], algorithm: DigestAlgorithm) -> list[bytes]:
    """Base64 hashes (standard or URL-safe alphabet) to bytes, each the digest length of ``algorithm``."""
    size = algorithm.digest_size
    try:
        # The usual batch, standard and padded: one strict decoder call per hash, nothing else.
        result = [binascii.a2b_base64(value, strict_mode=True) for value in values]
    except (binascii.Error, ValueError):
        result = [_decode_hash(index, value) for index, value in enumerate(values)]
    for index, raw in enumerate(result):
        if len(raw) != size:
            raise CscError(f"hashes[{index}]: a {algorithm.value} hash is {size} bytes, got {len(raw)}")
    return result


def _decode_hash(index: int, value: str) -> bytes:
    """One hash in either alphabet, padded or not."""
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
    except (ValueError, TypeError):
        raise CscError(f"hashes[{index}] is not base64") from None


def hash_algorithm_of(oid_or_name: str | None, sign_algo: str | None = None) -> DigestAlgorithm:
    """The digest algorithm named by ``hashAlgorithmOID``, or implied by ``signAlgo``, or SHA-256."""
    try:
        if oid_or_name:
            return digest_algorithm(oid_or_name)
        if sign_algo:
            from esign.algorithms import signature_algorithm_from_oid

            return signature_algorithm_from_oid(sign_algo).digest
    except InvalidInput as exc:
        raise CscError(exc.message) from None
    return DigestAlgorithm.SHA256


def hash_algorithm_by_length(value: str) -> DigestAlgorithm:
    """For v1 requests, which name no hash algorithm: the SHA-2 digest whose length the base64 hash has."""
    try:
        size = len(base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4)))
    except (ValueError, TypeError):
        size = 0
    by_size = {d.digest_size: d for d in (DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512)}
    return by_size.get(size, DigestAlgorithm.SHA256)


def authorize(
    ctx: ServerContext,
    *,
    client_id: str,
    credential_id: str,
    hashes: Sequence[bytes],
    hash_algorithm: DigestAlgorithm,
    num_signatures: int | None = None,
    otp: str | None = None,
    description: str | None = None,
    names: Sequence[str] | None = None,
) -> AuthorizationResult:
    """Authorize ``hashes`` (SCAL2): with ``otp`` at once, else the request waits for the user's phone.

    ``names``: the document behind each hash, shown on the phone (no placeholder when absent: the phone
    shows ``description`` and how many)."""
    if not hashes:
        raise CscError("SCAL2: credentials/authorize needs the hashes to be signed")
    if names is not None and len(names) != len(hashes):
        raise CscError(f"documentNames has {len(names)} names for {len(hashes)} hashes")
    if num_signatures is not None and num_signatures != len(hashes):
        raise CscError(f"numSignatures is {num_signatures} but {len(hashes)} hashes were sent")
    if len(hashes) > ctx.settings.max_items_per_session:
        raise CscError(f"at most {ctx.settings.max_items_per_session} signatures per authorization (multisign)")
    credential, seal = _credential_for(ctx, client_id=client_id, credential_id=credential_id)
    if seal:
        return _authorize_seal(ctx, client_id=client_id, credential=credential, hashes=hashes, algorithm=hash_algorithm)
    row, _ = session_service.create_session(
        ctx,
        client_id=client_id,
        credential_id=credential_id,
        items=[session_service.HashItem(names[i] if names else "", d) for i, d in enumerate(hashes)],
        digest=hash_algorithm.value,
        description=description,
        ttl_seconds=AUTHORIZE_TTL_SECONDS,
        kind="csc",
    )
    authorization_id = str(uuid.uuid4())
    with ctx.db.write() as session:
        session.add(
            CscAuthorization(
                id=authorization_id,
                session_id=row.id,
                client_id=client_id,
                credential_id=credential_id,
                hash_algorithm=hash_algorithm.value,
                num_signatures=len(hashes),
                expires_at=row.expires_at,
            )
        )
        session.flush()
        _add_authorized_hashes(session, authorization_id, hashes)
    if otp is None:
        return AuthorizationResult(authorization_id, "pending", AUTHORIZE_TTL_SECONDS, row.confirmation_code)
    try:
        session_service.confirm_with_relayed_code(ctx, user_id=row.user_id, session_id=row.id, code=otp)
    except ServiceError:
        # A refused code must not leave a request waiting on the user's phone: the relying system
        # asked for an answer now, and it got one.
        session_service.withdraw(ctx, client_id=client_id, session_id=row.id, reason="the code was refused")
        raise
    return _issue_sad(ctx, authorization_id, row)


_ADD_HASHES = insert(CscAuthorizedHash.__table__)  # type: ignore[attr-defined]  # Core executemany, no ORM bulk
_ADD_AUTHORIZATION = insert(CscAuthorization.__table__)  # type: ignore[attr-defined]


_ADD_HASHES_SQL = {
    # The statement in the driver's own parameter style: ``exec_driver_sql`` hands the rows to the
    # driver's ``executemany`` as they are, with no per-row parameter processing in SQLAlchemy (which
    # cost more than the rows' INSERT for a batch of 100 hashes).
    "qmark": "INSERT INTO csc_authorized_hashes (authorization_id, digest, allowed, used) VALUES (?, ?, ?, 0)",
    "format": "INSERT INTO csc_authorized_hashes (authorization_id, digest, allowed, used) VALUES (%s, %s, %s, 0)",
    "pyformat": "INSERT INTO csc_authorized_hashes (authorization_id, digest, allowed, used) VALUES (%s, %s, %s, 0)",
}


_ADD_HASHES_PG = (
    "INSERT INTO csc_authorized_hashes (authorization_id, digest, allowed, used) "
    "SELECT %s, d, n, 0 FROM unnest(%s::text[], %s::int[]) AS t(d, n)"
)


def _add_authorized_hashes(session: OrmSession, authorization_id: str, hashes: Sequence[bytes]) -> None:
    """The rows of the hashes an authorization covers, in one ``executemany`` (not one ORM object each)."""
    counts = Counter(d.hex() for d in hashes)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # One statement with two array parameters: psycopg's executemany sends a batch row by row
        # (a pipeline, but Python work per row that cost more than the rows' INSERT).
        conn.exec_driver_sql(_ADD_HASHES_PG, (authorization_id, list(counts), list(counts.values())))
        return
    rows = [(authorization_id, digest, count) for digest, count in counts.items()]
    sql = _ADD_HASHES_SQL.get(conn.dialect.paramstyle)
    if sql is None:  # another driver: SQLAlchemy's own executemany
        conn.execute(
            _ADD_HASHES,
            [{"authorization_id": a, "digest": d, "allowed": n, "used": 0} for a, d, n in rows],
        )
        return
    conn.exec_driver_sql(sql, rows)


def require_grant(ctx: ServerContext, *, client_id: str, credential_id: str) -> Credential:
    """The credential, when ``client_id`` may act for its holder (or use it, for a seal).

    :raises CscError: ``invalid_request`` for an unknown credential, ``access_denied`` (403) when its
        holder has not authorised this relying system (for a seal: when it is not one of the seal's).
    """
    return _credential_for(ctx, client_id=client_id, credential_id=credential_id)[0]


def _credential_for(ctx: ServerContext, *, client_id: str, credential_id: str) -> tuple[Credential, bool]:
    """:func:`require_grant`, and whether the credential is an organization seal."""
    with ctx.db.read() as session:
        credential, seal, may_use = seals.credential_and_seal(session, client_id=client_id, credential_id=credential_id)
        if credential is None:
            raise CscError(f"unknown credentialID {credential_id}")
        if seal:
            if not may_use:
                raise CscError("this relying system may not use this seal", code="access_denied", status=403)
            return credential, True
        if not is_granted(session, client_id=client_id, user_id=credential.user_id):
            raise CscError(
                "this relying system is not authorised by the credential's holder", code="access_denied", status=403
            )
    return credential, False


def is_seal(ctx: ServerContext, credential_id: str) -> bool:
    """Whether the credential is an organization seal (SCAL 1: no person confirms its signatures)."""
    with ctx.db.read() as session:
        return seals.is_seal(session, credential_id)


def _authorize_seal(
    ctx: ServerContext, *, client_id: str, credential: Credential, hashes: Sequence[bytes], algorithm: DigestAlgorithm
) -> AuthorizationResult:
    """A SAD at once for a seal's batch, within its policy; the batch is counted and audited.

    :raises seals.SealRefused: 403 (not allowed, outside the hours) or 429 (over a rate), audited.
    """
    if credential.status != "active":
        raise CscError("the credential is not active", code="access_denied", status=403)
    sad = _new_sad()
    authorization_id = str(uuid.uuid4())
    now = utcnow()
    try:
        with ctx.db.write() as session:
            # Core statements (built once), not an ORM object and a flush: a batch is a few rows.
            session.execute(
                _ADD_AUTHORIZATION,
                {
                    "id": authorization_id,
                    "session_id": None,
                    "client_id": client_id,
                    "credential_id": credential.id,
                    "hash_algorithm": algorithm.value,
                    "num_signatures": len(hashes),
                    "signatures_used": 0,
                    "sad_hash": sad_hash(sad),
                    "expires_at": now + timedelta(seconds=SAD_TTL_SECONDS),
                    "created_at": now,
                },
            )
            _add_authorized_hashes(session, authorization_id, hashes)
            # Last before the audit event: the policy row stays locked (batches of this seal wait on
            # each other, in every server process) only for the checks and the commit.
            seals.admit_batch(session, client_id=client_id, credential_id=credential.id, count=len(hashes))
            audit.record(
                session,
                actor=f"client:{client_id}",
                action="seal.authorized",
                target=f"credential:{credential.id}",
                authorization_id=authorization_id,
                signatures=len(hashes),
                hashes_digest=seals.hashes_digest(hashes),
            )
    except seals.SealRefused as exc:
        seals.record_refusal(
            ctx, client_id=client_id, credential_id=credential.id, reason=exc.message, count=len(hashes)
        )
        raise
    return AuthorizationResult(authorization_id, "authorized", SAD_TTL_SECONDS, "", sad)


def _issue_sad(ctx: ServerContext, authorization_id: str, row: SigningSession) -> AuthorizationResult:
    sad = _new_sad()
    expires = utcnow() + timedelta(seconds=SAD_TTL_SECONDS)
    with ctx.db.write() as session:
        session.execute(
            update(CscAuthorization)
            .where(col(CscAuthorization.id) == authorization_id)
            .values(sad_hash=sad_hash(sad), expires_at=expires)
        )
        audit.record(
            session,
            actor=f"client:{row.client_id}",
            action="csc.sad_issued",
            target=f"session:{row.id}",
            authorization_id=authorization_id,
            items_digest=row.items_digest,
        )
    return AuthorizationResult(authorization_id, "authorized", SAD_TTL_SECONDS, row.confirmation_code, sad)


def _audit_target(session_id: str | None, credential_id: str) -> str:
    """What an audit event of a CSC authorization names: its signing session, or the seal."""
    return f"session:{session_id}" if session_id else f"credential:{credential_id}"


def _authorization(ctx: ServerContext, client_id: str, authorization_id: str) -> CscAuthorization:
    with ctx.db.read() as session:
        auth = session.get(CscAuthorization, authorization_id)
    if auth is None or auth.client_id != client_id:
        raise NotFound(f"no authorization {authorization_id}", code="invalid_request", status=400)
    return auth


def authorize_check(ctx: ServerContext, *, client_id: str, authorization_id: str) -> AuthorizationResult:
    """Poll a pending authorization: still pending, or confirmed (a fresh SAD), or an error saying why not.

    Every call after the confirmation hands out a new SAD and retires the previous one, so a lost
    answer can be fetched again while at most one SAD is ever valid.
    """
    auth = _authorization(ctx, client_id, authorization_id)
    if auth.session_id is None:  # a seal's SAD came with credentials/authorize; nothing waits
        raise InvalidSad("this authorization waits for no confirmation")
    row = session_service.get_for_client(ctx, client_id=client_id, session_id=auth.session_id)
    if row.status == session_service.PENDING:
        remaining = max(0, int((row.expires_at - utcnow()).total_seconds()))
        return AuthorizationResult(authorization_id, "pending", remaining, row.confirmation_code)
    if row.status == session_service.SIGNED:
        if auth.signatures_used:
            raise InvalidSad("this authorization has already been used")
        return _issue_sad(ctx, authorization_id, row)
    if row.status == session_service.EXPIRED:
        raise CscError("the user did not confirm in time", code="expired_token")
    if row.status == session_service.REJECTED:
        raise CscError(row.reason or "the user rejected the request", code="access_denied")
    raise CscError(row.reason or "the authorization failed", code="access_denied")


def extend_transaction(ctx: ServerContext, *, client_id: str, credential_id: str, sad: str) -> AuthorizationResult:
    """A new SAD (the old one stops working) with a fresh lifetime, for the rest of the authorized hashes."""
    new = _new_sad()
    now = utcnow()
    expires = now + timedelta(seconds=SAD_TTL_SECONDS)
    with ctx.db.write() as session:
        auth = session.exec(select(CscAuthorization).where(CscAuthorization.sad_hash == sad_hash(sad))).first()
        if (
            auth is None
            or auth.client_id != client_id
            or auth.credential_id != credential_id
            or auth.expires_at <= now
            or auth.signatures_used >= auth.num_signatures
        ):
            raise InvalidSad()
        session.execute(
            update(CscAuthorization)
            .where(col(CscAuthorization.id) == auth.id, col(CscAuthorization.sad_hash) == sad_hash(sad))
            .values(sad_hash=sad_hash(new), expires_at=expires)
        )
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="csc.sad_extended",
            target=_audit_target(auth.session_id, credential_id),
        )
        row = session.get(SigningSession, auth.session_id) if auth.session_id else None
        code = row.confirmation_code if row is not None else ""
    return AuthorizationResult(auth.id, "authorized", SAD_TTL_SECONDS, code, new)


_SPEND_SAD = text(
    "UPDATE csc_authorizations SET signatures_used = signatures_used + :k "
    "WHERE sad_hash = :sad AND client_id = :client AND credential_id = :credential "
    "AND signatures_used + :k <= num_signatures AND expires_at > :now"
).bindparams(bindparam("now", type_=UTCDateTime()))
# Every hash of a batch signed as often (usually once) in one statement: a statement per hash cost
# ~1 ms per hash on PostgreSQL (a round trip each), more than the signature itself.
_SPEND_HASHES = text(
    "UPDATE csc_authorized_hashes SET used = used + :k "
    "WHERE authorization_id = :auth AND digest IN :digests AND used + :k <= allowed"
).bindparams(bindparam("digests", expanding=True))
# The authorization and the credential's key in one statement (one round trip per signHash).
_SPEND_HASHES_PG = (
    "UPDATE csc_authorized_hashes SET used = used + %s "
    "WHERE authorization_id = %s AND digest = ANY(%s::text[]) AND used + %s <= allowed"
)
_SPEND_HASHES_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_spend_hashes_sql: dict[tuple[str, int], str] = {}


def _spend_hashes(conn: Connection, authorization_id: str, count: int, digests: list[str]) -> int:
    """Spend ``count`` signatures of each of ``digests``; how many of them had that many left.

    The statement goes to the driver as it is (``exec_driver_sql``, its text cached per parameter
    style and number of digests): SQLAlchemy's expanding ``IN`` re-renders and re-processes a
    hundred parameters on every call, more Python than the UPDATE costs the database."""
    if conn.dialect.name == "postgresql":  # one array parameter, not one parameter per digest
        return rows_changed(conn.exec_driver_sql(_SPEND_HASHES_PG, (count, authorization_id, digests, count)))
    mark = _SPEND_HASHES_MARK.get(conn.dialect.paramstyle)
    if mark is None:  # another driver: SQLAlchemy's expanding IN
        result = conn.execute(_SPEND_HASHES, {"k": count, "auth": authorization_id, "digests": digests})
        return rows_changed(result)
    key = (mark, len(digests))
    sql = _spend_hashes_sql.get(key)
    if sql is None:
        marks = ", ".join([mark] * len(digests))  # placeholders only: the values go as parameters
        sql = "UPDATE csc_authorized_hashes SET used = used + {0} WHERE authorization_id = {0} AND digest IN ({1}) "
        sql = _spend_hashes_sql.setdefault(key, (sql + "AND used + {0} <= allowed").format(mark, marks))
    return rows_changed(conn.exec_driver_sql(sql, (count, authorization_id, *digests, count)))


_AUTHORIZATION_AND_KEY = text(
    "SELECT a.id, a.session_id, a.client_id, a.credential_id, a.hash_algorithm, c.status, c.keystore, c.key_ref, "
    "g.client_id AS granted, p.credential_id AS seal, s.client_id AS seal_client, p.hours_start, p.hours_end "
    "FROM csc_authorizations a JOIN credentials c ON c.id = a.credential_id "
    "LEFT JOIN relying_system_grants g ON g.client_id = a.client_id AND g.user_id = c.user_id "
    "LEFT JOIN seal_policies p ON p.credential_id = a.credential_id "
    "LEFT JOIN seal_clients s ON s.credential_id = a.credential_id AND s.client_id = a.client_id "
    "WHERE a.sad_hash = :sad AND a.credential_id = :id"
)
_algorithms: dict[tuple[str, str, str], SignatureAlgorithm] = {}


def _algorithm_for(
    ctx: ServerContext, credential_id: str, digest: DigestAlgorithm, sign_algo: str
) -> SignatureAlgorithm:
    """The signature algorithm of ``signAlgo`` for a credential (a key's type never changes: cached)."""
    key = (credential_id, digest.value, sign_algo)
    found = _algorithms.get(key)
    if found is None:
        with ctx.db.read() as session:
            credential = session.get(Credential, credential_id)
        if credential is None:
            raise InvalidSad()
        try:
            found = session_service.resolve_algorithm(credential, digest, sign_algo)
        except InvalidInput as exc:
            raise CscError(exc.message) from None
        if len(_algorithms) > 10_000:
            _algorithms.clear()
        _algorithms[key] = found
    return found


@dataclass(frozen=True)
class UnspentSignatures:
    """signHash signatures made but not handed out: :meth:`spend` first, in a write transaction."""

    result: HashSignatures
    client_id: str
    credential_id: str
    sad_digest: str
    authorization_id: str
    session_id: str | None
    hashes: Sequence[bytes]

    def spend(self, conn: StepTransaction) -> HashSignatures:
        """Spend the SAD and each authorized hash, audit the signing; the signatures, to hand out once
        ``conn``'s transaction commits. :class:`InvalidSad` if another request spent them first."""
        spent = conn.execute(
            _SPEND_SAD,
            {
                "k": len(self.hashes),
                "sad": self.sad_digest,
                "client": self.client_id,
                "credential": self.credential_id,
                "now": utcnow(),
            },
        )
        if rows_changed(spent) != 1:
            raise InvalidSad()
        by_count: dict[int, list[str]] = {}
        for digest, count in Counter(h.hex() for h in self.hashes).items():
            by_count.setdefault(count, []).append(digest)
        connection = conn.connection()
        for count, digests in by_count.items():
            taken = _spend_hashes(connection, self.authorization_id, count, digests)
            if taken != len(digests):
                raise InvalidSad("a hash was not authorized by this SAD (or was already signed)")
        audit.record(
            conn,
            actor=f"client:{self.client_id}",
            action="csc.signed",
            target=_audit_target(self.session_id, self.credential_id),
            credential_id=self.credential_id,
            signatures=len(self.result.signatures),
            hashes=[h.hex() for h in self.hashes[:16]],
            hashes_digest=seals.hashes_digest(self.hashes),
        )
        return self.result


def make_hash_signatures(
    ctx: ServerContext,
    *,
    client_id: str,
    credential_id: str,
    sad: str,
    hashes: Sequence[bytes],
    hash_algorithm: DigestAlgorithm,
    sign_algo: str,
) -> UnspentSignatures:
    """Check the SAD and sign ``hashes``: the signatures, to hand out only after spending the SAD.

    The signatures are made outside the write transaction that spends the SAD and each authorized
    hash (:meth:`UnspentSignatures.spend`): the database lock is held for a few statements, not for
    the signing, so several workers sign in parallel.
    """
    if not hashes:
        raise CscError("hashes must not be empty")
    digest_of_sad = sad_hash(sad)
    # One Core statement on a plain connection: an ORM session around it cost ~60 µs more per call.
    with ctx.db.read_engine.connect() as conn:
        found = conn.execute(_AUTHORIZATION_AND_KEY, {"sad": digest_of_sad, "id": credential_id}).first()
    if found is None or found.client_id != client_id or found.credential_id != credential_id:
        raise InvalidSad()
    if found.session_id is None:  # a seal's SAD: its policy now, not a person's grant
        if found.seal is None or found.seal_client is None:
            raise CscError("this relying system may not use this seal", code="access_denied", status=403)
        seals.check_hours(found.hours_start, found.hours_end, utcnow())
    elif found.granted is None:  # the user withdrew the authorisation after the SAD was issued
        raise CscError(
            "this relying system is not authorised by the credential's holder", code="access_denied", status=403
        )
    if found.hash_algorithm != hash_algorithm.value:
        raise CscError(f"the SAD authorizes {found.hash_algorithm} hashes, not {hash_algorithm.value}")
    if found.status != "active":
        raise CscError("the credential is not active")
    algorithm = _algorithm_for(ctx, credential_id, hash_algorithm, sign_algo)
    store = ctx.keystore(found.keystore)
    key_ref = bytes(found.key_ref)
    try:
        signatures = store.sign_digests(credential_id, key_ref, hashes, algorithm)
    except KeyAccessError as exc:
        # Nothing was spent yet: the same request with the same SAD works once the key store is back.
        raise CscError(
            f"the signing key is unreachable for now ({exc.message}); retry shortly",
            code="temporarily_unavailable",
            status=503,
            retry_after=KEYSTORE_RETRY_AFTER_SECONDS,
        ) from None
    except EsignError as exc:
        raise CscError(f"signing failed: {exc.message}", code="server_error", status=500) from None
    return UnspentSignatures(
        HashSignatures(signatures, algorithm),
        client_id,
        credential_id,
        digest_of_sad,
        found.id,
        found.session_id,
        hashes,
    )


def credential_ids_for_user(ctx: ServerContext, *, client_id: str, user_id: str, only_valid: bool = False) -> list[str]:
    """A user's credential ids, oldest first (``credentials/list``), for a relying system the user authorised."""
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        if user is None:
            raise CscError(f"unknown userID {user_id}")
        if not is_granted(session, client_id=client_id, user_id=user_id):
            raise CscError("this relying system is not authorised by this user", code="access_denied", status=403)
        query = select(Credential.id).where(Credential.user_id == user_id)
        if only_valid:
            query = query.where(Credential.status == "active")
        return list(session.exec(query.order_by(col(Credential.created_at))).all())


def signature_algorithm_oids(credential: Credential) -> list[str]:
    """Signature-algorithm OIDs the credential signs with (``key/algo``), its usual one first."""
    from esign.algorithms import SignatureScheme

    default = default_signature_algorithm(public_key_of(credential))
    digests = [default.digest] + [
        d for d in (DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512) if d is not default.digest
    ]
    oids = [SignatureAlgorithm(default.scheme, d).oid for d in digests]
    if default.scheme is SignatureScheme.RSA_PKCS1V15:
        oids.append(SignatureAlgorithm(SignatureScheme.RSA_PSS).oid)
    return oids


def send_otp(ctx: ServerContext, *, client_id: str, credential_id: str) -> None:
    """``credentials/sendOTP``: our OTP is made on the phone, so this only nudges the user's devices."""
    cred = require_grant(ctx, client_id=client_id, credential_id=credential_id)
    ctx.events.publish(f"user:{cred.user_id}")
    with ctx.db.write() as session:
        audit.record(session, actor=f"client:{client_id}", action="csc.otp_requested", target=f"credential:{cred.id}")


def seal_multisign(ctx: ServerContext, credential_id: str) -> int:
    """How many hashes one authorization of a seal may carry (``multisign`` in ``credentials/info``)."""
    return seals.get_seal(ctx, credential_id).max_hashes_per_call
