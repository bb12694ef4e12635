"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from esign_server.api.deps import CtxDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Not ready"}})
def ready(ctx: CtxDep) -> JSONResponse:
    """The database answers and is migrated, and the service CA is loaded."""
    checks: dict[str, str] = {}
    try:
        revision, heads = ctx.db.migration_state()
        checks["database"] = "ok" if revision in heads else f"not migrated (at {revision}; run `esign server init`)"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
    try:
        ctx.pki  # noqa: B018 - loading it is the check
        checks["pki"] = "ok"
    except Exception as exc:
        checks["pki"] = f"unavailable: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)
