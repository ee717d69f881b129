"""Township API: Balances, the passbook, corrections, settings."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import period, text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.points import applications, entries
from jifen.tenants.points.models import PERIOD_END_POLICIES

blp = Blueprint("ledger_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/ledger",
                description="Balances, the passbook, corrections, settings")


def _d(description: str, **more) -> dict:
    return {"description": description, **more}


class PeriodArgs(Schema):
    period = period(strict=False, metadata=_d("The year; this year by default."))


class BalancesSchema(Schema):
    household_id = fields.UUID()
    period = fields.Integer()
    earned = fields.Integer(metadata=_d("Points earned in the period (ranking, stars, dividends use these)."))
    available = fields.Integer(metadata=_d("Points the store can spend; never below zero."))


class PassbookEntrySchema(Schema):
    id = fields.UUID()
    household_id = fields.UUID()
    period = fields.Integer()
    occurred_on = fields.Date()
    source_kind = fields.String(metadata=_d("application, activity, correction, redemption or period_close."))
    source_id = fields.UUID()
    item_code = fields.String(allow_none=True)
    memo = fields.String(metadata=_d("What happened, as the passbook prints it."))
    points = fields.Integer(metadata=_d("Change to earned points."))
    certified_by = fields.String()
    reverses_id = fields.UUID(allow_none=True, metadata=_d("A correction: the entry it corrects."))
    reason = fields.String(metadata=_d("A correction's reason."))
    created_by_name = fields.String()
    created_at = fields.DateTime()


class PassbookSchema(Schema):
    household_id = fields.UUID()
    period = fields.Integer()
    earned = fields.Integer()
    available = fields.Integer()
    entries = fields.List(fields.Nested(PassbookEntrySchema), metadata=_d("Oldest first."))


class CorrectionSchema(Schema):
    points = whole(-entries.MAX_CORRECTION_POINTS, entries.MAX_CORRECTION_POINTS, required=True,
                   metadata=_d("What the entry should be worth (0 undoes it); its present worth is a 409."))
    reason = text(applications.MAX_REASON, required=True,
                  metadata=_d(f"Why (at most {applications.MAX_REASON} characters)."))


class CheckArgs(Schema):
    fix = fields.Boolean(load_default=False, metadata=_d("Also repair cached balances from the ledger (audited)."))


class DifferenceSchema(Schema):
    household_id = fields.UUID()
    period = fields.Integer()
    cached_earned = fields.Integer()
    cached_available = fields.Integer()
    earned = fields.Integer(metadata=_d("From the postings."))
    available = fields.Integer(metadata=_d("From the postings."))


class CheckReportSchema(Schema):
    balances = fields.Integer(metadata=_d("Cached balance rows checked."))
    differences = fields.List(fields.Nested(DifferenceSchema))
    unbalanced = fields.List(fields.UUID(), metadata=_d("Transactions whose legs do not sum to zero."))
    fixed = fields.Boolean()


class SettingsSchema(Schema):
    quorum = whole(1, applications.MAX_QUORUM, required=True,
                   metadata=_d(f"Panel approvals needed to certify (1–{applications.MAX_QUORUM})."))
    notice_days = whole(1, applications.MAX_NOTICE_DAYS, required=True,
                        metadata=_d(f"Days a public notice stays up (1–{applications.MAX_NOTICE_DAYS})."))
    period_end = fields.String(validate=validate.OneOf(PERIOD_END_POLICIES), metadata=_d(
        "What happens to available points at the end of the year: carry_over (into the next year) or expire. "
        "Left out: unchanged."))
    carry_over_limit = whole(1, applications.MAX_CARRY_OVER_LIMIT, allow_none=True, metadata=_d(
        f"carry_over: at most this many points per household carry over, the rest expires "
        f"(1–{applications.MAX_CARRY_OVER_LIMIT:,}); null: no limit. Left out: unchanged."))


def _period(args) -> int:
    return args.get("period") or entries.current_period()


@blp.route("/households/<uuid:household_id>/balances")
class Balances(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, BalancesSchema)
    def get(self, args, household_id):
        """The household's earned and available points in the period."""
        period = _period(args)
        earned, available = entries.balances(current_actor(), household_id, period)
        return {"household_id": household_id, "period": period, "earned": earned, "available": available}


@blp.route("/households/<uuid:household_id>/passbook")
class Passbook(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, PassbookSchema)
    def get(self, args, household_id):
        """积分存折: every entry of the household in the period, oldest first."""
        actor, period = current_actor(), _period(args)
        earned, available = entries.balances(actor, household_id, period)
        return {"household_id": household_id, "period": period, "earned": earned, "available": available,
                "entries": entries.passbook(actor, household_id, period)}


@blp.route("/entries/<uuid:transaction_id>/corrections")
class Corrections(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CorrectionSchema)
    @idempotent
    @blp.response(201, PassbookEntrySchema)
    def post(self, data, transaction_id):
        """Correct an entry (township admin): adds a reversing entry; the original stays."""
        return entries.correct_entry(current_actor(), transaction_id, data)


@blp.route("/check-balances")
class CheckBalances(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CheckArgs)
    @blp.response(200, CheckReportSchema)
    def post(self, args):
        """Recompute cached balances from the ledger and report differences (township admin)."""
        report = entries.check_balances(current_actor(), fix=args["fix"])
        return report | {"fixed": bool(args["fix"] and report["differences"])}


@blp.route("/settings")
class Settings(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, SettingsSchema)
    def get(self):
        """The township's points settings (township admin)."""
        from jifen.platform.roles.authz import authorize
        authorize(current_actor(), "points_settings.manage")
        return applications.settings()

    @blp.doc(security=SECURITY)
    @blp.arguments(SettingsSchema)
    @blp.response(200, SettingsSchema)
    def put(self, data):
        """Change the quorum, notice length and year-end policy; invalid values are 422 naming the field."""
        return applications.update_settings(current_actor(), data)
