"""Phone passkeys (WebAuthn): register a platform passkey for a device, then answer one-time challenges
with user verification required, to confirm a signing session or to unlock the app's own codes.

Verification is py_webauthn's (``verify_registration_response``, ``verify_authentication_response``):
origin, relying-party id, challenge, user presence and verification, signature, and the signature
counter (an assertion whose counter does not move forward is refused). A challenge is stored
server-side, answered once and expires. A confirmation's challenge is a hash over the session it
confirms (:func:`session_challenge`), recomputed from that session when the answer comes back: an
assertion made for one request cannot confirm another.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlmodel import col, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from esign_server.db import utcnow
from esign_server.models import (
    Credential,
    CredentialPasskeyPolicy,
    Device,
    DevicePasskey,
    PasskeyChallenge,
    SigningSession,
    User,
)
from esign_server.services import audit
from esign_server.services.errors import NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

REGISTER, CONFIRM, UNLOCK = "register", "confirm", "unlock"
MAX_PASSKEYS_PER_DEVICE = 5


class PasskeyRefused(ServiceError):
    """A passkey answer that does not verify: one answer whatever the reason (the audit log keeps it)."""

    status = 400
    code = "passkey_refused"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the id browsers scope them to, and the origins answers may come from."""

    id: str
    name: str
    origins: list[str]


def relying_party(ctx: ServerContext) -> RelyingParty:
    """The relying party from the settings (``passkey_rp_id``, ``passkey_origins``), else ``public_url``."""
    settings = ctx.settings
    url = urlsplit(settings.public_url)
    origins = settings.passkey_origins or [f"{url.scheme}://{url.netloc}"]
    return RelyingParty(settings.passkey_rp_id or (url.hostname or "localhost"), settings.totp_issuer, origins)


def session_challenge(row: SigningSession, nonce: bytes) -> bytes:
    """The challenge a confirmation of ``row`` signs: SHA-256 over the session id, the items digest and
    their count, the relying system, the expiry and a fresh ``nonce``."""
    text = (
        f"esign-passkey-confirmation\n{row.id}\n{row.items_digest}\n{len(row.items)}\n{row.client_id}\n"
        f"{int(row.expires_at.timestamp())}\n"
    )
    return hashlib.sha256(text.encode() + nonce).digest()


def _store_challenge(
    ctx: ServerContext, device: Device, purpose: str, challenge: bytes, nonce: bytes, session_id: str | None = None
) -> str:
    challenge_id = str(uuid.uuid4())
    now = utcnow()
    with ctx.db.write() as session:
        session.add(
            PasskeyChallenge(
                id=challenge_id,
                device_id=device.id,
                purpose=purpose,
                session_id=session_id,
                nonce=nonce,
                challenge=challenge,
                expires_at=now + timedelta(seconds=ctx.settings.passkey_challenge_seconds),
            )
        )
    return challenge_id


def _options(challenge_id: str, options: Any) -> dict[str, Any]:
    return {"challenge_id": challenge_id, "public_key": json.loads(options_to_json(options))}


def passkeys_of(ctx: ServerContext, *, device_id: str) -> list[DevicePasskey]:
    """A device's passkeys, oldest first."""
    with ctx.db.read() as session:
        return list(
            session.exec(
                select(DevicePasskey)
                .where(DevicePasskey.device_id == device_id)
                .order_by(col(DevicePasskey.created_at))
            ).all()
        )


def registration_options(ctx: ServerContext, *, device: Device) -> dict[str, Any]:
    """Options for ``navigator.credentials.create``: a platform passkey, user verification required."""
    rp = relying_party(ctx)
    with ctx.db.read() as session:
        user = session.get(User, device.user_id)
    if user is None:
        raise NotFound("no such user")
    existing = passkeys_of(ctx, device_id=device.id)
    if len(existing) >= MAX_PASSKEYS_PER_DEVICE:
        raise ServiceError(f"at most {MAX_PASSKEYS_PER_DEVICE} passkeys per device", code="too_many_passkeys")
    challenge = os.urandom(32)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=device.id.encode(),  # one passkey user per device: the phone, not the person, holds it
        user_name=user.email or user.full_name,
        user_display_name=user.full_name,
        challenge=challenge,
        timeout=ctx.settings.passkey_challenge_seconds * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=_unb64(p.id)) for p in existing],
    )
    return _options(_store_challenge(ctx, device, REGISTER, challenge, b""), options)


def _unb64(text: str) -> bytes:
    return base64url_to_bytes(text)


def _take_challenge(
    session: Any, device: Device, challenge_id: str, purpose: str, session_id: str | None
) -> tuple[PasskeyChallenge | None, str | None]:
    """Spend a challenge (once, even when the answer then fails); the challenge or why it is refused."""
    found = session.exec(select(PasskeyChallenge).where(PasskeyChallenge.id == challenge_id).with_for_update()).first()
    if found is None or found.device_id != device.id or found.purpose != purpose:
        return None, "unknown challenge"
    if found.used_at is not None:
        return None, "challenge already used"
    now = utcnow()
    found.used_at = now
    session.add(found)
    if found.expires_at <= now:
        return None, "challenge expired"
    if session_id is not None and found.session_id != session_id:
        return None, "challenge issued for another session"
    return found, None


