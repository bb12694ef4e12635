"""OAuth2 token endpoint (client-credentials grant) for relying systems."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request, Response

from esign_server.api.deps import CtxDep
from esign_server.schemas import ErrorBody, TokenResponse
from esign_server.services.clients import issue_access_token
from esign_server.services.errors import ServiceError, Unauthorized

router = APIRouter(tags=["auth"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""Headers of every answer that carries a token (RFC 6749 §5.1): no cache may keep it."""


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``client_id`` and ``client_secret`` from an HTTP Basic header (RFC 6749 §2.3.1)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", code="invalid_client") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed Basic credentials", code="invalid_client")
    return unquote(user), unquote(password)


@router.post(
    "/oauth2/token", response_model=TokenResponse, responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}}
)
def token(
    request: Request,
    response: Response,
    ctx: CtxDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=200)] = None,
) -> TokenResponse:
    """Exchange client credentials (form fields or HTTP Basic) for a bearer token."""
    if grant_type != "client_credentials":
        raise ServiceError("only grant_type=client_credentials is supported", code="unsupported_grant_type")
    basic = basic_credentials(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise Unauthorized("client_id and client_secret are required", code="invalid_client")
    access_token, scopes = issue_access_token(ctx, client_id=client_id, client_secret=client_secret, scope=scope)
    response.headers.update(NO_STORE)
    return TokenResponse(access_token=access_token, expires_in=ctx.tokens.ttl_seconds, scope=" ".join(scopes))
