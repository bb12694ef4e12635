"""The phone's API: pair with an enrollment link, list requests, confirm with a code, reject, history,
and live updates as server-sent events (with plain polling of ``/sessions`` as the fallback)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from esign_server.api.deps import CtxDep, CurrentDevice, DeviceCall, DeviceCallDep
from esign_server.api.views import mobile_sessions
from esign_server.context import ServerContext
from esign_server.models import Device, User
from esign_server.schemas import (
    Confirm,
    DeviceMe,
    ErrorBody,
    GrantPublic,
    MobileSession,
    MobileSessionList,
    PairComplete,
    Paired,
    PairInfo,
    PairStart,
    PendingGroup,
    Reject,
)
from esign_server.services import devices, grants
from esign_server.services import sessions as session_service

router = APIRouter(
    prefix="/api/mobile",
    tags=["mobile"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        423: {"model": ErrorBody},
    },
)
SSE_HEARTBEAT_SECONDS = 15.0


@router.post("/pair/start", response_model=PairInfo)
def pair_start(body: PairStart, ctx: CtxDep) -> PairInfo:
    """Open a pairing link: who it is for, and the otpauth URI so the app can make codes itself."""
    device, user, uri = devices.pairing_details(ctx, enrollment_token=body.enrollment_token)
    return PairInfo(
        device_id=device.id,
        user_name=user.full_name,
        issuer=ctx.settings.totp_issuer,
        otpauth_uri=uri,
        expires_at=device.enrollment_expires_at,
    )


@router.post("/pair", response_model=Paired)
def pair(body: PairComplete, ctx: CtxDep) -> Paired:
    """Finish pairing with a first correct code; the answer holds the device token (shown once)."""
    device, token = devices.activate(
        ctx,
        enrollment_token=body.enrollment_token,
        code=body.code,
        device_name=body.device_name or None,
        actor="mobile",
    )
    with ctx.db.read() as session:
        user = session.get(User, device.user_id)
    return Paired(
        device_id=device.id, device_token=token, user_id=device.user_id, user_name=user.full_name if user else ""
    )


@router.get("/me", response_model=DeviceMe)
def me(device: CurrentDevice, ctx: CtxDep) -> DeviceMe:
    """This device and its user."""
    with ctx.db.read() as session:
        user = session.get(User, device.user_id)
    return DeviceMe(
        device_id=device.id, device_name=device.name, user_id=device.user_id, user_name=user.full_name if user else ""
    )


@router.get("/sessions", response_model=MobileSessionList)
def list_sessions(
    device: CurrentDevice,
    ctx: CtxDep,
    state: Annotated[Literal["pending", "history"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MobileSessionList:
    """Every pending request, grouped by relying system (``groups``), or the history (newest first, at most
    ``limit``). Also the polling fallback."""
    session_service.expire_due(ctx)
    rows = session_service.list_for_user(ctx, user_id=device.user_id, pending=state == "pending", limit=limit)
    shown = mobile_sessions(ctx, rows)
    if state != "pending":
        return MobileSessionList(sessions=shown)
    return grouped(shown)


def grouped(pending: list[MobileSession]) -> MobileSessionList:
    """Pending requests grouped by relying system (by name), oldest first within each group."""
    groups: dict[str, PendingGroup] = {}
    for item in pending:
        group = groups.get(item.relying_system.id)
        if group is None:
            group = groups[item.relying_system.id] = PendingGroup(
                relying_system=item.relying_system, count=0, session_ids=[]
            )
        group.count += 1
        group.session_ids.append(item.id)
    ordered = sorted(groups.values(), key=lambda g: (g.relying_system.name.casefold(), g.relying_system.id))
    by_id = {item.id: item for item in pending}
    sessions = [by_id[sid] for group in ordered for sid in group.session_ids]
    return MobileSessionList(sessions=sessions, groups=ordered)


@router.get("/sessions/{session_id}", response_model=MobileSession)
def get_session(session_id: str, device: CurrentDevice, ctx: CtxDep) -> MobileSession:
    """One request."""
    row = session_service.get_for_user(ctx, user_id=device.user_id, session_id=session_id)
    return mobile_sessions(ctx, [row])[0]


@router.post("/sessions/{session_id}/confirm", response_model=MobileSession)
async def confirm(session_id: str, body: Confirm, device: DeviceCallDep) -> MobileSession:
    """Confirm with the current TOTP code: the items are signed at once."""
    # async with the blocking step in one thread-pool call (a ``def`` endpoint's response would be
    # validated in a second hop).
    return await run_in_threadpool(_confirm, session_id, body.code, device)


def _confirm(session_id: str, code: str, device: DeviceCall) -> MobileSession:
    """The confirmation's blocking part (thread pool)."""
    # The device token is checked inside the confirmation's own transaction.
    row = session_service.confirm_with_token(device.ctx, device_token=device.token, session_id=session_id, code=code)
    return mobile_sessions(device.ctx, [row])[0]


