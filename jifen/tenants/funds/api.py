"""Township API: fund coverage — the latest night's coverage per scope, a scope's history, the
funding records (add, reverse) and the settings. Amounts are integer fen in answers; amounts in
requests are yuan strings ("5000.00"), as the dividend pools take them."""
from __future__ import annotations

from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.dividends.pools import AMOUNT_PATTERN
from jifen.tenants.funds import service
from jifen.tenants.funds.models import KINDS

blp = Blueprint("funds_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/funds",
                description="Fund coverage: funding of the points stores, and whether it covers the points")

AMOUNT_ERROR = _l("Enter the amount in yuan with at most two decimals, e.g. 20000.00.")


def _d(text_: str, **more) -> dict:
    return {"description": text_, **more}


class FundCoverageSchema(Schema):
    taken_on = fields.Date(metadata=_d("The night the figures are of (township time)."))
    village_id = fields.UUID(allow_none=True, metadata=_d("The village (it has a store); null: the whole township."))
    scope_name = fields.Method("_scope", metadata=_d("The village's name, or the township's label.", type="string"))
    point_value_fen = fields.Integer(allow_none=True, metadata=_d("What one point was worth; null: unknown."))
    point_value_derived = fields.Boolean(metadata=_d("Derived from the catalog (no value set by the township)."))
    available_points = fields.Integer()
    reserved_points = fields.Integer(metadata=_d("Held by open store orders."))
    outstanding_points = fields.Integer(metadata=_d("available_points + reserved_points."))
    liability_fen = fields.Integer(allow_none=True)
    received_fen = fields.Integer()
    spent_fen = fields.Integer(metadata=_d("Restocks up to that day: quantity x unit cost."))
    funds_left_fen = fields.Integer(metadata=_d("received_fen - spent_fen."))
    stock_cost_fen = fields.Integer(metadata=_d("Stock on the shelves at its latest restock cost."))
    redeemed_points = fields.Integer(metadata=_d("Points redeemed in the three months up to taken_on."))
    monthly_redemption_fen = fields.Integer(allow_none=True)
    coverage_pct = fields.Float(allow_none=True, metadata=_d("(funds left + stock at cost) / liability x 100; "
                                                             "null when nothing is owed."))
    months_left = fields.Float(allow_none=True, metadata=_d("Months the funds last; null with no redemptions."))
    warn_pct = fields.Integer(metadata=_d("The threshold in force that night."))
    below = fields.Boolean(metadata=_d("Coverage below the threshold."))
    crossed = fields.Boolean(metadata=_d("Below that night and not the night before: the admins were told."))

    def _scope(self, row):
        return service.scope_name(row)


class FundHistoryArgs(Schema):
    village_id = fields.UUID(metadata=_d("The village's nights; without it, the township's."))


class FundRecordSchema(Schema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata=_d("budget, donation or "
                                                                                    "collective_income."))
    amount = fields.String(required=True, load_only=True, validate=validate.Regexp(AMOUNT_PATTERN, error=AMOUNT_ERROR),
                           metadata=_d("Yuan above zero, at most two decimals, e.g. \"5000.00\"; kept as fen."))
    amount_fen = fields.Integer(dump_only=True, metadata=_d("Negative for a reversal."))
    received_on = fields.Date(required=True, metadata=_d("Not after today (409 naming it)."))
    store_id = fields.UUID(allow_none=True, load_default=None, metadata=_d(
        "The store it is for (its village, or the township for the township's store); null: the township as a "
        "whole. An id naming no store of the township: 409 naming it."))
    note = text(service.MAX_NOTE, load_default="")
    reverses_id = fields.UUID(dump_only=True, allow_none=True, metadata=_d("A reversal: the record it undoes."))
    reason = fields.String(dump_only=True, metadata=_d("Why a reversal was made."))
    created_by_name = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class FundReverseSchema(Schema):
    reason = text(service.MAX_REASON, required=True, metadata=_d("Why the record is wrong."))


class FundSettingsSchema(Schema):
    point_value = fields.String(load_only=True, allow_none=True, validate=validate.Regexp(
        f"^$|{AMOUNT_PATTERN}", error=AMOUNT_ERROR), metadata=_d(
        "Yuan one point is worth, e.g. \"0.80\"; empty or null: derive it from the catalog."))
    coverage_warn_pct = whole(1, service.MAX_WARN_PCT, metadata=_d("Warn below this coverage, in percent."))
    point_value_fen = fields.Integer(dump_only=True, allow_none=True, metadata=_d("The value set; null: derived."))
    point_value_in_force_fen = fields.Integer(dump_only=True, allow_none=True, metadata=_d(
        "The value used tonight (set, or derived: the median over active catalog items of the latest restock "
        "unit cost / price in points, rounded to whole fen); null: nothing to derive it from."))
    point_value_derived = fields.Boolean(dump_only=True)


@blp.route("/coverage")
class Coverage(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, FundCoverageSchema(many=True))
    def get(self):
        """The latest night's coverage of each scope you reach (township first)."""
        return service.coverage_now(current_actor())


@blp.route("/coverage/history")
class CoverageHistory(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(FundHistoryArgs, location="query")
    @blp.response(200, FundCoverageSchema(many=True))
    def get(self, args):
        """One scope's nights of the last three months, newest first."""
        return service.coverage_history(current_actor(), args.get("village_id"))


@blp.route("/records")
class Records(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, FundRecordSchema(many=True))
    def get(self):
        """The funding records you reach, newest received first."""
        return service.list_records(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(FundRecordSchema)
    @idempotent
    @blp.response(201, FundRecordSchema)
    def post(self, data):
        """Record money received (township admin)."""
        return service.add_record(current_actor(), data)


@blp.route("/records/<uuid:fund_record_id>")
class RecordDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, FundRecordSchema)
    def get(self, fund_record_id):
        return service.get_record(current_actor(), fund_record_id)


@blp.route("/records/<uuid:fund_record_id>/reverse")
class Reverse(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(FundReverseSchema)
    @idempotent
    @blp.response(201, FundRecordSchema)
    def post(self, data, fund_record_id):
        """Undo a wrong record with a record of the opposite amount pointing at it (township admin)."""
        return service.reverse_record(current_actor(), fund_record_id, data)


@blp.route("/settings")
class Settings(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, FundSettingsSchema)
    def get(self):
        return service.get_settings(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(FundSettingsSchema(partial=True))
    @blp.response(200, FundSettingsSchema)
    def patch(self, data):
        """Change the point value and/or the warning threshold (township admin)."""
        return service.update_settings(current_actor(), data)
