"""Township API: staff accounts and their roles."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.schemas import RoleGrantSchema, Schema
from jifen.platform.staff import service
from jifen.platform.web import current_actor

blp = Blueprint("staff_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/staff",
                description="Staff and villager accounts with their roles")


class StaffSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20))
    status = fields.String(dump_only=True)
    roles = fields.List(fields.Nested(RoleGrantSchema), required=True)
    created_at = fields.DateTime(dump_only=True)


class InvitedSchema(StaffSchema):
    setup_url = fields.String(dump_only=True, metadata={"description": "One-time link to set a password."})


class RolesSchema(Schema):
    roles = fields.List(fields.Nested(RoleGrantSchema), required=True)


def _dump(users) -> list[dict]:
    roles = service.roles_of([u.id for u in users])
    return [{"id": u.id, "username": u.username, "display_name": u.display_name, "phone": u.phone,
             "status": u.status, "created_at": u.created_at, "roles": roles.get(u.id, [])} for u in users]


def _link(secret: str) -> str:
    return url_for("township.setup", secret=secret, _external=True)


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
        return _dump([user])[0] | {"setup_url": _link(secret)}


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
        return _dump([user])[0] | {"setup_url": _link(secret)}
