"""The API's Blueprint: flask-smorest's, with one argument parser for every endpoint (flask-smorest's
documented way to customise parsing) and two rules that hold for every body:

- a PATCH with nothing in its body (no body, or `{}`) changes nothing: it is a 422 naming the body,
  not a 200 that silently did nothing;
- in a JSON body a boolean is true or false, as documented (not 0, 1 or "yes");
- a multipart body read only as files (a schema marked `files_only`, e.g. a photo upload) has no
  text parts: one is a field the document does not have, a 422 naming it (webargs reads only the
  files there, so it would be ignored silently);
- a JSON body is documented as required when its schema has a required field, or for a PATCH;
  otherwise it may be left out (a POST whose fields all have defaults), and the OpenAPI document
  says so, so a client (or schemathesis) sending no body is not "violating" the document.
"""
from __future__ import annotations

import flask_smorest
from flask_babel import gettext as _
from marshmallow import ValidationError, fields
from webargs.flaskparser import FlaskParser


class RequestParser(FlaskParser):
    def pre_load(self, location_data, *, schema, req, location):
        if location == "json" and req.method == "PATCH" and not location_data:
            raise ValidationError({"_schema": [_("Nothing to change: send at least one field.")]})
        if location == "json" and isinstance(location_data, dict):
            _json_booleans(location_data, schema)
        if location == "files" and getattr(schema, "files_only", False) and req.form:
            raise ValidationError({name: ["Unknown field."] for name in req.form})  # translated on the way out
        return location_data


def _json_booleans(data: dict, schema) -> None:
    """In JSON a boolean is true or false; marshmallow would also take 0, 1, "yes" (right for query
    strings and forms, where everything is text), which the document does not allow."""
    wrong = {}
    for name, field in schema.fields.items():
        key = field.data_key or name
        if isinstance(field, fields.Boolean) and not field.dump_only and key in data:
            value = data[key]
            if not isinstance(value, bool) and not (value is None and field.allow_none):
                wrong[key] = ["Not a valid boolean."]  # translated where the 422 leaves the API
    if wrong:
        raise ValidationError(wrong)


def _has_required_field(schema) -> bool:
    instance = schema() if isinstance(schema, type) else schema
    return not instance.partial and any(f.required for f in instance.fields.values())


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = RequestParser()

    def arguments(self, schema, *, location="json", required=None, **kwargs):
        def decorator(func):
            needed = required
            if needed is None:
                needed = location != "json" or func.__name__ == "patch" or _has_required_field(schema)
            body = schema
            if location == "json" and func.__name__ == "patch":
                body = schema() if isinstance(schema, type) else schema
                body.patch_body = True  # the document says: at least one property (platform.api)
            return super(Blueprint, self).arguments(body, location=location, required=needed, **kwargs)(func)

        return decorator
