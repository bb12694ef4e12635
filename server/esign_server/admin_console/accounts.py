"""Console accounts: argon2id passwords, a TOTP second factor, roles, lockout, browser sessions.

A role is a set of console permissions; every role acts through the existing ``admin`` scope of the
admin API (the services the API calls are the ones the console calls), narrowed to its job.
Every sign-in, failed sign-in and sign-out lands in the audit log under ``admin:<username>``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from esign_server.db import utcnow
from esign_server.models import AdminAccount, AdminSession
from esign_server.services import audit, otp
from esign_server.services.errors import Conflict, Forbidden, NotFound, ServiceError, Unauthorized

if TYPE_CHECKING:
    from esign_server.context import ServerContext

ROLES: dict[str, frozenset[str]] = {
    "registry_officer": frozenset({"people.read", "orgs.read", "orgs.write"}),
    "identity_officer": frozenset({"people.read", "orgs.read", "people.write", "identity.write", "identity.reveal"}),
    "credential_officer": frozenset(
        {"people.read", "orgs.read", "credentials.write", "devices.write", "systems.read", "systems.write"}
    ),
    "auditor": frozenset({"people.read", "orgs.read", "audit.read", "systems.read"}),
}
"""Console roles and what each may do; all of them stand for the admin API's ``admin`` scope."""
CONSOLE_CLIENT_SCOPES = ("sessions", "csc")
"""Scopes a relying system made in the console may have: an ``admin`` client (the whole admin API) is made
on the server host only (``esign server client create``), so no console role can mint itself more power."""
ADMIN_SCOPE = "admin"
"""The admin API scope every console role acts under (see :data:`ROLES`)."""

MIN_PASSWORD_LENGTH = 12
LOCK_AFTER = 5
"""Failed sign-ins in a row before the account waits."""
LOCK_BASE = timedelta(minutes=1)
"""The first wait; each further failure while over the threshold doubles it (capped at a day)."""
LOCK_CAP = timedelta(days=1)
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(minutes=30)
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_hasher = PasswordHasher()
# Compared against when the username does not exist, so the answer takes as long as for a wrong password.
_DUMMY_HASH = _hasher.hash("esign-no-such-admin-account")
FAILED = "wrong username, password or code, or the account is locked"
"""One answer for every failed sign-in: it tells a guesser nothing."""


def actor_of(account: AdminAccount) -> str:
    """How the audit log names an officer: ``admin:<username>``."""
    return f"admin:{account.username}"


def _aad(account_id: str) -> bytes:
    return f"admin-totp:{account_id}".encode()


def permissions_of(account: AdminAccount) -> frozenset[str]:
    """The union of the permissions of the account's roles."""
    granted: set[str] = set()
    for role in account.roles.split():
        granted |= ROLES.get(role, frozenset())
    return frozenset(granted)


@dataclass(frozen=True)
class NewAccount:
    """A created account with its TOTP secret (shown once, for the officer's authenticator app)."""

    account: AdminAccount
    totp_secret_b32: str
    otpauth_uri: str


def create_account(
    ctx: ServerContext, *, username: str, full_name: str, password: str, roles: list[str], actor: str
) -> NewAccount:
    """Create a console account; the password is hashed with argon2id, the TOTP secret sealed.

    :raises ServiceError: a malformed username, a short password, an unknown or missing role.
    :raises Conflict: the username is taken.
    """
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise ServiceError("username: 2-64 of a-z, 0-9, '.', '_', '-'", code="invalid_username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters", code="weak_password")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ServiceError(f"unknown or missing roles {unknown}; use some of {', '.join(ROLES)}", code="invalid_role")
    full_name = " ".join(full_name.split()) or username
    account_id = str(uuid.uuid4())
    secret = otp.new_secret()
    account = AdminAccount(
        id=account_id,
        username=username,
        full_name=full_name,
        password_hash=_hasher.hash(password),
        totp_secret_enc=ctx.sealer.seal(secret, _aad(account_id)),
        roles=" ".join(sorted(set(roles))),
    )
    try:
        with ctx.db.write() as session:
            session.add(account)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="admin.account_created",
                target=f"admin:{username}",
                roles=account.roles,
            )
    except IntegrityError:
        raise Conflict(f"an admin account {username!r} already exists", code="admin_exists") from None
    return NewAccount(account, otp.b32(secret), otp.otpauth_uri(secret, account=username, issuer="esign admin"))


def _lock_for(failures: int) -> timedelta:
    over = failures - LOCK_AFTER
    return min(LOCK_BASE * (2**over), LOCK_CAP)


