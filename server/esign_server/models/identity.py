"""Who takes part: users, their credentials and devices, and the relying systems that ask for signatures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from esign_server.db import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person (or an organisation's representative) who holds credentials and confirms signatures."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=36)
    full_name: str = Field(max_length=200)
    cccd: str | None = Field(default=None, max_length=12, unique=True)
    """Citizen identity card number (Căn cước công dân), 12 digits."""
    tax_code: str | None = Field(default=None, max_length=14, unique=True)
    """Mã số thuế: 10 digits, or 10-3 for a branch."""
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    organization: str | None = Field(default=None, max_length=200)
    position: str | None = Field(default=None, max_length=200)
    """Chức vụ: the person's post in the organization, as the onboarding file or the console gives it."""
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    otp_window_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Start of the current window of the user-wide ceiling on wrong codes (all relying systems together)."""
    otp_window_failures: int = Field(default=0)
    """Wrong codes in that window: past the ceiling, codes wait for the next window (429), nothing locks."""


class RelyingSystem(SQLModel, table=True):
    """A system that asks for signatures, authenticated by OAuth2 client credentials."""

    __tablename__ = "relying_systems"

    id: str = Field(primary_key=True, max_length=64)
    """The OAuth2 ``client_id``."""
    name: str = Field(max_length=200)
    """Shown to users on their phone: who is asking."""
    secret_hash: str = Field(max_length=64)
    """SHA-256 of the (256-bit random) client secret, hex."""
    scopes: str = Field(default="sessions", max_length=200)
    """Space-separated scopes the client may ask for."""
    webhook_secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """HMAC key of the webhook signatures, wrapped with the master key."""
    callback_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The webhook URLs the admin registered for this relying system; a session may name only these."""
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RelyingSystemGrant(SQLModel, table=True):
    """A user's authorisation of a relying system: it may ask this user for signatures and read the
    user's credentials. Without one the relying system is answered as if the user did not exist.

    The row also keeps the wrong-code state of the pair, so codes guessed through one relying
    system lock that relying system out of this user, never the user's phone for the others.
    """

    __tablename__ = "relying_system_grants"

    client_id: str = Field(foreign_key="relying_systems.id", primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", primary_key=True, index=True, max_length=36)
    granted_by: str = Field(max_length=120)
    """Who authorised it (the audit actor: the admin acting for the user, ``cli``, ``migration``)."""
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    otp_failed_streak: int = Field(default=0)
    """Consecutive wrong codes sent through this relying system for this user."""
    otp_lock_count: int = Field(default=0)
    """Lockouts so far; each doubles the next. Back to 0 after a correct code or a quiet day."""
    otp_locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    otp_last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Credential(SQLModel, table=True):
    """A user's signing key (held in the keystore, never exported) with its certificate."""

    __tablename__ = "credentials"
    __table_args__ = (Index("ix_credentials_serial", "serial"),)

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    label: str = Field(default="", max_length=200)
    key_algorithm: str = Field(max_length=16)
    """``rsa2048``, ``rsa3072``, ``p256`` or ``p384``."""
    keystore: str = Field(max_length=16)
    """``software`` or ``pkcs11``."""
    key_ref: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """Software: the AES-GCM-wrapped private key; PKCS#11: the key's id on the token."""
    public_key_der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    certificate_der: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    chain_pem: str = Field(default="")
    """The CA certificates above ``certificate_der``, PEM, issuer first."""
    serial: str | None = Field(default=None, max_length=64)
    """Certificate serial number, lowercase hex."""
    csr_pem: str | None = Field(default=None)
    status: str = Field(default="active", max_length=24)
    """``active``, ``suspended``, ``revoked`` or ``awaiting_certificate`` (external CA)."""
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A phone paired with a user: holds the TOTP secret and confirms that user's sessions."""

    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    name: str = Field(default="", max_length=100)
    status: str = Field(default="pending", max_length=16)
    """``pending`` until a first correct code, then ``active``; ``revoked`` when retired."""
    totp_secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The 160-bit TOTP secret, wrapped with the master key (device id in the associated data)."""
    enrollment_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    enrollment_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    device_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    """SHA-256 of the bearer token the paired app authenticates with."""
    last_accepted_step: int | None = Field(default=None)
    """The last TOTP time step accepted: a code is never accepted twice."""
    failed_streak: int = Field(default=0)
    lock_count: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
