"""The organization identifier registry: public lookups; issue, amend, close, import for admins.

Lookups (search, one code, children, history, status, export) need no token: the registry is
public reference data. Changes need the ``admin`` scope and land in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from esign.orgid import OrgIdentifier
from esign_server.api.deps import AdminClient, CtxDep
from esign_server.api.errors import error_response
from esign_server.models import OrgCode, OrgCodeEvent
from esign_server.schemas import ErrorBody
from esign_server.schemas.orgids import (
    CertificateCarryingCode,
    ImportRejectedBody,
    ImportSummary,
    OrgCodeAmend,
    OrgCodeClose,
    OrgCodeClosed,
    OrgCodeEventPublic,
    OrgCodeHistory,
    OrgCodeIssue,
    OrgCodePage,
    OrgCodePublic,
    OrgCodeStatus,
)
from esign_server.services import orgids
from esign_server.services.errors import ServiceError

router = APIRouter(
    prefix="/api/orgids",
    tags=["orgids"],
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    409: {"model": ErrorBody},
}
_MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def org_code_public(row: OrgCode) -> OrgCodePublic:
    """A registry row as the API shows it."""
    code = OrgIdentifier(tuple(row.code.split(".")))
    return OrgCodePublic(
        code=row.code,
        qcvn=code.to_qcvn() if code.qcvn_convertible else None,
        parent=row.parent_code,
        level=row.level,
        name=row.name,
        address=row.address,
        details=row.details,
        status="closed" if row.status == orgids.CLOSED else "active",
        closed_reason=row.closed_reason,
        successor=row.successor_code,
        closed_at=row.closed_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _event_public(event: OrgCodeEvent) -> OrgCodeEventPublic:
    return OrgCodeEventPublic(
        version=event.version, action=event.action, at=event.at, actor=event.actor, changes=event.changes
    )


@router.get("", response_model=OrgCodePage)
def search(
    ctx: CtxDep,
    prefix: Annotated[str | None, Query(max_length=40, description="Code prefix: H49, H49.2, 000.00.22.H49")] = None,
    name: Annotated[str | None, Query(max_length=300, description="Words of the name, diacritics optional")] = None,
    level: Annotated[int | None, Query(ge=1, le=18)] = None,
    status: Literal["active", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> OrgCodePage:
    """Search codes by prefix, name (``quang ninh`` finds ``Quảng Ninh``), level and status."""
    page = orgids.search(ctx, prefix=prefix, name=name, level=level, status=status, limit=limit, offset=offset)
    return OrgCodePage(items=[org_code_public(r) for r in page.items], total=page.total, limit=limit, offset=offset)


@router.post("", status_code=201, response_model=OrgCodePublic, responses=_ADMIN)
def issue(body: OrgCodeIssue, caller: AdminClient, ctx: CtxDep) -> OrgCodePublic:
    """Issue a code to a new organization under an active parent (or a new level-1 code)."""
    return org_code_public(orgids.issue_code(ctx, actor=caller.actor, **body.model_dump()))


@router.get(
    "/export",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The whole registry"}},
)
def export(ctx: CtxDep, format: Literal["csv", "json"] = "csv") -> Response:
    """The whole registry as CSV or JSON, in the form ``POST /api/orgids/import`` takes."""
    text = orgids.export_csv(ctx) if format == "csv" else orgids.export_json(ctx)
    return Response(
        text,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="orgids.{format}"'},
    )


@router.post(
    "/import",
    response_model=ImportSummary,
    responses={**_ADMIN, 400: {"model": ImportRejectedBody}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "array"}}},
        }
    },
)
async def import_(
    request: Request,
    caller: AdminClient,
    ctx: CtxDep,
    format: Literal["csv", "json"] | None = None,
) -> Response:
    """Import CSV or JSON (by ``format`` or the Content-Type): all rows or none; every bad row is named."""
    fmt = format
    if fmt is None:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = "json" if media.endswith("json") else "csv" if media in ("text/csv", "text/plain") else None
    if fmt is None:
        raise ServiceError(
            "say the format: Content-Type text/csv or application/json, or ?format=csv|json",
            code="invalid_format",
            status=415,
        )
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(f"the file is not UTF-8 (byte {exc.start})", code="invalid_encoding") from None
    try:
        result = await run_in_threadpool(orgids.import_text, ctx, text, fmt=fmt, actor=caller.actor)
    except orgids.ImportRejected as exc:
        errors = [{"line": p.line, "code": p.code, "reason": p.reason} for p in exc.problems]
        return error_response(exc.status, exc.code, exc.message, errors=errors)
    return JSONResponse(ImportSummary(created=result.created, unchanged=result.unchanged).model_dump())


@router.get("/{code}", response_model=OrgCodePublic)
def get(code: str, ctx: CtxDep) -> OrgCodePublic:
    """One code, in either written form (``H49.22`` or ``000.00.22.H49``)."""
    return org_code_public(orgids.get_code(ctx, code))


@router.patch("/{code}", response_model=OrgCodePublic, responses=_ADMIN)
def amend(code: str, body: OrgCodeAmend, caller: AdminClient, ctx: CtxDep) -> OrgCodePublic:
    """Change an active code's name, address or details (the history keeps the old values)."""
    return org_code_public(orgids.amend_code(ctx, code=code, actor=caller.actor, **body.model_dump()))


@router.post("/{code}/close", response_model=OrgCodeClosed, responses=_ADMIN)
def close(code: str, body: OrgCodeClose, caller: AdminClient, ctx: CtxDep) -> OrgCodeClosed:
    """Close a code for good (it is never issued again), with a reason and the successor it merged into.

    The answer lists the live certificates that still carry the code (``active_certificates``, with a
    ``warning``): closing changes no certificate, so they are for the admin to reissue or revoke."""
    row = orgids.close_code(ctx, code=code, reason=body.reason, successor=body.successor, actor=caller.actor)
    carrying = [CertificateCarryingCode(**vars(c)) for c in orgids.certificates_carrying(ctx, row.code)]
    warning = None
    if carrying:
        then = f" (successor {row.successor_code})" if row.successor_code else ""
        warning = (
            f"{len(carrying)} live certificate(s) still carry {row.code} in their subject; closing the code "
            f"changed none of them: reissue them with another code{then} or revoke them"
        )
    return OrgCodeClosed(**org_code_public(row).model_dump(), active_certificates=carrying, warning=warning)


@router.get("/{code}/children", response_model=list[OrgCodePublic])
def children(code: str, ctx: CtxDep, status: Literal["active", "closed"] | None = None) -> list[OrgCodePublic]:
    """The codes one level below, in natural order."""
    return [org_code_public(r) for r in orgids.children(ctx, code, status=status)]


@router.get("/{code}/history", response_model=OrgCodeHistory)
def history(code: str, ctx: CtxDep) -> OrgCodeHistory:
    """Every change to the code, oldest first."""
    events = orgids.history(ctx, code)
    return OrgCodeHistory(code=str(orgids.parse_code(code)), events=[_event_public(e) for e in events])


@router.get("/{code}/status", response_model=OrgCodeStatus)
def status(code: str, ctx: CtxDep) -> OrgCodeStatus:
    """Whether the registry knows the code as active (``known: false`` for an unknown code)."""
    key = orgids.parse_code(code)
    return OrgCodeStatus.model_validate(orgids.registry_status(ctx.db, key).to_dict())
