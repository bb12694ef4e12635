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

from sqlalchemy import LargeBinary, and_, bindparam, insert, text, update
from sqlmodel import col, select

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, digest_algorithm
from esign.errors import EsignError, InvalidInput, KeyAccessError
from esign_server.db import StepTransaction, UTCDateTime, rows_changed, utcnow
from esign_server.models import Credential, SealClient, SealPolicy, SigningSession, User
from esign_server.models.csc import CscAuthorization
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
    # One Core statement on a plain connection: whether the credential is a seal this system may use,
    # or a credential whose holder authorised it (no ORM entity: only these columns are needed).
    with ctx.db.read_engine.connect() as conn:
        found = conn.execute(_CREDENTIAL_FOR_CLIENT, {"client": client_id, "id": credential_id}).first()
    if found is None:
        raise CscError(f"unknown credentialID {credential_id}")
    if found.seal is not None:
        if found.seal_client is None:
            raise CscError("this relying system may not use this seal", code="access_denied", status=403)
        if found.status != "active":
            raise CscError("the credential is not active", code="access_denied", status=403)
        return _authorize_seal(
            ctx, client_id=client_id, credential_id=credential_id, hashes=hashes, algorithm=hash_algorithm
        )
    if found.granted is None:
        raise CscError(
            "this relying system is not authorised by the credential's holder", code="access_denied", status=403
        )
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
                digests=digest_set(hashes),
            )
        )
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


_ADD_AUTHORIZATION = insert(CscAuthorization.__table__)  # type: ignore[attr-defined]


def digest_set(hashes: Sequence[bytes]) -> bytes:
    """The value of ``csc_authorizations.digests`` for ``hashes``: each digest once per time it is
    authorized, concatenated in sorted order."""
    return b"".join(sorted(hashes))


def take_digests(left: bytes, size: int, hashes: Sequence[bytes]) -> bytes | None:
    """What an authorization may still sign once ``hashes`` are signed: ``left`` (a :func:`digest_set`
    of ``size``-byte digests) less one of each of ``hashes``; None when one of them is not left
    (never authorized, or signed as often as it was authorized)."""
    remaining = Counter(left[i : i + size] for i in range(0, len(left), size))
    for digest in hashes:
        if remaining[digest] <= 0:
            return None
        remaining[digest] -= 1
    return b"".join(sorted(remaining.elements()))


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


_CREDENTIAL_FOR_CLIENT = text(
    "SELECT c.status, p.credential_id AS seal, s.client_id AS seal_client, g.client_id AS granted "
    "FROM credentials c LEFT JOIN seal_policies p ON p.credential_id = c.id "
    "LEFT JOIN seal_clients s ON s.credential_id = c.id AND s.client_id = :client "
    "LEFT JOIN relying_system_grants g ON g.client_id = :client AND g.user_id = c.user_id "
    "WHERE c.id = :id"
)


def is_seal(ctx: ServerContext, credential_id: str) -> bool:
    """Whether the credential is an organization seal (SCAL 1: no person confirms its signatures)."""
    with ctx.db.read() as session:
        return seals.is_seal(session, credential_id)


