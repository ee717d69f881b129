"""County API: operators onboard, list, suspend and reactivate townships."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask import send_file
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform import clock
from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.service import USERNAME_RE
from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.ratelimit import login_limits
from jifen.platform.schemas import IssuedTokenSchema, LoginSchema, Schema
from jifen.platform.townships import offboarding, service
from jifen.platform.townships.links import setup_url
from jifen.platform.web import current_actor, public

blp = Blueprint("county_api", __name__, url_prefix="/api/v1/county",
                description="County console: townships (tenants)")


class DeletionSchema(Schema):
    started_at = fields.String(metadata={"description": "When the deletion began."})
    total = fields.Integer(metadata={"description": "The township's rows when it began."})
    deleted = fields.Integer(metadata={"description": "Rows deleted so far."})
    table = fields.String(allow_none=True, metadata={"description": "The table being deleted (the last chunk's)."})


class TownshipSchema(Schema):
    slug = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    timezone = fields.String(dump_only=True)
    default_locale = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    status_reason = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    active_accounts = fields.Integer(dump_only=True)
    delete_after = fields.DateTime(dump_only=True, allow_none=True, metadata={
        "description": "Being offboarded: all the township's data is deleted after this moment, once "
                       "it has been exported (see awaiting_export)."})
    awaiting_export = fields.Boolean(dump_only=True, metadata={
        "description": "Being offboarded and not exported since the offboarding started: the township is "
                       "not deleted, even after delete_after, until someone exports it."})
    deletion = fields.Nested(DeletionSchema, dump_only=True, allow_none=True, metadata={
        "description": "The deletion under way (it goes in committed chunks, hourly runs resuming it), or null."})


class OnboardSchema(Schema):
    slug = fields.String(required=True, validate=[
        validate.Regexp(service.SLUG_PATTERN), validate.Length(min=service.MIN_SLUG, max=service.MAX_SLUG),
        validate.NoneOf(sorted(service.RESERVED_SLUGS))], metadata={
        "not": {"enum": sorted(service.RESERVED_SLUGS)},
        "description": "The township's address: 3-40 lower-case letters, digits and single hyphens, starting "
                       "with a letter; unique."})
    name = text(service.MAX_NAME, required=True)
    timezone = fields.String(load_default=clock.DEFAULT_ZONE, validate=validate.OneOf(sorted(available_timezones())),
                             metadata={"description": "An IANA time zone name such as Asia/Shanghai."})
    default_locale = fields.String(load_default="zh_CN", validate=validate.OneOf(["zh_CN", "en"]))
    admin_username = fields.String(required=True, validate=validate.Regexp(USERNAME_RE))
    admin_display_name = text(service.MAX_NAME, required=True)


class OnboardedSchema(Schema):
    township = fields.Nested(TownshipSchema)
    admin_username = fields.String()
    setup_url = fields.String(metadata={"description": "One-time link for the admin to set a password (a new "
                                                       "link: only when it was not texted)."})
    texted_to = fields.String(allow_none=True, metadata={
        "description": "A new link: the admin's phone (masked) it was texted to, or null when it could not be sent."})


class SuspendSchema(Schema):
    reason = text(service.MAX_REASON, load_default=None)


@blp.route("/auth/token")
class OperatorLogin(MethodView):
    decorators = [login_limits]

    @blp.arguments(LoginSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        """Exchange an operator's username and password for a bearer token."""
        token, raw = accounts.token_for_password(Operator, data["username"], data["password"], data["token_name"])
        return {"token": raw, "id": token.id, "name": token.name}


public(OperatorLogin)


def _dump(tenant, active_accounts=None, waiting=None) -> dict:
    if waiting is None:
        waiting = offboarding.awaiting_export([tenant])
    d = service.snapshot(tenant) | {"status_reason": tenant.status_reason, "created_at": tenant.created_at,
                                    "delete_after": tenant.delete_after, "awaiting_export": tenant.id in waiting,
                                    "deletion": tenant.deletion}
    if active_accounts is not None:
        d["active_accounts"] = active_accounts
    return d


@blp.route("/townships")
class Townships(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TownshipSchema(many=True))
    def get(self):
        """Townships of the operator's county."""
        rows = service.list_townships(current_actor())
        waiting = offboarding.awaiting_export([t for t, _n in rows])
        return [_dump(t, n, waiting) for t, n in rows]

    @blp.doc(security=SECURITY)
    @blp.arguments(OnboardSchema)
    @blp.response(201, OnboardedSchema)
    def post(self, data):
        """Onboard a township with its first admin; returns the admin's one-time setup link."""
        tenant, admin, secret = service.onboard(current_actor(), data)
        return {"township": _dump(tenant), "admin_username": admin.username,
                "setup_url": setup_url(tenant.slug, secret)}


