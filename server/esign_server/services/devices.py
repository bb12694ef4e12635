"""Devices: enrolling a phone (TOTP secret shown once, active after a first correct code), device
tokens for the mobile app, and the OTP check: any active device of the user, replay protection,
lockouts per relying system and user, and a user-wide ceiling that slows guessing without locking."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, case, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from esign_server.crypto import new_secret, token_hash
from esign_server.db import StepTransaction, rows_changed, utcnow
from esign_server.models import Device, RelyingSystemGrant, User
from esign_server.services import audit, otp
from esign_server.services.errors import (
    DeviceLocked,
    Forbidden,
    InvalidOtp,
    NotFound,
    OtpAlreadyUsed,
    ServiceError,
    TooManyRequests,
    Unauthorized,
)

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_LOCK_SECONDS = 86_400


def secret_aad(device_id: str) -> bytes:
    """Associated data of a device's sealed TOTP secret."""
    return b"esign-totp-secret:" + device_id.encode()


@dataclass(frozen=True)
class Enrollment:
    """What the user sees once when enrolling a phone."""

    device_id: str
    user_id: str
    secret_b32: str
    otpauth_uri: str
    enrollment_token: str
    pairing_url: str
    expires_at: datetime


def start_enrollment(ctx: ServerContext, *, user_id: str, device_name: str = "", actor: str) -> Enrollment:
    """Make a pending device with a fresh TOTP secret; returns the secret and the pairing link (once)."""
    secret = otp.new_secret()
    token = new_secret()
    device_id = str(uuid.uuid4())
    expires = utcnow() + timedelta(seconds=ctx.settings.enrollment_ttl_seconds)
    with ctx.db.write() as session:
        user = session.get(User, user_id)
        if user is None or user.status != "active":
            raise NotFound(f"no active user {user_id}")
        session.add(
            Device(
                id=device_id,
                user_id=user_id,
                name=device_name[:100],
                totp_secret_enc=ctx.sealer.seal(secret, secret_aad(device_id)),
                enrollment_token_hash=token_hash(token),
                enrollment_expires_at=expires,
            )
        )
        session.flush()
        audit.record(
            session, actor=actor, action="device.enrollment_started", target=f"device:{device_id}", user_id=user_id
        )
        account = user.email or user.full_name
    return Enrollment(
        device_id=device_id,
        user_id=user_id,
        secret_b32=otp.b32(secret),
        otpauth_uri=otp.otpauth_uri(secret, account=account, issuer=ctx.settings.totp_issuer),
        enrollment_token=token,
        pairing_url=f"{ctx.settings.public_url.rstrip('/')}/m/#pair={token}",
        expires_at=expires,
    )


def _pending_device(session: Session, enrollment_token: str) -> Device:
    device = session.exec(
        select(Device).where(Device.enrollment_token_hash == token_hash(enrollment_token)).with_for_update()
    ).first()
    expires = device.enrollment_expires_at if device is not None else None
    if device is None or device.status != "pending" or expires is None or expires <= utcnow():
        raise Unauthorized("the enrollment link is invalid or has expired", code="invalid_enrollment")
    return device


def pairing_details(ctx: ServerContext, *, enrollment_token: str) -> tuple[Device, User, str]:
    """For the mobile app opening a pairing link: the device, the user, the otpauth URI (app-made codes)."""
    with ctx.db.read() as session:
        device = _pending_device(session, enrollment_token)
        user = session.get(User, device.user_id)
    assert user is not None
    secret = ctx.sealer.open(device.totp_secret_enc, secret_aad(device.id))
    uri = otp.otpauth_uri(secret, account=user.email or user.full_name, issuer=ctx.settings.totp_issuer)
    return device, user, uri


def activate(
    ctx: ServerContext,
    *,
    code: str,
    enrollment_token: str | None = None,
    device_id: str | None = None,
    device_name: str | None = None,
    actor: str,
) -> tuple[Device, str]:
    """Activate a pending device with its first correct code; returns the device and its bearer token."""
    device_token = new_secret()
    failed = False
    with ctx.db.write() as session:
        if enrollment_token is not None:
            device = _pending_device(session, enrollment_token)
        else:
            found = session.exec(select(Device).where(Device.id == device_id).with_for_update()).first()
            if found is None or found.status != "pending":
                raise NotFound(f"no pending device {device_id}")
            device = found
        secret = ctx.sealer.open(device.totp_secret_enc, secret_aad(device.id))
        step = otp.match_step(secret, code)
        if step is None:
            device.failed_streak += 1
            failed = True
            audit.record(session, actor=actor, action="device.activation_failed", target=f"device:{device.id}")
            if device.failed_streak >= ctx.settings.otp_max_attempts:
                device.status = "revoked"  # a pairing link is not a guessing oracle: start again
            session.add(device)
        else:
            device.status = "active"
            device.last_accepted_step = step
            device.failed_streak = 0
            device.activated_at = utcnow()
            device.enrollment_token_hash = None
            device.device_token_hash = token_hash(device_token)
            if device_name:
                device.name = device_name[:100]
            session.add(device)
            audit.record(
                session, actor=actor, action="device.activated", target=f"device:{device.id}", user_id=device.user_id
            )
    if failed:
        raise InvalidOtp()
    return device, device_token


