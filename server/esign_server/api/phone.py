"""The phone's passkeys, PIN, push subscriptions and document pages; and the admin's passkey rule.

Passkeys (WebAuthn, user verification required) register from the app, confirm a request with a
challenge bound to that request, and unlock the codes the app makes, as the PIN set at pairing does
(changed with the old one).
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response

from esign_server.api.deps import AdminClient, CtxDep, CurrentDevice
from esign_server.api.views import mobile_sessions
from esign_server.schemas import ErrorBody, MobileSession
from esign_server.schemas.phone import (
    DocumentPreview,
    MarkBoxPublic,
    PagePublic,
    PasskeyAnswer,
    PasskeyOptions,
    PasskeyPolicy,
    PasskeyPolicyPublic,
    PasskeyPublic,
    PhoneSecurity,
    PinChange,
    PinSet,
    PushSubscriptionIn,
    PushUnsubscribe,
    Unlock,
    Unlocked,
)
from esign_server.services import page_previews, passkeys, pins, push
from esign_server.services import sessions as session_service
from esign_server.services.errors import Conflict, ServiceError

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 423)
}
router = APIRouter(prefix="/api/mobile", tags=["mobile"], responses=ERRORS)
admin_router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERRORS)


def _public(passkey: passkeys.DevicePasskey) -> PasskeyPublic:
    return PasskeyPublic(id=passkey.id, created_at=passkey.created_at, last_used_at=passkey.last_used_at)


@router.get("/security", response_model=PhoneSecurity)
def security(device: CurrentDevice, ctx: CtxDep) -> PhoneSecurity:
    """This device's passkeys, whether it has a PIN, and the Web Push key (None: push is off)."""
    return PhoneSecurity(
        passkeys=[_public(p) for p in passkeys.passkeys_of(ctx, device_id=device.id)],
        has_pin=pins.has_pin(ctx, device_id=device.id),
        push_public_key=push.public_key(ctx),
    )


@router.post("/passkeys/options", response_model=PasskeyOptions)
def passkey_registration_options(device: CurrentDevice, ctx: CtxDep) -> PasskeyOptions:
    """Start registering a platform passkey for this device (user verification required)."""
    return PasskeyOptions(**passkeys.registration_options(ctx, device=device))


@router.post("/passkeys", response_model=PasskeyPublic, status_code=201)
def register_passkey(body: PasskeyAnswer, device: CurrentDevice, ctx: CtxDep) -> PasskeyPublic:
    """Finish the registration with the browser's answer; the passkey then confirms and unlocks."""
    passkey = passkeys.register(ctx, device=device, challenge_id=body.challenge_id, credential=body.credential)
    return _public(passkey)


@router.post("/sessions/{session_id}/passkey-options", response_model=PasskeyOptions)
def confirmation_options(session_id: str, device: CurrentDevice, ctx: CtxDep) -> PasskeyOptions:
    """A one-time challenge that commits to this request (its items, their number, the relying system,
    the expiry), for an assertion with user verification."""
    row = session_service.get_for_user(ctx, user_id=device.user_id, session_id=session_id)
    if row.status != "pending":
        raise Conflict(f"the session is already {row.status}", code=f"session_{row.status}", status_value=row.status)
    return PasskeyOptions(**passkeys.assertion_options(ctx, device=device, purpose=passkeys.CONFIRM, row=row))


@router.post("/sessions/{session_id}/confirm-passkey", response_model=MobileSession)
def confirm_with_passkey(session_id: str, body: PasskeyAnswer, device: CurrentDevice, ctx: CtxDep) -> MobileSession:
    """Confirm with a passkey assertion over this request's challenge: the items are signed at once."""
    row = session_service.get_for_user(ctx, user_id=device.user_id, session_id=session_id)
    if row.status != "pending":
        raise Conflict(f"the session is already {row.status}", code=f"session_{row.status}", status_value=row.status)
    passkeys.verify_assertion(
        ctx,
        device=device,
        challenge_id=body.challenge_id,
        credential=body.credential,
        purpose=passkeys.CONFIRM,
        row=row,
    )
    done = session_service.confirm_verified(
        ctx,
        device_id=device.id,
        user_id=device.user_id,
        session_id=session_id,
        items_digest=row.items_digest,
        method="passkey",
    )
    return mobile_sessions(ctx, [done])[0]


@router.post("/pin", status_code=204, response_class=Response)
def set_pin(body: PinSet, device: CurrentDevice, ctx: CtxDep) -> Response:
    """Set this device's PIN (once, at pairing): it unlocks the codes the app makes."""
    pins.set_pin(ctx, device=device, pin=body.pin)
    return Response(status_code=204)


