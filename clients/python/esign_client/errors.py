"""Errors of the SDK: every refusal of the server is an :class:`ApiError` with its code and status."""

from __future__ import annotations

from typing import Any

import httpx

from esign.errors import EsignError


class ApiError(EsignError):
    """The server refused a request. ``code`` is its error code (native API or CSC), ``status`` the HTTP status."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})", code=code)
        self.status = status
        self.description = message
        self.body = body or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the native (``error``/``message``) or CSC (``error``/``error_description``) error shape."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error", "http_error"))
        message = str(body.get("message") or body.get("error_description") or response.reason_phrase)
        return cls(response.status_code, code, message, body)


class ConfirmationTimeout(EsignError):
    """The user did not confirm on the phone in time."""

    code = "timeout"
