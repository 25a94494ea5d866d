"""Errors a use case reports to its caller; the API turns them into JSON with the HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(ServiceError):
    status = 404
    error = "not_found"


class Forbidden(ServiceError):
    status = 403
    error = "forbidden"


class Unauthorized(ServiceError):
    status = 401
    error = "unauthorized"


class Conflict(ServiceError):
    status = 409
    error = "conflict"


class Invalid(ServiceError):
    status = 422
    error = "invalid"


class Unavailable(ServiceError):
    status = 503
    error = "unavailable"


class TooMany(ServiceError):
    """Too many attempts or too much data from one address or for one account: wait and retry."""

    status = 429
    error = "too_many_requests"

    def __init__(self, message: str, retry_after: int, fields: dict[str, str] | None = None) -> None:
        super().__init__(message, fields)
        self.retry_after = max(1, retry_after)
