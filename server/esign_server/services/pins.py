"""The device PIN, and the key that unlocks the codes the phone app makes.

The app keeps its TOTP secret encrypted under a *code key* it cannot derive alone after pairing: the
server hands it out (:func:`code_key`) only after the device's user verification (a passkey
assertion) or its PIN. The PIN is set at pairing and changed only with the old one (:func:`change_pin`,
which judges the old PIN as :func:`check_pin` does); it is kept as an argon2id hash and throttled:
``pin_max_failures`` wrong PINs in a row lock it for 5 minutes, doubling with each lockout. Every check
is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from esign_server.db import utcnow
from esign_server.models import Device, DevicePin
from esign_server.services import audit
from esign_server.services.devices import secret_aad
from esign_server.services.errors import Conflict, DeviceLocked, NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

PIN_LOCK_BASE_SECONDS = 300
PIN_LOCK_MAX_SECONDS = 86_400
CODE_KEY_LABEL = b"esign-app-code-key"
_hasher = PasswordHasher()
# A PIN is checked even when the device has none, against this hash: timing tells nothing.
_DUMMY_HASH = _hasher.hash("000000-no-pin")


class InvalidPin(ServiceError):
    """A wrong PIN (``attempts_left`` before the PIN locks)."""

    status = 400
    code = "invalid_pin"


def _valid_format(pin: str) -> bool:
    return pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12


def has_pin(ctx: ServerContext, *, device_id: str) -> bool:
    """Whether the device has a PIN."""
    with ctx.db.read() as session:
        return session.get(DevicePin, device_id) is not None


def set_pin(ctx: ServerContext, *, device: Device, pin: str) -> None:
    """Set the device's PIN (4 to 12 digits), once: a PIN is never replaced without the old one.

    :raises ServiceError: not 4 to 12 digits. :raises Conflict: the device already has a PIN.
    """
    if not _valid_format(pin):
        raise ServiceError("a PIN is 4 to 12 digits", code="invalid_pin_format")
    pin_hash = _hasher.hash(pin)
    with ctx.db.write() as session:
        if session.get(DevicePin, device.id) is not None:
            raise Conflict("this device already has a PIN", code="pin_exists")
        session.add(DevicePin(device_id=device.id, pin_hash=pin_hash))
        audit.record(session, actor=f"device:{device.id}", action="device.pin_set", target=f"device:{device.id}")


def check_pin(ctx: ServerContext, *, device: Device, pin: str) -> None:
    """Check the device's PIN, counting wrong ones.

    :raises NotFound: the device has no PIN. :raises DeviceLocked: locked after too many wrong PINs
        (the PIN was not looked at; ``retry_after``). :raises InvalidPin: a wrong PIN.
    """
    with ctx.db.write() as session:
        _row, error = _judge(ctx, session, device=device, pin=pin)
        if error is None:
            target = f"device:{device.id}"
            audit.record(session, actor=target, action="device.unlocked", target=target, method="pin")
    if error is not None:
        raise error


def change_pin(ctx: ServerContext, *, device: Device, old_pin: str, new_pin: str) -> None:
    """Replace the device's PIN, given the old one (judged as :func:`check_pin` judges it: a wrong old
    PIN counts towards the lock, and a locked PIN is not looked at).

    :raises ServiceError: the new PIN is not 4 to 12 digits (``invalid_pin_format``) or is the old one
        (``pin_unchanged``); neither counts as a wrong PIN. :raises NotFound: the device has no PIN.
    :raises DeviceLocked: locked. :raises InvalidPin: a wrong old PIN.
    """
    if not _valid_format(new_pin):
        raise ServiceError("a PIN is 4 to 12 digits", code="invalid_pin_format")
    if new_pin == old_pin:
        raise ServiceError("the new PIN is the old one", code="pin_unchanged")
    new_hash = _hasher.hash(new_pin)  # hashed before the row is locked: argon2 takes its time
    with ctx.db.write() as session:
        row, error = _judge(ctx, session, device=device, pin=old_pin)
        if error is None:
            row.pin_hash = new_hash
            session.add(row)
            target = f"device:{device.id}"
            audit.record(session, actor=target, action="device.pin_changed", target=target)
    if error is not None:
        raise error


def _judge(ctx: ServerContext, session: Session, *, device: Device, pin: str) -> tuple[DevicePin, ServiceError | None]:
    """Judge ``pin`` against the device's locked row within the caller's transaction: a right PIN resets
    the streak; a wrong one counts (and may lock), audited, and its error is returned, for the caller to
    raise once the count is committed. The caller audits a right PIN as what it is for.

    :raises NotFound: the device has no PIN (nothing to commit).
    """
    now = utcnow()
    row = session.exec(select(DevicePin).where(DevicePin.device_id == device.id).with_for_update()).first()
    if row is None:
        _matches(_DUMMY_HASH, pin)
        raise NotFound("this device has no PIN", code="no_pin")
    target = f"device:{device.id}"
    error: ServiceError | None = None
    if row.locked_until is not None and row.locked_until > now:
        seconds = max(1, math.ceil((row.locked_until - now).total_seconds()))
        audit.record(session, actor=target, action="device.pin_refused", target=target, locked=True)
        error = DeviceLocked(f"too many wrong PINs: locked for {seconds} s", code="pin_locked", retry_after=seconds)
    elif _valid_format(pin) and _matches(row.pin_hash, pin):
        row.failed_streak = 0
        row.lock_count = 0
    else:
        row.failed_streak += 1
        left = ctx.settings.pin_max_failures - row.failed_streak
        audit.record(session, actor=target, action="device.pin_failed", target=target, streak=row.failed_streak)
        if left <= 0:
            row.lock_count += 1
            seconds = min(PIN_LOCK_BASE_SECONDS * 2 ** (row.lock_count - 1), PIN_LOCK_MAX_SECONDS)
            row.locked_until = now + timedelta(seconds=seconds)
            row.failed_streak = 0
            audit.record(session, actor=target, action="device.pin_locked", target=target, seconds=seconds)
            error = DeviceLocked(f"too many wrong PINs: locked for {seconds} s", code="pin_locked", retry_after=seconds)
        else:
            error = InvalidPin("the PIN is wrong", attempts_left=left)
    session.add(row)
    return row, error


def _matches(pin_hash: str, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def code_key(ctx: ServerContext, *, device: Device) -> bytes:
    """The 32-byte key the app's TOTP secret is encrypted under: HMAC-SHA256 of the device's secret.

    The app computes it once at pairing (it holds the secret then) and forgets it; afterwards only
    this server, after a PIN or a passkey, gives it back.
    """
    with ctx.db.read() as session:
        found = session.get(Device, device.id)
    if found is None:
        raise NotFound("no such device")
    secret = ctx.sealer.open(found.totp_secret_enc, secret_aad(found.id))
    return hmac.new(secret, CODE_KEY_LABEL, hashlib.sha256).digest()
