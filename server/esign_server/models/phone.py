"""What a paired phone adds to its device: passkeys, their one-time challenges, a PIN, push subscriptions;
and the admin's rule that a credential is confirmed with a passkey only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class DevicePasskey(SQLModel, table=True):
    """A WebAuthn credential (platform passkey: face, fingerprint, screen lock) registered by a device."""

    __tablename__ = "device_passkeys"

    id: str = Field(primary_key=True, max_length=512)
    """The credential id, base64url (as the browser reports it)."""
    device_id: str = Field(foreign_key="devices.id", index=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The COSE public key from the registration."""
    sign_count: int = Field(default=0)
    """The authenticator's signature counter last seen: an assertion must move it forward (when counted)."""
    aaguid: str = Field(default="", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasskeyChallenge(SQLModel, table=True):
    """A WebAuthn challenge handed to a device: answered once, before ``expires_at``.

    For a confirmation the challenge is not random alone: it is a hash over the session (its id, the
    items digest and count, the relying system, the expiry) and ``nonce``, recomputed from the session
    being confirmed, so an assertion made for one request cannot confirm another.
    """

    __tablename__ = "passkey_challenges"
    __table_args__ = (Index("ix_passkey_challenges_device", "device_id", "expires_at"),)

    id: str = Field(primary_key=True, max_length=36)
    device_id: str = Field(foreign_key="devices.id", max_length=36)
    purpose: str = Field(max_length=16)
    """``register``, ``confirm`` or ``unlock``."""
    session_id: str | None = Field(default=None, max_length=36)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    challenge: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DevicePin(SQLModel, table=True):
    """A device's PIN (argon2id hash), set at pairing: it unlocks the codes the app makes."""

    __tablename__ = "device_pins"

    device_id: str = Field(foreign_key="devices.id", primary_key=True, max_length=36)
    pin_hash: str = Field(max_length=200)
    failed_streak: int = Field(default=0)
    lock_count: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PushSubscription(SQLModel, table=True):
    """A device's Web Push subscription (the browser's push service endpoint and its keys)."""

    __tablename__ = "push_subscriptions"

    id: str = Field(primary_key=True, max_length=36)
    device_id: str = Field(foreign_key="devices.id", index=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    endpoint: str = Field(max_length=2000, unique=True)
    p256dh: str = Field(max_length=200)
    """The browser's P-256 public key, base64url."""
    auth: str = Field(max_length=64)
    """The browser's 16-byte authentication secret, base64url."""
    lang: str = Field(default="vi", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CredentialPasskeyPolicy(SQLModel, table=True):
    """An admin's rule for one credential: confirmations by passkey only (a TOTP code is refused)."""

    __tablename__ = "credential_passkey_policies"

    credential_id: str = Field(foreign_key="credentials.id", primary_key=True, max_length=36)
    require_passkey: bool = Field(default=False)
    set_by: str = Field(max_length=120)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
