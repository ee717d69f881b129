"""Marshmallow schemas shared by the API modules. Unknown fields are rejected (marshmallow's
RAISE), so a body carrying `tenant_id` or `role` where it may not is a 422 naming that field."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class Schema(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True


class RoleGrantSchema(Schema):
    role = fields.String(required=True)
    scope_ids = fields.List(fields.UUID(), load_default=list)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    token_name = fields.String(load_default="api", validate=validate.Length(min=1, max=100))


class IssuedTokenSchema(Schema):
    token = fields.String(metadata={"description": "Bearer token; shown only once."})
    id = fields.UUID()
    name = fields.String()
