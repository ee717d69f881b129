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


def http_message(error: HTTPException) -> str:
    """What to tell the reader about an HTTP error, in their language: a description the code gave
    (`abort(400, description=...)`) as it is, but werkzeug's stock English sentence replaced."""
    description = getattr(error, "description", "") or ""
    if description and description != type(error).description:
        return description
    if error.code == 404:
        return _("The page you asked for does not exist.")
    if error.code == 405:
        return _("This address does not accept that kind of request.")
    if error.code == 400:
        return _("The request could not be understood. Go back, reload the page and try again.")
    return ""


class JifenApi(Api):
    def handle_http_exception(self, error: HTTPException):
        if not is_api_request():
            from jifen.platform.web import render_error

            body, status = render_error(error.code or 500, http_message(error))
            return body, status, own_headers(error)
        payload, code, headers = super().handle_http_exception(error)
        if error.code != 500:
            payload["message"] = http_message(error) or payload.get("message") or error.description
        payload.setdefault("message", "Internal error")
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
    may also state a rule among its fields that the service checks on the input alone (e.g. "a
    title, or a version to copy it from") as JSON Schema keywords in a `document_rules` class
    attribute; a partial schema (a PATCH merged with stored values) leaves them out."""

    def schema_helper(self, name, _, schema=None, **kwargs):
        ret = super().schema_helper(name, _, schema=schema, **kwargs)
        instance = resolve_schema_instance(schema)
        if getattr(instance, "patch_body", False):
            ret["minProperties"] = 1
        rules = getattr(instance, "document_rules", None)
        if rules and not getattr(instance, "partial", False):
            ret.update(rules)
        return ret


def init_app(app) -> None:
    api.init_app(app, spec_kwargs={"marshmallow_plugin": DocumentPlugin(schema_name_resolver=schema_name),
                                   "info": {"description": "Jifen points-system API. "
                                             "Township routes live under /api/v1/t/{tenant_slug}/."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
