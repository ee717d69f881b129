"""The API's plumbing: one flask-smorest `Api` at /api/v1 and one JSON error shape.

Every error body is {"code": int, "status": str, "message": str, "errors": {location: {field: [..]}}},
for webargs validation (unknown or read-only fields included) and service errors alike.
"""
from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin, resolve_schema_instance
from flask_babel import gettext as _
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from jifen.platform.idempotency import idempotent  # noqa: F401  (re-exported for API modules)
from jifen.platform.request_info import is_api_request
from jifen.platform.validation_messages import translated


def own_headers(error: HTTPException) -> dict:
    """The headers the exception itself carries (`Allow` on a 405, `WWW-Authenticate` on a 401),
    which a body of our own would otherwise drop."""
    return {name: value for name, value in error.get_headers() if name.lower() != "content-type"}


class JifenApi(Api):
    def handle_http_exception(self, error: HTTPException):
        if not is_api_request():
            from jifen.platform.web import render_error

            body, status = render_error(error.code or 500, getattr(error, "description", ""))
            return body, status, own_headers(error)
        payload, code, headers = super().handle_http_exception(error)
        payload.setdefault("message", error.description if error.code != 500 else "Internal error")
        if "errors" in payload and "messages" in (getattr(error, "data", None) or {}):
            # webargs and marshmallow write English; say it in the request's language
            payload["errors"] = translated(payload["errors"])
            payload["message"] = _("Please correct the marked fields.")
        return payload, code, own_headers(error) | (headers or {})


api = JifenApi()

SECURITY = [{"bearer": []}]


def schema_name(schema) -> str:
    """OpenAPI component names: `VillageSchema(partial=True)` becomes `VillagePatch`."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    return name + "Patch" if getattr(schema, "partial", False) else name


class DocumentPlugin(MarshmallowPlugin):
    """Says in the document what the blueprint enforces for every body: a PATCH must change
    something, so its body has at least one property (the blueprint marks PATCH bodies). A schema
    whose fields depend on each other (a restock's delta is above zero, a write-off's below) states
    that itself in a class attribute `document_rules`, JSON Schema keywords (e.g. `oneOf`) added to
    its component as they are."""

    def schema_helper(self, name, _, schema=None, **kwargs):
        ret = super().schema_helper(name, _, schema=schema, **kwargs)
        instance = resolve_schema_instance(schema)
        if getattr(instance, "patch_body", False):
            ret["minProperties"] = 1
        ret.update(getattr(instance, "document_rules", None) or {})
        return ret


def init_app(app) -> None:
    api.init_app(app, spec_kwargs={"marshmallow_plugin": DocumentPlugin(schema_name_resolver=schema_name),
                                   "info": {"description": "Jifen points-system API. "
                                             "Township routes live under /api/v1/t/{tenant_slug}/."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
