"""Wire models of the phone's passkeys, PIN, push subscriptions and page previews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PasskeyOptions(BaseModel):
    """WebAuthn options for the browser, and the id of the one-time challenge they carry."""

    challenge_id: str
    public_key: dict[str, Any]
    """``PublicKeyCredentialCreationOptionsJSON`` or ``PublicKeyCredentialRequestOptionsJSON``."""


class PasskeyAnswer(BaseModel):
    """The browser's answer (``PublicKeyCredential.toJSON()``) to the challenge ``challenge_id``."""

    challenge_id: str = Field(max_length=36)
    credential: dict[str, Any]


class PasskeyPublic(BaseModel):
    """A registered passkey."""

    id: str
    created_at: datetime
    last_used_at: datetime | None = None


class PhoneSecurity(BaseModel):
    """How this device can confirm and unlock: its passkeys, whether it has a PIN, the push key."""

    passkeys: list[PasskeyPublic]
    has_pin: bool
    push_public_key: str | None = None
    """VAPID public key (``applicationServerKey``); None when push is off."""


class PinSet(BaseModel):
    """A new PIN, 4 to 12 digits."""

    pin: str = Field(min_length=4, max_length=12)


class PinChange(BaseModel):
    """The PIN now and the one to replace it (4 to 12 digits; the service answers a wrong format)."""

    old_pin: str = Field(max_length=12)
    new_pin: str = Field(max_length=12)


class Unlock(BaseModel):
    """Unlock the app's codes with the PIN, or with a passkey answer to an ``unlock`` challenge."""

    pin: str | None = Field(default=None, max_length=12)
    challenge_id: str | None = Field(default=None, max_length=36)
    credential: dict[str, Any] | None = None


class Unlocked(BaseModel):
    """The key the app's TOTP secret is encrypted under (base64), and how the user unlocked it."""

    code_key: str
    method: str


class PushKeys(BaseModel):
    """A subscription's keys, base64url."""

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)


class PushSubscriptionIn(BaseModel):
    """A browser's push subscription (``PushSubscription.toJSON()``) and the language of its messages."""

    endpoint: str = Field(max_length=2000)
    keys: PushKeys
    lang: str = Field(default="vi", max_length=8)


class PushUnsubscribe(BaseModel):
    """The endpoint of the subscription to forget."""

    endpoint: str = Field(max_length=2000)


class MarkBoxPublic(BaseModel):
    """Where the mark goes: page (from 1) and box as fractions of the page from its top left."""

    page: int
    left: float
    top: float
    width: float
    height: float


class PagePublic(BaseModel):
    """A page the preview shows: its number and size in points."""

    number: int
    width: float
    height: float


class DocumentPreview(BaseModel):
    """A document of the session as the phone previews it (PDF: pages; XML: name only)."""

    index: int
    name: str
    format: str
    page_count: int | None = None
    pages: list[PagePublic] = []
    mark: MarkBoxPublic | None = None


class PasskeyPolicy(BaseModel):
    """Whether a credential's confirmations need a passkey (a TOTP code is then refused)."""

    require_passkey: bool


class PasskeyPolicyPublic(PasskeyPolicy):
    """A credential's passkey rule."""

    credential_id: str
