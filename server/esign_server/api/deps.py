"""Dependencies shared by the routers: the server context and the three kinds of caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request

from esign_server.context import ServerContext
from esign_server.models import Device
from esign_server.services.devices import authenticate_device
from esign_server.services.errors import Forbidden, Unauthorized

# The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the
# thread pool, and each such hop costs more CPU than the check itself (measured: ~0.3 ms a hop).


async def get_ctx(request: Request) -> ServerContext:
    """The server context of this app."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[ServerContext, Depends(get_ctx)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class ClientCaller:
    """A relying system authenticated by its access token."""

    client_id: str
    scopes: tuple[str, ...]
    ctx: ServerContext = field(repr=False, compare=False)
    """The server context, carried here so a route needs one dependency, not two (each costs ~35 µs)."""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"client:{self.client_id}"


def _client(request: Request, scope: str) -> ClientCaller:
    ctx: ServerContext = request.app.state.ctx
    token = bearer_token(request)
    claims = ctx.tokens.check(token) if token else None
    if claims is None:
        raise Unauthorized("missing, invalid or expired access token", code="invalid_token")
    scopes = tuple(claims.get("scp", ()))
    if scope not in scopes:
        raise Forbidden(f"this token lacks the '{scope}' scope", code="insufficient_scope")
    return ClientCaller(str(claims["sub"]), scopes, ctx)


async def sessions_client(request: Request) -> ClientCaller:
    """A relying system with the ``sessions`` scope."""
    return _client(request, "sessions")


async def admin_client(request: Request) -> ClientCaller:
    """A caller with the ``admin`` scope."""
    return _client(request, "admin")


async def exchange_client(request: Request) -> ClientCaller:
    """A relying system (or a peer exchange node's client) with the ``exchange`` scope."""
    return _client(request, "exchange")


SessionsClient = Annotated[ClientCaller, Depends(sessions_client)]
AdminClient = Annotated[ClientCaller, Depends(admin_client)]
ExchangeClient = Annotated[ClientCaller, Depends(exchange_client)]


async def device_token(
    request: Request,
    access_token: Annotated[str | None, Query(description="Device token, for EventSource (no headers)")] = None,
) -> str:
    """The device's bearer token (header, or ``?access_token=`` for SSE), not yet checked."""
    token = bearer_token(request) or access_token
    if not token:
        raise Unauthorized("missing device token", code="invalid_device")
    return token


DeviceToken = Annotated[str, Depends(device_token)]


@dataclass(frozen=True)
class DeviceCall:
    """A device's bearer token (not yet checked: the step checks it in its own transaction) and the context."""

    token: str
    ctx: ServerContext


async def device_call(request: Request) -> DeviceCall:
    """The device token of an ``Authorization: Bearer`` header, with the server context: one dependency."""
    token = bearer_token(request)
    if not token:
        raise Unauthorized("missing device token", code="invalid_device")
    return DeviceCall(token, request.app.state.ctx)


DeviceCallDep = Annotated[DeviceCall, Depends(device_call)]


def current_device(ctx: CtxDep, token: DeviceToken) -> Device:
    """The paired device presenting its bearer token (header, or ``?access_token=`` for SSE)."""
    return authenticate_device(ctx, token)


CurrentDevice = Annotated[Device, Depends(current_device)]
