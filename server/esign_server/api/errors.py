"""Every error leaves as JSON ``{"error": code, "message": text}``; bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from esign.errors import (
    EsignError,
    InvalidInput,
    KeyAccessError,
    MissingExtra,
    PKIError,
    SigningError,
    VerificationError,
)
from esign_server.services.errors import ServiceError

log = logging.getLogger("esign_server.errors")

DATABASE_RETRY_AFTER_SECONDS = 1
"""What ``Retry-After`` tells a client when the database is out of reach for a moment."""
KEYSTORE_RETRY_AFTER_SECONDS = 5
"""What ``Retry-After`` tells a client when a key store (HSM) or PKI component is out of reach."""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The one error shape."""
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


def status_for(exc: EsignError) -> int:
    """HTTP status of a library or service error."""
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, InvalidInput | VerificationError):
        return 400
    if isinstance(exc, SigningError):
        return 502
    if isinstance(exc, KeyAccessError | PKIError | MissingExtra):
        return 503
    return 500


async def _esign_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EsignError)
    status = status_for(exc)
    headers = None
    extra: dict[str, Any] = {}
    if isinstance(exc, ServiceError):
        extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | bool)}
        if "retry_after" in extra:
            headers = {"Retry-After": str(extra["retry_after"])}
    if status == 503 and headers is None:
        # A key store or PKI component out of reach: the request can be sent again.
        headers = {"Retry-After": str(KEYSTORE_RETRY_AFTER_SECONDS)}
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, exc.message)
    return error_response(status, exc.code, exc.message, headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(p for p in first["loc"] if p not in ("body",)) or "request"
    return error_response(422, "invalid_request", f"{where}: {first['msg']}", details=details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, dict(exc.headers) if exc.headers else None)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A database error: a value it refuses is 400; a lost connection (cut, restarting, pool exhausted,
    SQLite busy) is 503 with Retry-After. Either way the step's transaction was rolled back, so nothing
    of it is visible and the same request may be sent again.
    """
    if isinstance(exc, DataError):
        # The database refused a value the request carried (PostgreSQL: a NUL character in text, a
        # string longer than its column, a number out of range): bad input, not a server fault.
        message = "a value in the request cannot be stored (a NUL character, too long, or out of range)"
        return error_response(400, "invalid_request", message, error_description=message)
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not exc.connection_invalidated:
        return await _unexpected(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0])
    message = "the service's database is unavailable for a moment; retry shortly"
    return error_response(
        503,
        "temporarily_unavailable",
        message,
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        error_description=message,  # the CSC/OAuth2 error field, for CSC clients
    )


async def _too_deep(request: Request, exc: Exception) -> JSONResponse:
    """A JSON body nested past the parser's recursion limit: bad input (the parse never finished)."""
    log.warning("refused %s %s: the JSON body is nested too deeply", request.method, request.url.path)
    message = "the JSON body is nested too deeply"
    return error_response(400, "invalid_request", message, error_description=message)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client went away before its request arrived whole (it closed, or the read deadline cut it
    off and already answered 408): logged as what it is, not as a server failure."""
    log.info("client disconnected before %s %s arrived whole", request.method, request.url.path)
    return error_response(400, "client_disconnected", "the client disconnected before the request arrived whole")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to handle this request; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(EsignError, _esign_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
