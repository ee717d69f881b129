"""Errors raised by service functions; the API and the pages translate them, never a 500.

`Invalid` carries a message per field so the API can name each bad field and a page can put the
message next to its input.
"""
from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: str = "", errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


def service_error_body(err: ServiceError) -> dict:
    """The API's one error shape for a service error (see `platform.api`)."""
    body = {"code": err.status, "status": err.code, "message": err.message or err.code}
    if err.errors:
        body["errors"] = {"json": err.errors}
    return body


class Invalid(ServiceError):
    status = 422
    code = "invalid"

    @classmethod
    def field(cls, name: str, message: str) -> "Invalid":
        return cls(message, {name: [message]})

    @classmethod
    def raise_if(cls, errors: dict) -> None:
        """After checking every field of a form: raise once with all the messages, if any."""
        if errors:
            from flask_babel import gettext as _

            raise cls(_("Please correct the marked fields."), errors)


class NotFound(ServiceError):
    """Missing, or another tenant's: the two are indistinguishable by design."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unauthenticated(ServiceError):
    status = 401
    code = "unauthenticated"


class TenantSuspended(ServiceError):
    status = 403
    code = "tenant_suspended"