def sign_in(ctx: ServerContext, *, username: str, password: str, code: str) -> AdminAccount:
    """Check password (argon2) and TOTP code; a code is accepted once. One answer for every failure.

    After :data:`LOCK_AFTER` failures in a row the account refuses even the right answer until its
    wait is over (1 minute, doubling with every further failure); a success clears the count.

    :raises Unauthorized: ``invalid_login`` for anything wrong.
    """
    username = username.strip().lower()
    now = utcnow()
    with ctx.db.write() as session:
        account = session.exec(select(AdminAccount).where(AdminAccount.username == username).with_for_update()).first()
        if account is None:
            _password_matches(_DUMMY_HASH, password)
            audit.record(session, actor="anonymous", action="admin.login_failed", target=f"admin:{username[:64]}")
            problem: str | None = "no such account"
        else:
            problem = _problem(ctx, account, password, code, now)
            if problem is None:
                account.failed_logins = 0
                account.locked_until = None
                account.last_login_at = now
                if _hasher.check_needs_rehash(account.password_hash):
                    account.password_hash = _hasher.hash(password)
                audit.record(session, actor=actor_of(account), action="admin.login", target=actor_of(account))
            else:
                account.failed_logins += 1
                if account.failed_logins >= LOCK_AFTER:
                    account.locked_until = now + _lock_for(account.failed_logins)
                audit.record(
                    session,
                    actor="anonymous",
                    action="admin.login_failed",
                    target=actor_of(account),
                    failures=account.failed_logins,
                    locked_until=account.locked_until,
                )
            session.add(account)
    if problem is not None or account is None:
        raise Unauthorized(FAILED, code="invalid_login")
    return account


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _problem(ctx: ServerContext, account: AdminAccount, password: str, code: str, now: datetime) -> str | None:
    """Why the sign-in fails (for the audit trail only), or None. The password is checked even when
    the account is locked, so a locked account costs a guesser as much time as an open one."""
    password_ok = _password_matches(account.password_hash, password)
    if account.status != "active":
        return "disabled"
    if account.locked_until is not None and account.locked_until > now:
        return "locked"
    if not password_ok:
        return "password"
    secret = ctx.sealer.open(account.totp_secret_enc, _aad(account.id))
    step = otp.match_step(secret, code)
    if step is None or (account.last_totp_step is not None and step <= account.last_totp_step):
        return "code"
    account.last_totp_step = step
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A live console session: the officer, the session row and what the officer may do."""

    account: AdminAccount
    session: AdminSession
    permissions: frozenset[str]

    @property
    def actor(self) -> str:
        """The audit actor of this officer."""
        return actor_of(self.account)

    def may(self, permission: str) -> bool:
        """Whether one of the officer's roles grants ``permission``."""
        return permission in self.permissions


def open_session(ctx: ServerContext, account: AdminAccount) -> tuple[str, AdminSession]:
    """A new browser session for a signed-in officer: (cookie token, row). The token is 256 random bits
    and only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = AdminSession(
        token_hash=_token_hash(token),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    with ctx.db.write() as session:
        session.add(row)
    return token, row


def current_session(ctx: ServerContext, token: str | None) -> SignedIn | None:
    """The live session of a cookie token, or None (unknown, ended, expired, idle too long, account
    disabled). Notes the activity (at most once a minute) for the idle timeout."""
    if not token:
        return None
    now = utcnow()
    with ctx.db.read() as session:
        row = session.get(AdminSession, _token_hash(token))
        account = session.get(AdminAccount, row.account_id) if row is not None else None
    if row is None or account is None or account.status != "active" or row.ended_at is not None:
        return None
    if row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        with ctx.db.write() as session:
            fresh = session.get(AdminSession, row.token_hash)
            if fresh is not None:
                fresh.last_seen_at = now
                session.add(fresh)
        row.last_seen_at = now
    return SignedIn(account, row, permissions_of(account))


def end_session(ctx: ServerContext, signed_in: SignedIn) -> None:
    """Sign out: the session's token stops working at once."""
    with ctx.db.write() as session:
        row = session.get(AdminSession, signed_in.session.token_hash)
        if row is not None:
            row.ended_at = utcnow()
            session.add(row)
        audit.record(session, actor=signed_in.actor, action="admin.logout", target=signed_in.actor)


def require(signed_in: SignedIn, permission: str) -> None:
    """Refuse (403) an officer none of whose roles grants ``permission``."""
    if not signed_in.may(permission):
        raise Forbidden(f"your roles do not allow {permission}", code="insufficient_role")


def _change(
    ctx: ServerContext, username: str, action: str, actor: str, apply: Callable[[AdminAccount], None]
) -> AdminAccount:
    with ctx.db.write() as session:
        account = session.exec(
            select(AdminAccount).where(AdminAccount.username == username.strip().lower()).with_for_update()
        ).first()
        if account is None:
            raise NotFound(f"no admin account {username!r}")
        apply(account)
        session.add(account)
        audit.record(session, actor=actor, action=action, target=actor_of(account))
    return account


def set_active(ctx: ServerContext, *, username: str, active: bool, actor: str) -> AdminAccount:
    """Disable an account (its sessions stop working at once; it cannot sign in) or enable it again."""

    def apply(account: AdminAccount) -> None:
        account.status = "active" if active else "disabled"

    return _change(ctx, username, "admin.account_enabled" if active else "admin.account_disabled", actor, apply)


def unlock(ctx: ServerContext, *, username: str, actor: str) -> AdminAccount:
    """Lift a lockout after failed sign-ins (an officer who really forgot, confirmed by other means)."""

    def apply(account: AdminAccount) -> None:
        account.failed_logins = 0
        account.locked_until = None

    return _change(ctx, username, "admin.account_unlocked", actor, apply)


def list_accounts(ctx: ServerContext) -> list[AdminAccount]:
    """Every console account, by username."""
    with ctx.db.read() as session:
        return list(session.exec(select(AdminAccount).order_by(col(AdminAccount.username))).all())
