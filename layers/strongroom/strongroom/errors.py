"""One error hierarchy. Status comes from the exception type, never from message text."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if code is not None:
            self.code = code  # type: ignore[misc]


class Invalid(AppError):
    status = 400
    code = "validation_error"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Gone(AppError):
    status = 410
    code = "gone"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"


class Throttled(AppError):
    status = 429
    code = "rate_limited"


class Internal(AppError):
    status = 500
    code = "internal_error"


class Unavailable(AppError):
    status = 503
    code = "service_unavailable"


class Held(Exception):
    """A write into an environment whose changes need approval was not applied: a change request
    holds it. Answered 202 with `body` (http/app.py), never as an error."""

    status = 202

    def __init__(self, body: Any) -> None:
        super().__init__("held for approval")
        self.body = body
