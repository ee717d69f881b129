"""Township API: staff accounts and their roles."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.accounts.service import PHONE_PATTERN, USERNAME_RE
from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.roles.registry import ROLES
from jifen.platform.schemas import RoleGrantSchema, Schema
from jifen.platform.staff import service
from jifen.platform.townships.links import setup_url
from jifen.platform.web import current_actor

blp = Blueprint("staff_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/staff",
                description="Staff and villager accounts with their roles")


def grant_variants() -> list[dict]:
    """The API document's statement of what `service._check_roles` takes of one role: a known role,
    with no scope for a township-wide role, one scope id for a role of one village (store,
    household), at least one for a role of several. Whether the ids name objects of the township,
    and a role given twice, are the service's (409)."""
    ids = {"type": "array", "items": {"type": "string", "format": "uuid"}}
    kinds = {"township": ({"maxItems": 0}, False),
             "one": ({"minItems": 1, "maxItems": 1}, True),
             "several": ({"minItems": 1}, True)}
    out = []
    for kind, (count, needed) in kinds.items():
        names = [r.name for r in ROLES.values()
                 if kind == ("township" if r.scope_kind is None else "several" if r.many else "one")]
        if names:
            out.append({"type": "object", "additionalProperties": False,
                        "required": ["role", "scope_ids"] if needed else ["role"],
                        "properties": {"role": {"type": "string", "enum": names}, "scope_ids": ids | count}})
    return out


class RoleGrantField(fields.Field):
    """One role with its scope ids, read and written by `RoleGrantSchema`, documented per kind of
    role (`grant_variants`)."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "object", "oneOf": grant_variants()}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return RoleGrantSchema().load(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return RoleGrantSchema().dump(value)


def _roles() -> fields.List:
    return fields.List(RoleGrantField(), required=True, validate=validate.Length(min=1), metadata={
        "description": "each role once (a role given twice is a 409 naming roles); scope ids name objects of "
                       "the township (else 409)"})


class StaffSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String(required=True, validate=validate.Regexp(USERNAME_RE), metadata={
        "description": "2-63 lower-case letters, digits, '.', '_' or '-', unique in the township"})
    display_name = text(service.MAX_DISPLAY_NAME, required=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(PHONE_PATTERN),
                          metadata={"description": "digits only, 7 to 15 of them"})
    status = fields.String(dump_only=True)
    roles = _roles()
    created_at = fields.DateTime(dump_only=True)


class InvitedSchema(StaffSchema):
    setup_url = fields.String(dump_only=True, metadata={"description": "One-time link to set a password."})


class RolesSchema(Schema):
    roles = _roles()


def _dump(users) -> list[dict]:
    roles = service.roles_of([u.id for u in users])
    return [{"id": u.id, "username": u.username, "display_name": u.display_name, "phone": u.phone,
             "status": u.status, "created_at": u.created_at, "roles": roles.get(u.id, [])} for u in users]


@blp.route("/")
class Staff(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StaffSchema(many=True))
    def get(self):
        """Everyone with an account in the township, in pinyin order of name."""
        return _dump(service.list_staff(current_actor()))

    @blp.doc(security=SECURITY)
    @blp.arguments(StaffSchema)
    @blp.response(201, InvitedSchema)
    def post(self, data):
        """Invite someone with roles; the answer carries their one-time setup link."""
        user, secret = service.invite(current_actor(), data)
        return _dump([user])[0] | {"setup_url": setup_url(g.tenant_slug, secret)}


@blp.route("/<uuid:user_id>")
class StaffDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StaffSchema)
    def get(self, user_id):
        return _dump([service.get_staff(current_actor(), user_id)])[0]


@blp.route("/<uuid:user_id>/roles")
class StaffRoles(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RolesSchema)
    @blp.response(200, StaffSchema)
    def put(self, data, user_id):
        """Replace the person's roles."""
        user = service.set_roles(current_actor(), user_id, data["roles"])
        return _dump([user])[0]


@blp.route("/<uuid:user_id>/disable")
class Disable(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StaffSchema)
    def post(self, user_id):
        """Disable the account; its sessions and tokens stop working at once."""
        user = service.disable(current_actor(), user_id)
        return _dump([user])[0]


@blp.route("/<uuid:user_id>/enable")
class Enable(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StaffSchema)
    def post(self, user_id):
        user = service.enable(current_actor(), user_id)
        return _dump([user])[0]


@blp.route("/<uuid:user_id>/setup-link")
class SetupLink(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(201, InvitedSchema)
    def post(self, user_id):
        user, secret = service.new_setup_link(current_actor(), user_id)
        return _dump([user])[0] | {"setup_url": setup_url(g.tenant_slug, secret)}
