"""The document exchange node's API: send edXML packages, read inboxes, acknowledge, follow a
document's history (scope ``exchange``); bind codes to relying systems and route prefixes to peer
nodes (scope ``admin``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from esign_server.api.deps import AdminClient, ExchangeClient
from esign_server.api.errors import error_response
from esign_server.schemas import ErrorBody
from esign_server.schemas.exchange import (
    BindingPublic,
    BindingSet,
    DeliveryPublic,
    HistoryPublic,
    InboxEntryPublic,
    PackageAccepted,
    RoutePublic,
    RouteSet,
)
from esign_server.services import exchange
from esign_server.services.errors import ServiceError

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}
router = APIRouter(prefix="/api/exchange", tags=["exchange"], responses=ERRORS)
admin_router = APIRouter(prefix="/api/admin/exchange", tags=["admin"], responses=ERRORS)
PACKAGE_TYPES = ("application/xml", "text/xml", "application/edxml+xml", "application/octet-stream")


async def _read_package(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (checked while it streams in)."""
    kind = request.headers.get("content-type", "application/xml").split(";")[0].strip().lower()
    if kind not in PACKAGE_TYPES:
        raise ServiceError(
            f"send the package as application/xml, not {kind[:60]}", code="unsupported_media_type", status=415
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ServiceError(f"the package is over {limit} bytes", code="package_too_large", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(f"the package is over {limit} bytes", code="package_too_large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(exc: exchange.PackageRefused) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, problems=exc.problems)


def _accepted(result: exchange.Received) -> PackageAccepted:
    return PackageAccepted.model_validate(dataclasses.asdict(result))


@router.post(
    "/packages",
    status_code=201,
    response_model=PackageAccepted,
    responses={200: {"model": PackageAccepted, "description": "Already delivered: nothing done again"}},
)
async def send_package(
    request: Request,
    response: Response,
    caller: ExchangeClient,
    sign: Annotated[bool, Query(description="Sign the envelope with the sender organization's credential")] = False,
    recipients: Annotated[
        list[str] | None, Query(max_length=100, description="Deliver to these receivers of the package only")
    ] = None,
) -> PackageAccepted | JSONResponse:
    """Send an edXML package (a document or a status package) as the body (``application/xml``).

    The node validates it (every problem listed in ``problems``), checks that the sender's code is
    bound to this relying system and that every code is active in the registry, verifies the envelope
    signature (one that does not verify is refused: 422 ``signature_invalid``; the answer's ``envelope``
    says ``passed``, ``indeterminate`` or ``unsigned``), adds its trace hop, signs the envelope when
    asked, and delivers it to each receiver's inbox here or to the peer node
    its code is routed to. A package already delivered (same DocumentId, sender, receiver) is
    answered 200 with ``duplicate: true`` and not delivered again.
    """
    ctx = caller.ctx
    try:
        data = await _read_package(request, ctx.settings.exchange_max_package_bytes)
    except ServiceError as exc:
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else -1
        await run_in_threadpool(exchange.record_refusal, ctx, caller.client_id, exc, size)
        raise
    try:
        result = await run_in_threadpool(
            exchange.receive, ctx, client_id=caller.client_id, data=data, sign=sign, recipients=recipients
        )
    except exchange.PackageRefused as exc:
        return _refused(exc)
    if result.duplicate:
        response.status_code = 200
    return _accepted(result)


@router.get("/inbox", response_model=list[InboxEntryPublic])
async def list_inbox(
    caller: ExchangeClient,
    org: Annotated[str | None, Query(max_length=40, description="One of the codes bound to the caller")] = None,
    include_acked: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[exchange.InboxEntry]:
    """Packages delivered to the organizations this relying system is bound to, oldest first."""
    # The response_model turns the service's entries into the wire schema (and validates them).
    return await run_in_threadpool(
        exchange.inbox, caller.ctx, client_id=caller.client_id, org_code=org, include_acked=include_acked, limit=limit
    )


@router.get(
    "/packages/{package_id}",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "The edXML package"}},
)
async def fetch_package(package_id: str, caller: ExchangeClient) -> Response:
    """The package as delivered (with this node's hop); its inbox entries become ``fetched``."""
    body = await run_in_threadpool(exchange.fetch, caller.ctx, client_id=caller.client_id, package_id=package_id)
    return Response(body, media_type=exchange.PACKAGE_MEDIA_TYPE)


@router.post("/packages/{package_id}/ack", response_model=list[DeliveryPublic])
async def acknowledge_package(package_id: str, caller: ExchangeClient) -> list[DeliveryPublic]:
    """Mark the package handled: it leaves the inbox listing (answer with a status package separately)."""
    views = await run_in_threadpool(exchange.acknowledge, caller.ctx, client_id=caller.client_id, package_id=package_id)
    return [DeliveryPublic(**dataclasses.asdict(v)) for v in views]


@router.get("/packages/{package_id}/history", response_model=HistoryPublic)
async def package_history(package_id: str, caller: ExchangeClient) -> HistoryPublic:
    """The document's hops, each recipient's delivery and latest status, and every step on this node."""
    found = await run_in_threadpool(exchange.history, caller.ctx, client_id=caller.client_id, package_id=package_id)
    return HistoryPublic.model_validate(dataclasses.asdict(found))


@admin_router.put("/bindings", response_model=BindingPublic)
async def set_binding(body: BindingSet, caller: AdminClient) -> BindingPublic:
    """Bind an organization code to a relying system (it may send for it and read its inbox)."""
    view = await run_in_threadpool(exchange.bind_code, caller.ctx, actor=caller.actor, **body.model_dump())
    return BindingPublic(**dataclasses.asdict(view))


@admin_router.get("/bindings", response_model=list[BindingPublic])
async def list_bindings(
    caller: AdminClient, client_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[BindingPublic]:
    """Every binding (or one relying system's)."""
    views = await run_in_threadpool(exchange.list_bindings, caller.ctx, client_id=client_id)
    return [BindingPublic(**dataclasses.asdict(v)) for v in views]


@admin_router.delete("/bindings/{org_code}/{client_id}", status_code=204)
async def remove_binding(org_code: str, client_id: str, caller: AdminClient) -> Response:
    """Withdraw a binding."""
    await run_in_threadpool(
        exchange.unbind_code, caller.ctx, org_code=org_code, client_id=client_id, actor=caller.actor
    )
    return Response(status_code=204)


@admin_router.put("/routes/{prefix}", response_model=RoutePublic)
async def set_route(prefix: str, body: RouteSet, caller: AdminClient) -> RoutePublic:
    """Route the codes under ``prefix`` to a peer node, with the client credentials that peer issued."""
    view = await run_in_threadpool(
        exchange.set_route, caller.ctx, prefix=prefix, actor=caller.actor, **body.model_dump()
    )
    return RoutePublic(**dataclasses.asdict(view))


@admin_router.get("/routes", response_model=list[RoutePublic])
async def list_routes(caller: AdminClient) -> list[RoutePublic]:
    """Every peer route."""
    return [RoutePublic(**dataclasses.asdict(v)) for v in await run_in_threadpool(exchange.list_routes, caller.ctx)]


@admin_router.delete("/routes/{prefix}", status_code=204)
async def remove_route(prefix: str, caller: AdminClient) -> Response:
    """Withdraw a route."""
    await run_in_threadpool(exchange.remove_route, caller.ctx, prefix=prefix, actor=caller.actor)
    return Response(status_code=204)


routers = (router, admin_router)
