"""Signing sessions for relying systems: create, poll or long-poll, fetch signatures, cancel."""

from __future__ import annotations

import functools
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool

from esign_server.api.deps import ClientCaller, CtxDep, SessionsClient
from esign_server.api.views import credential_public, session_public
from esign_server.context import ServerContext
from esign_server.schemas import CredentialPublic, ErrorBody, SessionCreate, SessionList, SessionPublic
from esign_server.services import sessions as session_service
from esign_server.services.documents import MEDIA_TYPES, DocumentIn
from esign_server.services.errors import Conflict, Forbidden, NotFound
from esign_server.services.grants import holder_if_granted

router = APIRouter(
    prefix="/api",
    tags=["sessions"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionPublic,
    responses={
        200: {"model": SessionPublic, "description": "Replayed Idempotency-Key"},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)
async def create_session(
    body: SessionCreate,
    caller: SessionsClient,
    ctx: CtxDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SessionPublic:
    """Ask the credential's holder to sign ``items``; show them ``confirmation_code``."""
    # async with the blocking step in one thread-pool call: for a ``def`` endpoint FastAPI would
    # also validate the response in the thread pool, a second hop per request.
    public, created = await run_in_threadpool(_create_session, body, caller, ctx, idempotency_key)
    if not created:
        response.status_code = 200
    return public


def _create_session(
    body: SessionCreate, caller: ClientCaller, ctx: ServerContext, idempotency_key: str | None
) -> tuple[SessionPublic, bool]:
    """The session create's blocking part (thread pool): the new (or replayed) session, and whether it is new."""
    documents = [DocumentIn(d.name, d.format, d.content, dict(d.options)) for d in body.documents or ()]
    row, created = session_service.create_session(
        ctx,
        client_id=caller.client_id,
        credential_id=body.credential_id,
        items=[session_service.HashItem(i.name, i.digest) for i in body.items],
        digest=body.digest_algorithm,
        signature_algorithm=body.signature_algorithm,
        description=body.description,
        callback_url=body.callback_url,
        idempotency_key=idempotency_key,
        ttl_seconds=body.ttl_seconds,
        documents=documents,
    )
    return session_public(row), created


@router.get("/sessions", response_model=SessionList)
def list_sessions(caller: SessionsClient, ctx: CtxDep, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> SessionList:
    """This relying system's recent sessions, newest first."""
    rows = session_service.list_for_client(ctx, client_id=caller.client_id, limit=limit)
    return SessionList(sessions=[session_public(r) for r in rows])


@router.get("/sessions/{session_id}", response_model=SessionPublic, responses={404: {"model": ErrorBody}})
async def get_session(
    session_id: str,
    caller: SessionsClient,
    ctx: CtxDep,
    wait: Annotated[float, Query(ge=0, le=300, description="Long-poll: wait up to this many seconds")] = 0,
) -> SessionPublic:
    """The session; with ``wait`` the answer comes when it leaves ``pending`` (or the wait ends)."""
    read = functools.partial(session_service.get_for_client, ctx, client_id=caller.client_id, session_id=session_id)
    row = await run_in_threadpool(read)
    deadline = time.monotonic() + min(wait, ctx.settings.long_poll_max_seconds)
    while row.status == "pending" and (remaining := deadline - time.monotonic()) > 0:
        # Woken at once by this worker; re-read at least every second for the other workers.
        await ctx.events.wait([f"session:{session_id}"], min(remaining, 1.0))
        row = await run_in_threadpool(read)
    return session_public(row)


@router.get(
    "/sessions/{session_id}/documents/{index}",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}, "application/xml": {}}},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)
def get_document(session_id: str, index: int, caller: SessionsClient, ctx: CtxDep) -> Response:
    """The signed document ``index`` of a signed session."""
    row = session_service.get_for_client(ctx, client_id=caller.client_id, session_id=session_id)
    if row.status != "signed":
        raise Conflict(f"the session is {row.status}; documents are served once it is signed", code="not_signed")
    for doc in session_service.document_rows(ctx, session_id):
        if doc.index == index and doc.signed_content is not None:
            return Response(
                doc.signed_content,
                media_type=MEDIA_TYPES.get(doc.format, "application/octet-stream"),
                headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.name)}"},
            )
    raise NotFound(f"no document {index} in session {session_id}", code="document_not_found")


@router.post(
    "/sessions/{session_id}/cancel",
    response_model=SessionPublic,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def cancel_session(session_id: str, caller: SessionsClient, ctx: CtxDep) -> SessionPublic:
    """Withdraw a pending request."""
    return session_public(session_service.cancel(ctx, client_id=caller.client_id, session_id=session_id))


@router.get("/credentials/{credential_id}", response_model=CredentialPublic, responses={404: {"model": ErrorBody}})
def get_credential(
    credential_id: str,
    caller: SessionsClient,
    ctx: CtxDep,
    reveal: Annotated[bool, Query(description="Show personal numbers in `subject` unmasked (admin scope)")] = False,
) -> CredentialPublic:
    """A credential's certificate, chain and algorithms (to build signed attributes before asking), for a
    relying system its holder authorised (any other credential is 'not found')."""
    if reveal and "admin" not in caller.scopes:
        raise Forbidden("?reveal=true needs the 'admin' scope", code="insufficient_scope")
    credential = holder_if_granted(ctx, client_id=caller.client_id, credential_id=credential_id)
    if credential is None:
        raise NotFound(f"no credential {credential_id}", code="credential_not_found")
    return credential_public(credential, reveal=reveal)