@blp.route("/townships/<township_slug>")
class TownshipDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TownshipSchema)
    def get(self, township_slug):
        return _dump(service.get_township(current_actor(), township_slug))


@blp.route("/townships/<township_slug>/suspend")
class Suspend(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SuspendSchema)
    @blp.response(200, TownshipSchema)
    def post(self, data, township_slug):
        """Suspend: pages show a notice, the API refuses; nothing is deleted."""
        tenant = service.suspend(current_actor(), township_slug, data.get("reason"))
        return _dump(tenant)


@blp.route("/townships/<township_slug>/reactivate")
class Reactivate(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TownshipSchema)
    def post(self, township_slug):
        tenant = service.reactivate(current_actor(), township_slug)
        return _dump(tenant)


@blp.route("/townships/<township_slug>/setup-link")
class SetupLinkView(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(201, OnboardedSchema)
    def post(self, township_slug):
        """A fresh one-time setup link for the township's first admin (older ones stop working)."""
        done = service.new_admin_setup_link(current_actor(), township_slug)
        return {"township": _dump(done.tenant), "admin_username": done.user.username} | _link_answer(done)


class AccountNameSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64),
                             metadata={"description": "The username of an account of the township."})


class AccountLinkSchema(Schema):
    username = fields.String()
    texted_to = fields.String(allow_none=True, metadata={
        "description": "The account's phone (masked) the one-time link was texted to; null when it could not be "
                       "sent (the account has no phone): then `setup_url` is given, to hand over."})
    setup_url = fields.String(metadata={"description": "One-time link to set a password; only when it was not "
                                                       "texted."})


def _link_answer(done) -> dict:
    """Where the link went; the link itself only when it could not be sent to its owner."""
    if done.sent_to:
        return {"texted_to": done.sent_to}
    return {"texted_to": None, "setup_url": setup_url(done.tenant.slug, done.secret)}


@blp.route("/townships/<township_slug>/accounts/setup-link")
class AccountSetupLink(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AccountNameSchema)
    @blp.response(201, AccountLinkSchema)
    def post(self, data, township_slug):
        """A fresh one-time setup link for one account of the township (its older links stop working)."""
        done = service.new_staff_setup_link(current_actor(), township_slug, data["username"])
        return {"username": done.user.username} | _link_answer(done)


@blp.route("/townships/<township_slug>/accounts/reset-password")
class AccountResetPassword(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AccountNameSchema)
    @blp.response(201, AccountLinkSchema)
    def post(self, data, township_slug):
        """Reset an account's password: its password, sessions and tokens stop working at once; the
        one-time setup link that sets a new password is texted to the account's phone (`texted_to`), or given
        here (`setup_url`) when it has none."""
        done = service.reset_staff_password(current_actor(), township_slug, data["username"])
        return {"username": done.user.username} | _link_answer(done)


class ExportQuerySchema(Schema):
    format = fields.String(load_default=offboarding.DEFAULT_FORMAT, validate=validate.OneOf(offboarding.FORMATS),
                           metadata={"description": "xlsx (default): one workbook per table; csv: one CSV file "
                                                    "(UTF-8 with BOM) per table."})


@blp.route("/townships/<township_slug>/export")
class Export(MethodView):
    @blp.doc(security=SECURITY, responses={"200": {
        "description": "A zip: per table the township owns a workbook <table>.xlsx (a sheet <table>, continued on "
                       "sheets '<table> 2', ... past 1,048,575 rows) or <table>.csv; files/<file id>-<filename> "
                       "with every uploaded file; manifest.json with the format, row counts per table and the "
                       "number of files. Text a spreadsheet would run as a formula (=, +, -, @) is kept as text.",
        "content": {"application/zip": {}}}})
    @blp.arguments(ExportQuerySchema, location="query")
    def post(self, args, township_slug):
        """Export all of the township's data (recorded at county level and in the township's audit log).
        A township being offboarded is deleted only after an export taken since the offboarding started."""
        data, name = offboarding.export(current_actor(), township_slug, args["format"])
        return send_file(data, mimetype="application/zip", as_attachment=True, download_name=name)


@blp.route("/townships/<township_slug>/offboard")
class Offboard(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SuspendSchema)
    @blp.response(200, TownshipSchema)
    def post(self, data, township_slug):
        """Offboard: suspend now, delete all the township's data after the grace period, once it has been
        exported (an export after this call; until then it waits). A township already being offboarded is 409."""
        return _dump(offboarding.offboard(current_actor(), township_slug, data.get("reason")))


@blp.route("/townships/<township_slug>/offboard/cancel")
class CancelOffboard(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TownshipSchema)
    def post(self, township_slug):
        """Cancel an offboarding; the township stays suspended until reactivated."""
        return _dump(offboarding.cancel_offboarding(current_actor(), township_slug))
