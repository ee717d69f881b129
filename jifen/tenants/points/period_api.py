"""Township API: Period close"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import period
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.points import period_close
from jifen.tenants.points.period_links import year_url

blp = Blueprint("periods_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/periods", description="Period close")


def _d(description: str, **more) -> dict:
    return {"description": description, **more}


class PeriodCloseSchema(Schema):
    period = fields.Integer()
    status = fields.String(metadata=_d("running (chunks still to do), or done.", enum=["running", "done"]))
    policy = fields.String(metadata=_d("The township's policy when the close began.", enum=["carry_over", "expire"]))
    carry_over_limit = fields.Integer(allow_none=True, metadata=_d("Most points carried over per household; null: "
                                                                   "no limit."))
    households = fields.Integer(metadata=_d("Close entries posted: one a household, and one more for each later "
                                            "sweep of points that reached the closed year."))
    carried = fields.Integer(metadata=_d("Available points carried over into the next year."))
    expired = fields.Integer(metadata=_d("Available points that expired."))
    started_by_name = fields.String()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class PeriodSchema(Schema):
    period = fields.Integer(metadata=_d("The calendar year."))
    status = fields.String(metadata=_d("open (the current year), unclosed (past, not closed yet), running, done.",
                                       enum=["open", "unclosed", "running", "done"]))
    households = fields.Integer(metadata=_d("Households that earned points in the year."))
    earned = fields.Integer(metadata=_d("Points earned in the year (what its ranking and dividends count); a close "
                                        "does not change it."))
    available = fields.Integer(metadata=_d("Available points still in the year (0 once closed, until late postings "
                                           "come in; the daily job moves those too)."))
    close = fields.Nested(PeriodCloseSchema, allow_none=True)
    rankings_url = fields.Function(lambda p: year_url("rankings", p.period), metadata=_d("The year's rankings page."))
    honours_url = fields.Function(lambda p: year_url("honours", p.period), metadata=_d("The year's honours page."))


class PreviewArgs(Schema):
    period = period(required=True, strict=False, metadata=_d("A past year; the current year is a 409 naming `period`."))


class PreviewSchema(Schema):
    period = fields.Integer()
    policy = fields.String(metadata=_d("carry_over or expire.", enum=["carry_over", "expire"]))
    carry_over_limit = fields.Integer(allow_none=True)
    households = fields.Integer(metadata=_d("Households with available points in the year."))
    available = fields.Integer()
    carried = fields.Integer(metadata=_d("What would carry over into the next year."))
    expired = fields.Integer(metadata=_d("What would expire."))


class CloseSchema(Schema):
    period = period(required=True, metadata=_d("A past year; the current year is a 409 naming `period`, and so is "
                                               "a year closed already."))


@blp.route("/")
class Periods(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, PeriodSchema(many=True))
    def get(self):
        """Every year of the township, newest first, with its totals and its close (staff)."""
        return period_close.summaries(current_actor())


@blp.route("/preview")
class Preview(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PreviewArgs, location="query")
    @blp.response(200, PreviewSchema)
    def get(self, args):
        """What closing a past year would do now (township admin)."""
        return period_close.preview(current_actor(), args["period"])


@blp.route("/close")
class Close(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CloseSchema)
    @idempotent
    @blp.response(202, PeriodCloseSchema)
    def post(self, data):
        """Close a past year (township admin): every household's available points carry over or
        expire per the township's policy, by ledger entries. Runs in a worker; poll the list."""
        return period_close.request_close(current_actor(), data)
