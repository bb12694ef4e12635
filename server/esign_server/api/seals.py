"""Admin API of organization seals (scope ``admin``): mark a credential as a seal, set its policy.

A seal signs for the relying systems its policy names without a person confirming (CSC SCAL 1),
within per-minute and per-day limits, allowed hours (Asia/Ho_Chi_Minh) and a batch size.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from esign_server.api.deps import AdminClient
from esign_server.schemas import ErrorBody
from esign_server.schemas.seals import SealPolicyIn, SealPublic
from esign_server.services import seals

router = APIRouter(
    prefix="/api/admin",
    tags=["admin", "seals"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)


@router.put("/credentials/{credential_id}/seal", response_model=SealPublic)
async def set_seal(credential_id: str, body: SealPolicyIn, caller: AdminClient) -> SealPublic:
    """Mark an organization's credential as a seal (or replace its policy): who may use it, how often, when."""
    view = await run_in_threadpool(
        seals.set_policy,
        caller.ctx,
        credential_id=credential_id,
        clients=body.clients,
        per_minute=body.per_minute,
        per_day=body.per_day,
        hours=body.hours,
        max_hashes_per_call=body.max_hashes_per_call,
        actor=caller.actor,
    )
    return SealPublic(**asdict(view))


@router.get("/credentials/{credential_id}/seal", response_model=SealPublic)
async def get_seal(credential_id: str, caller: AdminClient) -> SealPublic:
    """A seal's policy (404 ``seal_not_found`` when the credential is not a seal)."""
    return SealPublic(**asdict(await run_in_threadpool(seals.get_seal, caller.ctx, credential_id)))


@router.delete("/credentials/{credential_id}/seal", status_code=204)
async def remove_seal(credential_id: str, caller: AdminClient) -> Response:
    """Make the seal an ordinary credential again; its unspent SADs stop working at once."""
    await run_in_threadpool(seals.remove_seal, caller.ctx, credential_id=credential_id, actor=caller.actor)
    return Response(status_code=204)


@router.get("/seals", response_model=list[SealPublic])
async def list_seals(caller: AdminClient) -> list[SealPublic]:
    """Every organization seal with its policy."""
    return [SealPublic(**asdict(v)) for v in await run_in_threadpool(seals.list_seals, caller.ctx)]
