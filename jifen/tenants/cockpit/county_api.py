"""County cockpit API: the operator's townships side by side for a month, aggregates only (the same
service as the page, `county.county_cockpit`)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import Month, month, value
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.cockpit import county

blp = Blueprint("county_cockpit_api", __name__, url_prefix="/api/v1/county/cockpit",
                description="County console: every township's figures for a month (aggregates only)")


class CockpitArgs(Schema):
    month = month(load_default=None, metadata={"description": "YYYY-MM; default: this month."})
    sort = fields.String(load_default=county.DEFAULT_SORT, validate=validate.OneOf(county.SORT_KEYS),
                         metadata={"description": "The figure the townships are ranked by, largest first."})


class FiguresSchema(Schema):
    households = fields.Integer(allow_none=True, metadata={
        "description": "Active households, as of the township's latest night built (in `previous`: its latest "
                       "night at least 28 days before that); null: no figures yet."})
    with_account = fields.Integer(allow_none=True, metadata={"description": "Of them, with a villager account."})
    signed = fields.Integer(allow_none=True, metadata={"description": "Of them, signed the commitment."})
    grid_workers = fields.Integer(allow_none=True, metadata={
        "description": "Grid workers who recorded or verified in the 30 days before that night."})
    account_rate = fields.Float(allow_none=True, metadata={"description": "with_account / households (0 … 1)."})
    signed_rate = fields.Float(allow_none=True, metadata={"description": "signed / households (0 … 1)."})
    participants = fields.Integer(metadata={"description": "Households with a posted item in the month."})
    registered_now = fields.Integer(allow_none=True, metadata={
        "description": "The households of the latest night: participation's denominator in both months."})
    participation = fields.Float(allow_none=True, metadata={"description": "participants / registered_now (0 … 1)."})
    issued = fields.Integer(metadata={"description": "Points awarded by items posted in the month."})
    deducted = fields.Integer(metadata={"description": "Points deducted by items posted in the month (positive)."})
    redeemed = fields.Integer(metadata={"description": "Points spent in the stores in the month."})
    issued_ytd = fields.Integer(metadata={"description": "issued, January to the month."})
    deducted_ytd = fields.Integer(metadata={"description": "deducted, January to the month."})
    redeemed_ytd = fields.Integer(metadata={"description": "redeemed, January to the month."})
    dividends_fen = fields.Integer(metadata={"description": "Dividends paid, January 1 to the month's end (fen)."})
    dividend_households = fields.Integer(metadata={"description": "Distinct households those payments reached."})
    as_of = fields.Date(allow_none=True, metadata={"description": "The night the coverage counts are of."})


ChangeSchema = Schema.from_dict({key: fields.Float(allow_none=True) for key in county.SORT_KEYS},
                                name="CountyCockpitChange")


class RowSchema(Schema):
    slug = fields.String(metadata={"description": "Empty for the county's total."})
    name = fields.String()
    status = fields.String()
    rank = fields.Integer()
    figures = fields.Nested(FiguresSchema, attribute="now")
    previous = fields.Nested(FiguresSchema, attribute="before", metadata={"description": "The month before."})
    change = fields.Nested(ChangeSchema, attribute="changes", metadata={
        "description": "The change from the month before of each rankable figure (rates in percentage points); "
                       "null when either month has no figures."})


class MonthTotalSchema(Schema):
    month = fields.Function(lambda t: t.month.strftime("%Y-%m"))
    issued = fields.Integer()
    deducted = fields.Integer()
    redeemed = fields.Integer()


class CountyCockpitSchema(Schema):
    month = fields.Function(lambda c: c.month.strftime("%Y-%m"))
    previous_month = fields.Function(lambda c: c.previous.strftime("%Y-%m"))
    sort = fields.String()
    total = fields.Nested(RowSchema, metadata={"description": "The county: sums, rates over its households."})
    townships = fields.Nested(RowSchema, many=True, metadata={"description": "Ranked by `sort`."})
    months = fields.Nested(MonthTotalSchema, many=True, metadata={
        "description": "The county's points per month, January to the month."})


@blp.route("/")
class CountyCockpit(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CockpitArgs, location="query")
    @blp.response(200, CountyCockpitSchema)
    def get(self, args):
        """Every township of the operator's county: households, accounts, signatures, participation,
        points and dividends for the month, its year to date and the change from the month before."""
        chosen = value(Month(), args.get("month"), "month")
        return county.county_cockpit(current_actor(), chosen, args["sort"])
