"""Devices: enrolling a phone (TOTP secret shown once, active after a first correct code), device
tokens for the mobile app, and the OTP check with replay protection and growing lockouts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from esign_server.crypto import new_secret, token_hash
from esign_server.db import DriverStatement, StepTransaction, detached, utcnow
from esign_server.models import Device, User
from esign_server.services import audit, otp
from esign_server.services.errors import DeviceLocked, InvalidOtp, NotFound, ServiceError, Unauthorized

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
# Built once: these run in every confirmation, and building a statement costs more than running it.
_BY_TOKEN = select(Device).where(col(Device.device_token_hash) == bindparam("token_hash"))
_LOCK_DEVICE = DriverStatement(sa_select(_DEVICES).where(_DEVICES.c.id == bindparam("device_id")).with_for_update())
_ACCEPT_STEP = DriverStatement(
    update(_DEVICES)
    .where(
        _DEVICES.c.id == bindparam("device_id"),
        or_(_DEVICES.c.last_accepted_step.is_(None), _DEVICES.c.last_accepted_step < bindparam("step")),
    )
    .values(last_accepted_step=bindparam("step"), failed_streak=0)
)

_COUNT_FAILURE = DriverStatement(
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("device_id"))
    .values(
        failed_streak=bindparam("failed_streak"),
        lock_count=bindparam("lock_count"),
        locked_until=bindparam("locked_until", type_=_DEVICES.c.locked_until.type),
    )
)


def authenticate_device(ctx: ServerContext, device_token: str) -> Device:
    """The active device holding ``device_token``."""
    with ctx.db.read() as session:
        device = session.exec(_BY_TOKEN, params={"token_hash": token_hash(device_token)}).first()
    if device is None or device.status != "active":
        raise Unauthorized("invalid device token", code="invalid_device")
    return device


def revoke_device(ctx: ServerContext, *, device_id: str, actor: str) -> Device:
    """Retire a device: its token stops working."""
    with ctx.db.write() as session:
        device = session.exec(select(Device).where(Device.id == device_id).with_for_update()).first()
        if device is None:
            raise NotFound(f"no device {device_id}")
        device.status = "revoked"
        device.device_token_hash = None
        session.add(device)
        audit.record(session, actor=actor, action="device.revoked", target=f"device:{device_id}")
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


def check_otp(
    ctx: ServerContext, session: StepTransaction, *, device_id: str, code: str, now: datetime | None = None
) -> OtpCheck:
    """Check a code against a device, in the caller's transaction, with the device row locked.

    Accepted once: the step must be later than the last accepted one. Wrong codes count towards a
    lockout that doubles each time. While locked, the code is not even looked at.
    """
    now = now or utcnow()
    found = _LOCK_DEVICE.execute(session, {"device_id": device_id}).first()
    # Outside the ORM session: a wrong code is counted with a plain UPDATE below.
    device = detached(Device, found._asdict()) if found is not None else None
    if device is None or device.status != "active":
        raise Unauthorized("invalid device token", code="invalid_device")
    if device.locked_until is not None and device.locked_until > now:
        return OtpCheck(False, device.locked_until)
    secret = ctx.sealer.open(device.totp_secret_enc, secret_aad(device.id))
    step = otp.match_step(secret, code, now.timestamp())
    if step is not None and (device.last_accepted_step is None or step > device.last_accepted_step):
        # A plain conditional UPDATE (the ORM's flush costs more than the check): the step only moves forward.
        accepted = _ACCEPT_STEP.execute(session, {"device_id": device.id, "step": step})
        if accepted.rowcount == 1:
            return OtpCheck(True)
    device.failed_streak += 1
    if device.failed_streak >= ctx.settings.device_lock_threshold:
        device.lock_count += 1
        seconds = min(ctx.settings.device_lock_base_seconds * 2 ** (device.lock_count - 1), MAX_LOCK_SECONDS)
        device.locked_until = now + timedelta(seconds=seconds)
        device.failed_streak = 0
        audit.record(
            session,
            actor=f"device:{device.id}",
            action="device.locked",
            target=f"device:{device.id}",
            seconds=seconds,
            lock_count=device.lock_count,
        )
    _COUNT_FAILURE.execute(
        session,
        {
            "device_id": device.id,
            "failed_streak": device.failed_streak,
            "lock_count": device.lock_count,
            "locked_until": device.locked_until,
        },
    )
    return OtpCheck(False)


def otp_error(check: OtpCheck) -> ServiceError:
    """The error for a failed :class:`OtpCheck`: the one answer every wrong code gets, or the lockout."""
    if check.locked_until is not None:
        seconds = max(1, int((check.locked_until - utcnow()).total_seconds()))
        return DeviceLocked(f"too many wrong codes: this device is locked for {seconds} s", retry_after=seconds)
    return InvalidOtp()


def raise_for(check: OtpCheck) -> None:
    """Raise :func:`otp_error` unless the code was accepted."""
    if not check.accepted:
        raise otp_error(check)