_DEVICES = Device.__table__  # type: ignore[attr-defined]
_GRANTS = RelyingSystemGrant.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
# Built once: these run in every confirmation, and building a statement costs more than running it.
_BY_TOKEN = select(Device).where(col(Device.device_token_hash) == bindparam("token_hash"))
_LOCK_GRANT = (
    sa_select(
        _GRANTS.c.otp_failed_streak,
        _GRANTS.c.otp_lock_count,
        _GRANTS.c.otp_locked_until,
        _GRANTS.c.otp_last_failure_at,
    )
    .where(_GRANTS.c.client_id == bindparam("client_id"), _GRANTS.c.user_id == bindparam("user_id"))
    .with_for_update()
)
_LOCK_USER_WINDOW = (
    sa_select(_USERS.c.otp_window_start, _USERS.c.otp_window_failures)
    .where(_USERS.c.id == bindparam("user_id"))
    .with_for_update()
)
MAX_DEVICES_CHECKED = 10
"""A code is checked against at most this many of the user's active devices (the presenting one
first, then the most recently activated): a wrong code costs a bounded number of HMACs."""
_ACTIVE_DEVICES = (
    sa_select(_DEVICES.c.id, _DEVICES.c.totp_secret_enc, _DEVICES.c.last_accepted_step)
    .where(_DEVICES.c.user_id == bindparam("user_id"), _DEVICES.c.status == "active")
    .order_by(case((_DEVICES.c.id == bindparam("preferred"), 0), else_=1), _DEVICES.c.activated_at.desc())
    .limit(MAX_DEVICES_CHECKED)
    .with_for_update()
)
_ACCEPT_STEP = (
    update(_DEVICES)
    .where(
        _DEVICES.c.id == bindparam("device_id"),
        or_(_DEVICES.c.last_accepted_step.is_(None), _DEVICES.c.last_accepted_step < bindparam("step")),
    )
    .values(last_accepted_step=bindparam("step"))
)
_DEVICE_STATUS = sa_select(_DEVICES.c.status).where(_DEVICES.c.id == bindparam("device_id"))
_GRANT_STATE = (
    update(_GRANTS)
    .where(_GRANTS.c.client_id == bindparam("grant_client"), _GRANTS.c.user_id == bindparam("grant_user"))
    .values(
        otp_failed_streak=bindparam("streak"),
        otp_lock_count=bindparam("lock_count"),
        otp_locked_until=bindparam("locked_until", type_=_GRANTS.c.otp_locked_until.type),
        otp_last_failure_at=bindparam("last_failure", type_=_GRANTS.c.otp_last_failure_at.type),
    )
)
_USER_WINDOW = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(
        otp_window_start=bindparam("window_start", type_=_USERS.c.otp_window_start.type),
        otp_window_failures=bindparam("failures"),
    )
)


def authenticate_device(ctx: ServerContext, device_token: str) -> Device:
    """The active device holding ``device_token``."""
    with ctx.db.read() as session:
        device = session.exec(_BY_TOKEN, params={"token_hash": token_hash(device_token)}).first()
    if device is None or device.status != "active":
        raise Unauthorized("invalid device token", code="invalid_device")
    return device


def is_active(ctx: ServerContext, *, device_id: str) -> bool:
    """Whether the device is still active (an open event stream asks this before each update)."""
    with ctx.db.read() as conn:
        return conn.execute(_DEVICE_STATUS, {"device_id": device_id}).scalar() == "active"


def revoke_device(ctx: ServerContext, *, device_id: str, actor: str) -> Device:
    """Retire a device: its token stops working and its open event streams end."""
    with ctx.db.write() as session:
        device = session.exec(select(Device).where(Device.id == device_id).with_for_update()).first()
        if device is None:
            raise NotFound(f"no device {device_id}")
        device.status = "revoked"
        device.device_token_hash = None
        session.add(device)
        audit.record(session, actor=actor, action="device.revoked", target=f"device:{device_id}")
    ctx.events.publish(f"device:{device_id}")
    return device


def list_devices(ctx: ServerContext, *, user_id: str) -> list[Device]:
    """A user's devices."""
    with ctx.db.read() as session:
        return list(
            session.exec(select(Device).where(Device.user_id == user_id).order_by(col(Device.created_at))).all()
        )


@dataclass(frozen=True)
class OtpCheck:
    """The outcome of :func:`check_otp` (inside a transaction that must commit either way)."""

    accepted: bool
    locked_until: datetime | None = None
    """Set when this relying system is locked out of this user: the code was not looked at."""
    device_id: str | None = None
    """The device whose code was accepted."""
    already_used: bool = False
    """The code was right for a device but its time step had been accepted before."""
    throttled_until: datetime | None = None
    """Set when the user-wide ceiling on wrong codes is reached: the code was not looked at."""