def _authorize_seal(
    ctx: ServerContext, *, client_id: str, credential_id: str, hashes: Sequence[bytes], algorithm: DigestAlgorithm
) -> AuthorizationResult:
    """A SAD at once for a batch of an active seal, within its policy; the batch is counted and audited.

    :raises seals.SealRefused: 403 (not allowed, outside the hours) or 429 (over a rate), audited.
    """
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
                    "credential_id": credential_id,
                    "hash_algorithm": algorithm.value,
                    "num_signatures": len(hashes),
                    "signatures_used": 0,
                    "sad_hash": sad_hash(sad),
                    "expires_at": now + timedelta(seconds=SAD_TTL_SECONDS),
                    "created_at": now,
                    "digests": digest_set(hashes),
                },
            )
            # Last before the audit event: the policy row stays locked (batches of this seal wait on
            # each other, in every server process) only for the checks and the commit.
            seals.admit_batch(session, client_id=client_id, credential_id=credential_id, count=len(hashes))
            audit.record(
                session,
                actor=f"client:{client_id}",
                action="seal.authorized",
                target=f"credential:{credential_id}",
                authorization_id=authorization_id,
                signatures=len(hashes),
                hashes_digest=seals.hashes_digest(hashes),
            )
    except seals.SealRefused as exc:
        seals.record_refusal(
            ctx, client_id=client_id, credential_id=credential_id, reason=exc.message, count=len(hashes)
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


# Spends the SAD and its hashes at once: ``signatures_used`` versions the row, so of two requests
# spending the same SAD only the first changes it; the other judges its hashes again on what is left.
_SPEND = text(
    "UPDATE csc_authorizations SET signatures_used = :total, digests = :left "
    "WHERE id = :id AND sad_hash = :sad AND client_id = :client AND credential_id = :credential "
    "AND signatures_used = :used AND :total <= num_signatures AND expires_at > :now"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("left", type_=LargeBinary()))
_LEFT = text("SELECT signatures_used, digests FROM csc_authorizations WHERE id = :id AND sad_hash = :sad")
SPEND_ATTEMPTS = 8
"""How often a signHash re-judges its hashes when other requests of the same SAD spend first."""


_AUTHORIZATION_AND_KEY = text(
    "SELECT a.id, a.session_id, a.client_id, a.credential_id, a.hash_algorithm, a.signatures_used, a.digests, "
    "c.status, c.keystore, c.key_ref, "
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
    used: int
    """``signatures_used`` when the hashes were judged."""
    left: bytes
    """What the authorization may still sign once these are spent (judged against ``used``)."""

    def spend(self, conn: StepTransaction) -> HashSignatures:
        """Spend the SAD and each authorized hash, audit the signing; the signatures, to hand out once
        ``conn``'s transaction commits. :class:`InvalidSad` if the SAD is spent, expired or withdrawn,
        or another request signed these hashes first."""
        used, left, count = self.used, self.left, len(self.hashes)
        size = len(self.hashes[0])
        for _ in range(SPEND_ATTEMPTS):
            spent = conn.execute(
                _SPEND,
                {
                    "total": used + count,
                    "left": left,
                    "id": self.authorization_id,
                    "sad": self.sad_digest,
                    "client": self.client_id,
                    "credential": self.credential_id,
                    "used": used,
                    "now": utcnow(),
                },
            )
            if rows_changed(spent) == 1:
                break
            # Another request of this SAD spent first (or it expired or was replaced): judge again.
            now = conn.execute(_LEFT, {"id": self.authorization_id, "sad": self.sad_digest}).first()
            if now is None or now.signatures_used == used:
                raise InvalidSad()
            found = take_digests(bytes(now.digests), size, self.hashes)
            if found is None:
                raise InvalidSad("a hash was not authorized by this SAD (or was already signed)")
            used, left = now.signatures_used, found
        else:
            raise CscError(
                "too many requests spend this SAD at once; retry", code="temporarily_unavailable", status=503
            )
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
    # Judged before signing, so a SAD cannot make the key sign what it will then refuse to hand out;
    # judged again at the spend, when another request of the same SAD got there first.
    left = take_digests(bytes(found.digests), hash_algorithm.digest_size, hashes)
    if left is None:
        raise InvalidSad("a hash was not authorized by this SAD (or was already signed)")
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
        found.signatures_used,
        left,
    )


def credential_ids_for_user(ctx: ServerContext, *, client_id: str, user_id: str, only_valid: bool = False) -> list[str]:
    """A user's credential ids, oldest first (``credentials/list``), that ``client_id`` may use: the
    holder's credentials when the holder authorised the relying system, and the organization seals
    whose policy names it (a seal needs no grant; a seal that does not name it is not listed)."""
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        if user is None:
            raise CscError(f"unknown userID {user_id}")
        granted = is_granted(session, client_id=client_id, user_id=user_id)
        query = (
            select(Credential.id, SealPolicy.credential_id, SealClient.client_id)
            .outerjoin(SealPolicy, col(SealPolicy.credential_id) == col(Credential.id))
            .outerjoin(
                SealClient,
                and_(col(SealClient.credential_id) == col(Credential.id), col(SealClient.client_id) == client_id),
            )
            .where(Credential.user_id == user_id)
        )
        if only_valid:
            query = query.where(Credential.status == "active")
        rows = session.exec(query.order_by(col(Credential.created_at))).all()
    ids = [cid for cid, seal, allowed in rows if (allowed is not None if seal is not None else granted)]
    if not ids and not granted:
        raise CscError("this relying system is not authorised by this user", code="access_denied", status=403)
    return ids


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
