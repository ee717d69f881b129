"""Township API for one's own account: sign in for a token, read and change me, manage tokens."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import MAX_TOKEN_NAME, User
from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.ratelimit import address_limit, login_limits
from jifen.platform.schemas import (
    IssuedTokenSchema,
    LoginSchema,
    RoleGrantSchema,
    Schema,
)
from jifen.platform.staff.service import roles_of
from jifen.platform.web import current_actor, public

blp = Blueprint("account_api", __name__, url_prefix="/api/v1/t/<tenant_slug>",
                description="Signing in, own account and API tokens")


class MeSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String(dump_only=True)
    display_name = fields.String(dump_only=True)
    locale = fields.String(allow_none=True, validate=validate.OneOf(["zh_CN", "en"]), metadata={
        "description": "The language one chose; null: none chosen, the township's default applies. "
                       "Send null to go back to the default."})
    roles = fields.List(fields.Nested(RoleGrantSchema), dump_only=True)


class TokenSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = text(MAX_TOKEN_NAME, required=True)
    created_at = fields.DateTime(dump_only=True)


def _me(actor) -> dict:
    user = actor.account
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "locale": user.locale, "roles": roles_of([user.id]).get(user.id, [])}


@blp.route("/auth/token")
class Login(MethodView):
    decorators = [login_limits]

    @blp.arguments(LoginSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        """Exchange a username and password for a bearer token of this township."""
        token, raw = accounts.token_for_password(User, data["username"], data["password"], data["token_name"])
        return {"token": raw, "id": token.id, "name": token.name}


public(Login)


class SetupSchema(Schema):
    secret = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "The secret at the end of the one-time setup link (…/setup/<secret>)."})
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    confirm = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    username = fields.String(dump_only=True)


@blp.route("/auth/setup")
class Setup(MethodView):
    decorators = [address_limit]

    @blp.arguments(SetupSchema)
    @blp.response(200, SetupSchema)
    def post(self, data):
        """Set one's password with a one-time setup link, as the link's page does; then sign in.
        An unknown or revoked link is 404; a used one is 409 (a repeat); an expired one, or a weak
        password, is 422."""
        user = accounts.complete_setup(data["secret"], data["password"], data["confirm"])
        return {"username": user.username}


public(Setup)


@blp.route("/me")
class Me(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, MeSchema)
    def get(self):
        return _me(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(MeSchema(partial=True))
    @blp.response(200, MeSchema)
    def patch(self, data):
        """Change one's language. Everything else here is read-only."""
        actor = current_actor()
        if "locale" in data:
            accounts.set_locale(actor, data["locale"])
        return _me(actor)


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TokenSchema(many=True))
    def get(self):
        return accounts.list_tokens(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(TokenSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        token, raw = accounts.create_token(current_actor(), data["name"])
        return {"token": raw, "id": token.id, "name": token.name}


@blp.route("/tokens/<uuid:token_id>")
class TokenDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(204)
    def delete(self, token_id):
        """Revoke a token; it stops working at once."""
        accounts.revoke_token(current_actor(), token_id)