@router.post("/sessions/{session_id}/reject", response_model=MobileSession)
def reject(session_id: str, device: CurrentDevice, ctx: CtxDep, body: Reject | None = None) -> MobileSession:
    """Decline the request."""
    row = session_service.reject(ctx, device=device, session_id=session_id, reason=body.reason if body else None)
    return mobile_sessions(ctx, [row])[0]


@router.get("/relying-systems", response_model=list[GrantPublic])
def list_relying_systems(device: CurrentDevice, ctx: CtxDep) -> list[GrantPublic]:
    """The relying systems this user has authorised (only they may ask the user to sign)."""
    return [
        GrantPublic.model_validate(g, from_attributes=True) for g in grants.list_for_user(ctx, user_id=device.user_id)
    ]


@router.delete("/relying-systems/{client_id}", status_code=204, response_class=Response)
def withdraw_relying_system(client_id: str, device: CurrentDevice, ctx: CtxDep) -> Response:
    """The user withdraws a relying system's authorisation: its requests and SADs stop working at once."""
    grants.revoke(ctx, client_id=client_id, user_id=device.user_id, actor=f"device:{device.id}")
    return Response(status_code=204)


def _snapshot(ctx: ServerContext, device: Device) -> dict[str, MobileSession] | None:
    """The device's view of its user's requests; None once the device is no longer active (revoked)."""
    if not devices.is_active(ctx, device_id=device.id):
        return None
    session_service.expire_due(ctx)
    pending = session_service.list_for_user(ctx, user_id=device.user_id, pending=True, limit=100)
    recent = session_service.list_for_user(ctx, user_id=device.user_id, pending=False, limit=20)
    return {s.id: s for s in mobile_sessions(ctx, pending + recent)}


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


@router.get("/events", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, device: CurrentDevice, ctx: CtxDep) -> StreamingResponse:
    """Server-sent events: ``snapshot`` (pending list) first, then ``session`` for each new or changed request.

    Browsers' ``EventSource`` cannot set headers: pass the device token as ``?access_token=``.
    """

    async def stream() -> AsyncIterator[str]:
        known = await run_in_threadpool(_snapshot, ctx, device)
        if known is None:
            return
        pending = grouped([s for s in known.values() if s.status == "pending"])
        yield "retry: 3000\n\n" + _sse("snapshot", pending.model_dump(mode="json"))
        last_beat = time.monotonic()
        while not await request.is_disconnected():
            # Woken at once by this worker's revocation of the device; re-checked every 2 s for the others.
            await ctx.events.wait([f"user:{device.user_id}", f"device:{device.id}"], 2.0)
            current = await run_in_threadpool(_snapshot, ctx, device)
            if current is None:
                # Revoked: say so and end the stream, so the device hears of no further request.
                yield _sse("revoked", {"device_id": device.id})
                return
            for sid, item in current.items():
                before = known.get(sid)
                if before is None or before.status != item.status:
                    yield _sse("session", item.model_dump(mode="json"))
            known = current
            if time.monotonic() - last_beat > SSE_HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
