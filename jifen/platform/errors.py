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

    @classmethod
    def field(cls, name: str, message: str):
        return cls(message, {name: [message]})

    @classmethod
    def raise_if(cls, errors: dict) -> None:
        """After checking every field of a form: raise once with all the messages, if any."""
        if errors:
            from flask_babel import gettext as _

            raise cls(_("Please correct the marked fields."), errors)


def service_error_body(err: ServiceError) -> dict:
    """The API's one error shape for a service error (see `platform.api`)."""
    body = {"code": err.status, "status": err.code, "message": err.message or err.code}
    if err.errors:
        body["errors"] = {"json": err.errors}
    return body


class Invalid(ServiceError):
    """The input itself breaks a rule the API document declares (see `platform.input`)."""

    status = 422
    code = "invalid"



class NotFound(ServiceError):
    """Missing, or another tenant's: the two are indistinguishable by design."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    """The action does not fit the object's state: a repeat, a step out of order."""

    status = 409
    code = "conflict"


class InputConflict(Conflict):
    """Well-formed input (it fits the API document, so not `Invalid`) that the township's data or
    the date refuses: a name already taken, an id in the body that names nothing of the township,
    a year not yet over. A page shows the messages next to the inputs, as for `Invalid`."""


def refuse(errors: dict, conflicts: dict) -> None:
    """After checking a form: the rules about the input alone first (`Invalid`, carrying the
    conflicts found so far too, so a page shows every message of its form at once; an API request
    that fits the document never gets here), then the township's data (`InputConflict`)."""
    if errors:
        merged = {name: list(messages) for name, messages in conflicts.items()}
        for name, messages in errors.items():
            merged.setdefault(name, []).extend(messages)
        Invalid.raise_if(merged)
    InputConflict.raise_if(conflicts)


class Unauthenticated(ServiceError):
    status = 401
    code = "unauthenticated"


class Unavailable(ServiceError):
    """A service the request needs (the file store) cannot be reached: try again later. Nothing
    was written (the request's transaction is rolled back like for any service error)."""

    status = 503
    code = "unavailable"
    retry_after = 30  # seconds, sent as Retry-After


class TenantSuspended(ServiceError):
    status = 403
    code = "tenant_suspended"