def register(ctx: ServerContext, *, device: Device, challenge_id: str, credential: dict[str, Any]) -> DevicePasskey:
    """Verify a registration answer and keep the passkey for ``device``.

    :raises PasskeyRefused: the answer does not verify (wrong challenge, origin, no user verification...).
    """
    rp = relying_party(ctx)
    problem: str | None = None
    passkey: DevicePasskey | None = None
    with ctx.db.write() as session:
        challenge, problem = _take_challenge(session, device, challenge_id, REGISTER, None)
        if challenge is not None:
            try:
                verified = verify_registration_response(
                    credential=credential,
                    expected_challenge=challenge.challenge,
                    expected_rp_id=rp.id,
                    expected_origin=rp.origins,
                    require_user_verification=True,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
                problem = f"registration does not verify: {exc}"[:300]
            else:
                passkey_id = bytes_to_base64url(verified.credential_id)
                if session.get(DevicePasskey, passkey_id) is not None:
                    problem = "this passkey is already registered"
                else:
                    passkey = DevicePasskey(
                        id=passkey_id,
                        device_id=device.id,
                        user_id=device.user_id,
                        public_key=verified.credential_public_key,
                        sign_count=verified.sign_count,
                        aaguid=str(verified.aaguid),
                    )
                    session.add(passkey)
        target = f"device:{device.id}"
        if passkey is not None:
            audit.record(session, actor=target, action="passkey.registered", target=target, passkey=passkey.id[:16])
        else:
            audit.record(
                session, actor=target, action="passkey.refused", target=target, purpose=REGISTER, reason=problem
            )
    if passkey is None:
        raise PasskeyRefused("the passkey could not be registered")
    return passkey


def assertion_options(
    ctx: ServerContext, *, device: Device, purpose: str, row: SigningSession | None = None
) -> dict[str, Any]:
    """Options for ``navigator.credentials.get`` with user verification required: for a confirmation
    of ``row`` (the challenge commits to it) or to unlock the app's codes.

    :raises NotFound: the device has no passkey.
    """
    keys = passkeys_of(ctx, device_id=device.id)
    if not keys:
        raise NotFound("this device has no passkey", code="no_passkey")
    nonce = os.urandom(16)
    challenge = session_challenge(row, nonce) if row is not None else nonce + os.urandom(16)
    options = generate_authentication_options(
        rp_id=relying_party(ctx).id,
        challenge=challenge,
        timeout=ctx.settings.passkey_challenge_seconds * 1000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=_unb64(p.id)) for p in keys],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    challenge_id = _store_challenge(ctx, device, purpose, challenge, nonce, row.id if row is not None else None)
    return _options(challenge_id, options)


def verify_assertion(
    ctx: ServerContext,
    *,
    device: Device,
    challenge_id: str,
    credential: dict[str, Any],
    purpose: str,
    row: SigningSession | None = None,
) -> DevicePasskey:
    """Verify an assertion answering ``challenge_id`` (spent either way) with user verification, and
    move the passkey's counter forward. For a confirmation the expected challenge is recomputed from
    ``row``, the session being confirmed.

    :raises PasskeyRefused: unknown, spent, expired or other-session challenge; another device's or an
        unknown passkey; wrong origin or relying party; no user verification; a bad signature; a
        signature counter that did not move forward.
    """
    rp = relying_party(ctx)
    problem: str | None = None
    used: DevicePasskey | None = None
    with ctx.db.write() as session:
        challenge, problem = _take_challenge(
            session, device, challenge_id, purpose, row.id if row is not None else None
        )
        passkey = session.get(DevicePasskey, str(credential.get("id", ""))[:512]) if challenge else None
        if challenge is not None and (passkey is None or passkey.device_id != device.id):
            problem = "unknown passkey for this device"
        elif challenge is not None and passkey is not None:
            expected = session_challenge(row, challenge.nonce) if row is not None else challenge.challenge
            try:
                verified = verify_authentication_response(
                    credential=credential,
                    expected_challenge=expected,
                    expected_rp_id=rp.id,
                    expected_origin=rp.origins,
                    credential_public_key=passkey.public_key,
                    credential_current_sign_count=passkey.sign_count,
                    require_user_verification=True,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
                problem = f"assertion does not verify: {exc}"[:300]
            else:
                passkey.sign_count = verified.new_sign_count
                passkey.last_used_at = utcnow()
                session.add(passkey)
                used = passkey
        actor = f"device:{device.id}"
        target = f"session:{row.id}" if row is not None else actor
        if used is None:
            audit.record(session, actor=actor, action="passkey.refused", target=target, purpose=purpose, reason=problem)
        elif purpose == UNLOCK:
            audit.record(session, actor=actor, action="device.unlocked", target=target, method="passkey")
    if used is None:
        raise PasskeyRefused("the passkey answer was refused: nothing was signed or unlocked")
    return used


def require_passkey(ctx: ServerContext, *, credential_id: str) -> bool:
    """Whether the admin requires passkey confirmations for this credential."""
    with ctx.db.read() as session:
        policy = session.get(CredentialPasskeyPolicy, credential_id)
    return bool(policy and policy.require_passkey)


def set_policy(ctx: ServerContext, *, credential_id: str, require: bool, actor: str) -> CredentialPasskeyPolicy:
    """Require (or no longer require) passkey confirmations for a credential: with it, a TOTP code is refused.

    :raises NotFound: no such credential.
    """
    with ctx.db.write() as session:
        if session.get(Credential, credential_id) is None:
            raise NotFound(f"no credential {credential_id}", code="credential_not_found")
        policy = session.get(CredentialPasskeyPolicy, credential_id) or CredentialPasskeyPolicy(
            credential_id=credential_id, set_by=actor
        )
        policy.require_passkey = require
        policy.set_by = actor
        policy.set_at = utcnow()
        session.add(policy)
        audit.record(
            session,
            actor=actor,
            action="credential.passkey_policy",
            target=f"credential:{credential_id}",
            require_passkey=require,
        )
    return policy
