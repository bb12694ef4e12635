"""Errors a service step raises; the API turns each into ``{"error": code, "message": ...}``."""

from __future__ import annotations

from typing import Any

from esign.errors import EsignError


class ServiceError(EsignError):
    """A refused request, with its HTTP status and a stable error code."""

    status: int = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **extra: Any) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(ServiceError):
    """The thing does not exist, or the caller may not see it (the same answer for both)."""

    status = 404
    code = "not_found"


class Unauthorized(ServiceError):
    """Missing or wrong credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    """Authenticated, but not allowed (missing scope or role)."""

    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    """The request contradicts the current state (wrong session state, reused idempotency key)."""

    status = 409
    code = "conflict"


class InvalidOtp(ServiceError):
    """Every wrong code gives this one answer, whatever the reason (wrong, too old, malformed)."""

    status = 400
    code = "invalid_otp"

    def __init__(self) -> None:
        super().__init__("the code is invalid or expired")


class DeviceLocked(ServiceError):
    """Too many wrong codes through one relying system: it is locked out of this user for a while
    (the code keeps its historical name; the phone and the other relying systems are not locked)."""

    status = 423
    code = "device_locked"


class OtpAlreadyUsed(ServiceError):
    """The code was right but has been accepted before: a code is good once (a new one comes every 30 s)."""

    status = 400
    code = "otp_already_used"

    def __init__(self) -> None:
        super().__init__("this code was already used; wait for the next code on your phone")


class TooManyRequests(ServiceError):
    """A limit was reached; ``retry_after`` (seconds) says when to try again. Nothing is locked."""

    status = 429
    code = "too_many_requests"