def check_otp(
    ctx: ServerContext,
    session: StepTransaction,
    *,
    user_id: str,
    client_id: str,
    code: str,
    now: datetime | None = None,
    device_id: str | None = None,
) -> OtpCheck:
    """Check a code against the active devices of ``user_id`` (``device_id``, the phone presenting it,
    first; at most :data:`MAX_DEVICES_CHECKED`), for a request of ``client_id``.

    In the caller's transaction, with the relying system's grant, the user and the devices locked.
    A code is accepted once per device: its time step must be later than the device's last accepted
    one (an earlier one answers "already used"). Wrong codes count per relying system and user: after
    ``device_lock_threshold`` in a row that relying system is locked out of this user, for a time that
    doubles with each lockout and falls back after a correct code or ``otp_lock_decay_seconds`` without
    a wrong one. All relying systems together get at most ``otp_user_max_failures`` wrong codes per
    ``otp_user_window_seconds`` for one user; past it, codes wait for the next window (nothing locks).

    :raises Forbidden: the relying system is not (or no longer) authorised by the user.
    """
    settings = ctx.settings
    now = now or utcnow()
    grant = session.execute(_LOCK_GRANT, {"client_id": client_id, "user_id": user_id}).first()
    if grant is None:
        raise Forbidden("this relying system is not authorised by the user", code="not_authorised")
    if grant.otp_locked_until is not None and grant.otp_locked_until > now:
        return OtpCheck(False, locked_until=grant.otp_locked_until)
    window = session.execute(_LOCK_USER_WINDOW, {"user_id": user_id}).first()
    window_start = window.otp_window_start if window is not None else None
    window_open = window_start is not None and window_start + timedelta(seconds=settings.otp_user_window_seconds) > now
    failures = window.otp_window_failures if window is not None and window_open else 0
    if window_open and failures >= settings.otp_user_max_failures:
        assert window_start is not None
        return OtpCheck(False, throttled_until=window_start + timedelta(seconds=settings.otp_user_window_seconds))
    already_used = False
    for device in session.execute(_ACTIVE_DEVICES, {"user_id": user_id, "preferred": device_id or ""}).all():
        secret = ctx.sealer.open(bytes(device.totp_secret_enc), secret_aad(device.id))
        step = otp.match_step(secret, code, now.timestamp())
        if step is None:
            continue
        if device.last_accepted_step is not None and step <= device.last_accepted_step:
            already_used = True
            continue
        # A conditional UPDATE: the step only moves forward, even against a concurrent confirmation.
        if rows_changed(session.execute(_ACCEPT_STEP, {"device_id": device.id, "step": step})) == 1:
            if grant.otp_failed_streak or grant.otp_lock_count:
                _save_grant(session, client_id, user_id, 0, 0, None, grant.otp_last_failure_at)
            return OtpCheck(True, device_id=device.id)
        already_used = True
    if already_used:
        return OtpCheck(False, already_used=True)  # not a guess: not counted
    lock_count = grant.otp_lock_count
    last = grant.otp_last_failure_at
    if last is not None and (now - last).total_seconds() > settings.otp_lock_decay_seconds:
        lock_count = 0  # a quiet period forgets earlier lockouts
    streak = grant.otp_failed_streak + 1
    locked_until = None
    if streak >= settings.device_lock_threshold:
        lock_count += 1
        seconds = min(settings.device_lock_base_seconds * 2 ** (lock_count - 1), MAX_LOCK_SECONDS)
        locked_until = now + timedelta(seconds=seconds)
        streak = 0
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="otp.locked",
            target=f"user:{user_id}",
            seconds=seconds,
            lock_count=lock_count,
        )
    _save_grant(session, client_id, user_id, streak, lock_count, locked_until, now)
    session.execute(
        _USER_WINDOW,
        {"user_id": user_id, "window_start": window_start if window_open else now, "failures": failures + 1},
    )
    return OtpCheck(False)


def _save_grant(
    session: StepTransaction,
    client_id: str,
    user_id: str,
    streak: int,
    lock_count: int,
    locked_until: datetime | None,
    last_failure: datetime | None,
) -> None:
    session.execute(
        _GRANT_STATE,
        {
            "grant_client": client_id,
            "grant_user": user_id,
            "streak": streak,
            "lock_count": lock_count,
            "locked_until": locked_until,
            "last_failure": last_failure,
        },
    )


def otp_error(check: OtpCheck) -> ServiceError:
    """The error for a failed :class:`OtpCheck`: the one answer every wrong code gets, "already used",
    the relying system's lockout (423), or the user-wide slow-down (429); the last two with Retry-After."""
    if check.locked_until is not None:
        seconds = max(1, math.ceil((check.locked_until - utcnow()).total_seconds()))
        return DeviceLocked(
            f"too many wrong codes from this relying system: locked for {seconds} s", retry_after=seconds
        )
    if check.throttled_until is not None:
        seconds = max(1, math.ceil((check.throttled_until - utcnow()).total_seconds()))
        return TooManyRequests(
            f"too many wrong codes for this user: try again in {seconds} s", code="otp_throttled", retry_after=seconds
        )
    if check.already_used:
        return OtpAlreadyUsed()
    return InvalidOtp()


def raise_for(check: OtpCheck) -> None:
    """Raise :func:`otp_error` unless the code was accepted."""
    if not check.accepted:
        raise otp_error(check)