@router.post("/pin/change", status_code=204, response_class=Response)
def change_pin(body: PinChange, device: CurrentDevice, ctx: CtxDep) -> Response:
    """Replace this device's PIN, given the old one: a wrong old PIN counts towards the lock as at unlock."""
    pins.change_pin(ctx, device=device, old_pin=body.old_pin, new_pin=body.new_pin)
    return Response(status_code=204)


@router.post("/unlock/options", response_model=PasskeyOptions)
def unlock_options(device: CurrentDevice, ctx: CtxDep) -> PasskeyOptions:
    """A one-time challenge to unlock the app's codes with a passkey (user verification required)."""
    return PasskeyOptions(**passkeys.assertion_options(ctx, device=device, purpose=passkeys.UNLOCK))


@router.post("/unlock", response_model=Unlocked)
def unlock(body: Unlock, device: CurrentDevice, ctx: CtxDep) -> Unlocked:
    """The key to the codes the app makes, after the PIN or a passkey assertion (both audited)."""
    if body.challenge_id and body.credential is not None:
        passkeys.verify_assertion(
            ctx, device=device, challenge_id=body.challenge_id, credential=body.credential, purpose=passkeys.UNLOCK
        )
        method = "passkey"
    elif body.pin is not None:
        pins.check_pin(ctx, device=device, pin=body.pin)
        method = "pin"
    else:
        raise ServiceError("give the PIN or a passkey answer", code="invalid_request")
    return Unlocked(code_key=base64.b64encode(pins.code_key(ctx, device=device)).decode(), method=method)


@router.post("/push/subscriptions", status_code=201, response_class=Response)
def push_subscribe(body: PushSubscriptionIn, device: CurrentDevice, ctx: CtxDep) -> Response:
    """Keep this browser's Web Push subscription: a new request then shows a notification."""
    push.subscribe(
        ctx, device=device, endpoint=body.endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth, lang=body.lang
    )
    return Response(status_code=201)


@router.post("/push/unsubscribe", status_code=204, response_class=Response)
def push_unsubscribe(body: PushUnsubscribe, device: CurrentDevice, ctx: CtxDep) -> Response:
    """Forget this browser's subscription."""
    push.unsubscribe(ctx, device=device, endpoint=body.endpoint)
    return Response(status_code=204)


@router.get("/sessions/{session_id}/documents", response_model=list[DocumentPreview])
def documents(session_id: str, device: CurrentDevice, ctx: CtxDep) -> list[DocumentPreview]:
    """The documents of a document session with their first pages and where the mark goes (none for a
    session of hashes: the phone shows its names and description)."""
    session_service.get_for_user(ctx, user_id=device.user_id, session_id=session_id)  # 404 unless the user's
    shown: list[DocumentPreview] = []
    for row in session_service.document_rows(ctx, session_id):
        preview = DocumentPreview(index=row.index, name=row.name, format=row.format)
        if row.format == "pdf":
            info = page_previews.pages(ctx, row)
            preview.page_count = info.page_count
            preview.pages = [PagePublic(number=n + 1, width=w, height=h) for n, (w, h) in enumerate(info.shown)]
            if info.mark is not None:
                preview.mark = MarkBoxPublic(**info.mark.__dict__)
        shown.append(preview)
    return shown


@router.get(
    "/sessions/{session_id}/documents/{index}/pages/{page}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def page_image(session_id: str, index: int, page: int, device: CurrentDevice, ctx: CtxDep) -> Response:
    """A page of a PDF document of the session, rendered (the first pages only, capped in size)."""
    session_service.get_for_user(ctx, user_id=device.user_id, session_id=session_id)
    row = page_previews.document_row(ctx, session_id=session_id, index=index)
    png = page_previews.render_page(ctx, row, page)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@admin_router.get("/credentials/{credential_id}/passkey-policy", response_model=PasskeyPolicyPublic)
def get_passkey_policy(credential_id: str, caller: AdminClient) -> PasskeyPolicyPublic:
    """Whether this credential's confirmations need a passkey."""
    required = passkeys.require_passkey(caller.ctx, credential_id=credential_id)
    return PasskeyPolicyPublic(credential_id=credential_id, require_passkey=required)


@admin_router.put("/credentials/{credential_id}/passkey-policy", response_model=PasskeyPolicyPublic)
def put_passkey_policy(credential_id: str, body: PasskeyPolicy, caller: AdminClient) -> PasskeyPolicyPublic:
    """Require passkey confirmations for a credential (a TOTP code is then refused with 403), or stop."""
    policy = passkeys.set_policy(
        caller.ctx, credential_id=credential_id, require=body.require_passkey, actor=caller.actor
    )
    return PasskeyPolicyPublic(credential_id=credential_id, require_passkey=policy.require_passkey)
