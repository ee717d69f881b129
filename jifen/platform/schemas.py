"""Marshmallow schemas shared by the API modules. Unknown fields are rejected (marshmallow's
RAISE), so a body carrying `tenant_id` or `role` where it may not is a 422 naming that field.

Every integer a client can send is bounded: a field without both ends of a Range gets the range of
the database's INTEGER column, so a huge number is a 422 naming the field (and the bound is in the
OpenAPI document) instead of a database error and a 500."""
from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from jifen.platform.accounts.models import MAX_TOKEN_NAME
from jifen.platform.input import FILLED_PATTERN

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER, the type of every integer column we store


def _bounded(field: fields.Field) -> None:
    """Give an input integer field (and integers inside lists and mappings) the INTEGER range unless it
    already declares both ends of its own."""
    if isinstance(field, fields.List):
        _bounded(field.inner)
    elif isinstance(field, fields.Tuple):
        for inner in field.tuple_fields:
            _bounded(inner)
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        _bounded(field.value_field)
    elif isinstance(field, fields.Integer) and not field.dump_only:
        ranges = [v for v in field.validators if isinstance(v, validate.Range)]
        if not any(r.min is not None for r in ranges) or not any(r.max is not None for r in ranges):
            field.validators.append(validate.Range(min=INT_MIN, max=INT_MAX))


class Schema(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        _bounded(field_obj)


class RoleGrantSchema(Schema):
    role = fields.String(required=True)
    scope_ids = fields.List(fields.UUID(), load_default=list)


NO_NUL = validate.Regexp("^[^\x00]*$", error=_l("This text holds a character that is not allowed (NUL)."))  # as web.py


class LoginSchema(Schema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=64), NO_NUL])
    password = fields.String(required=True, load_only=True, validate=[validate.Length(min=1, max=256), NO_NUL])
    token_name = fields.String(load_default="api", validate=[
        validate.Length(max=MAX_TOKEN_NAME),
        validate.Regexp(FILLED_PATTERN, error=_l("Fill this in, without invisible control characters."))])


class IssuedTokenSchema(Schema):
    token = fields.String(metadata={"description": "Bearer token; shown only once."})
    id = fields.UUID()
    name = fields.String()
