"""The ASGI application factory.

>>> from esign_server.app import create_app  # doctest: +SKIP
>>> app = create_app()                       # settings from ESIGN_* and .env
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from esign_server.admin_console.router import router as admin_console
from esign_server.api import (
    admin,
    csc,
    exchange,
    health,
    identity,
    marks,
    mobile,
    oauth,
    orgids,
    phone,
    pki,
    previews,
    seals,
    sessions,
    verify,
)
from esign_server.api.errors import install_error_handlers
from esign_server.config import Settings, get_settings
from esign_server.context import ServerContext
from esign_server.logs import configure_logging
from esign_server.middleware import BodySizeLimit, RequestLog
from esign_server.services.audit import write_checkpoint
from esign_server.services.exchange import dispatch_due as dispatch_exchange_due
from esign_server.services.sessions import expire_due
from esign_server.services.webhooks import dispatch_due
from esign_server.web.docs import mount_api_docs
from esign_server.web.mobile import mount_mobile_app

log = logging.getLogger("esign_server")
EXPIRY_SWEEP_SECONDS = 2.0
CHECKPOINT_SECONDS = 1.0
WEBHOOK_DISPATCH_SECONDS = 1.0
EXCHANGE_DISPATCH_SECONDS = 1.0


async def _every(seconds: float, job: Callable[[], object], what: str) -> None:
    """Run a blocking background ``job`` in the thread pool every ``seconds``; a failure is logged."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(job)
        except Exception:
            log.exception("%s failed", what)


def create_app(settings: Settings | None = None, *, ctx: ServerContext | None = None) -> FastAPI:
    """Build the app: routers, error handlers, body size limit, request logs, expiry sweeper and
    (SQLite) WAL checkpointer."""
    settings = settings or (ctx.settings if ctx else get_settings())
    configure_logging(json_lines=settings.log_json, level=settings.log_level)
    context = ctx or ServerContext(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Expire overdue sessions (and send their webhooks) even when nobody polls them.
        sweep = partial(expire_due, context)
        background = [asyncio.create_task(_every(EXPIRY_SWEEP_SECONDS, sweep, "expiry sweep"))]
        # Signed checkpoints of the audit chain's head, outside the database (services.audit).
        checkpoint_audit = partial(write_checkpoint, context)
        every = settings.audit_checkpoint_seconds
        background.append(asyncio.create_task(_every(every, checkpoint_audit, "audit checkpoint")))
        # Webhooks due for a (re)try, from the outbox (services.webhooks).
        webhooks_due = partial(dispatch_due, context)
        background.append(asyncio.create_task(_every(WEBHOOK_DISPATCH_SECONDS, webhooks_due, "webhook dispatch")))
        if settings.exchange_node_code:
            # edXML packages due for a peer exchange node, from the outbox (services.exchange).
            exchange_due = partial(dispatch_exchange_due, context)
            background.append(asyncio.create_task(_every(EXCHANGE_DISPATCH_SECONDS, exchange_due, "exchange dispatch")))
        if context.db.is_sqlite:
            # Checkpoint the WAL off the requests' path: no request pays for the copy and its fsync.
            checkpoint = context.db.checkpoint
            background.append(asyncio.create_task(_every(CHECKPOINT_SECONDS, checkpoint, "WAL checkpoint")))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="esign remote-signing service",
        version="0.1.0",
        description="Signing sessions confirmed by a TOTP code on the user's phone; the service's CA, OCSP, "
        'CRL and TSA. Errors are JSON `{"error": code, "message": text}`.',
        lifespan=lifespan,
        docs_url=None,  # served by mount_api_docs from local assets (no CDN)
        redoc_url=None,
    )
    app.state.ctx = context
    install_error_handlers(app)
    # Routes are matched in order, one regular expression each: the per-request paths (sessions, the
    # phone, CSC v2 and v1) come first, so a signing request does not try the admin routes first.
    for router in (
        health.router,
        oauth.router,
        sessions.router,
        mobile.router,
        *csc.routers,  # CSC API v2 and v1
        admin.router,
        seals.router,  # organization seals and their policies (admin)
        marks.router,  # Decree 30 signature and seal images
        previews.router,  # ... and how they will look, for the phone
        phone.router,  # the phone's passkeys, PIN, push subscriptions, document pages
        phone.admin_router,  # the admin's passkey rule per credential
        orgids.router,
        pki.router,
        identity.router,
        verify.router,
        *exchange.routers,  # the document exchange node (edXML) and its admin
        admin_console,  # the admin web console at /admin/
    ):
        app.include_router(router)
    mount_mobile_app(app)
    mount_api_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory esign_server.app:app_from_env`` (``esign server run``)."""
    app = create_app()
    # A full garbage collection scans every tracked object, and what startup built (modules,
    # SQLAlchemy's and pydantic's metadata) is most of them and never becomes garbage: keep it out of
    # the collector's passes, which otherwise stall every request in flight. Only in a server
    # process: a test process builds and drops many apps.
    gc.collect()
    gc.freeze()
    return app
