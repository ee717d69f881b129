"""Township API: the dashboard's figures, the same `dashboard.dashboard` the page shows.

Filters as on the page: `month` (YYYY-MM) or `period` (a year: its last month, or this month in
the current year), `village`, `grid` (a grid node), `category` (a rule category). A scope the
caller does not reach is 403; another township's id is 404.
"""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import period
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.cockpit import dashboard
from jifen.tenants.cockpit.models import MEASURES

blp = Blueprint("cockpit_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/cockpit",
                description="Dashboard figures")


def _d(text: str) -> dict:
    return {"description": text}


class FilterArgs(Schema):
    month = fields.String(validate=validate.Regexp(r"^2[01]\d\d-(0[1-9]|1[0-2])$"),
                          metadata=_d("YYYY-MM: the month shown (the year to date runs to its end)."))
    period = period(strict=False, metadata=_d("A year: its last month, or this month in the current year."))
    village = fields.UUID(metadata=_d("A village: the dashboard of that village."))
    grid = fields.UUID(metadata=_d("A grid node: the dashboard of its subtree."))
    category = fields.UUID(metadata=_d("A rule category: points of its items only."))


def _measures(**more) -> dict:
    return {k: fields.Integer() for k in MEASURES} | more


MonthSchema = Schema.from_dict(_measures(
    month=fields.Date(), participants=fields.Integer(metadata=_d("Households with a posted item in the month.")),
    households=fields.Integer(), participation=fields.Float(allow_none=True, metadata=_d("Percent."))),
    name="CockpitMonth")
ScopeSchema = Schema.from_dict({"kind": fields.String(), "id": fields.UUID(), "name": fields.String()},
                               name="CockpitScope")
CoverageSchema = Schema.from_dict({
    "day": fields.Date(), "households": fields.Integer(), "with_account": fields.Integer(),
    "signed": fields.Integer(), "grid_workers": fields.Integer(), "account_pct": fields.Float(allow_none=True),
    "signed_pct": fields.Float(allow_none=True)}, name="CockpitCoverage")
ChildSchema = Schema.from_dict({
    "rank": fields.Integer(), "id": fields.UUID(), "kind": fields.String(), "name": fields.String(),
    "households": fields.Integer(), "account_pct": fields.Float(allow_none=True),
    "signed_pct": fields.Float(allow_none=True), "participants": fields.Integer(),
    "participation": fields.Float(allow_none=True),
    "change": fields.Float(allow_none=True, metadata=_d("Percentage points since the month before.")),
    "issued": fields.Integer(), "deducted": fields.Integer(), "redeemed": fields.Integer()}, name="CockpitChild")
StepSchema = Schema.from_dict({"count": fields.Integer(), "oldest": fields.Integer(allow_none=True),
                               "median": fields.Float(allow_none=True), "overdue": fields.Integer()},
                              name="CockpitWorkStep")


class DashboardSchema(Schema):
    scope = fields.Nested(ScopeSchema)
    month = fields.Date(attribute="filters.month")
    built_on = fields.Date(allow_none=True, metadata=_d("The night of the last facts build."))
    months = fields.List(fields.Nested(MonthSchema))
    current = fields.Dict(metadata=_d("The month's figures, with `change` from the month before."))
    year = fields.Dict(metadata=_d("Year to date, to the end of the month shown."))
    coverage = fields.Dict(keys=fields.String(), values=fields.Nested(CoverageSchema, allow_none=True))
    children = fields.List(fields.Nested(ChildSchema))
    categories = fields.List(fields.Dict())
    top_items = fields.List(fields.Dict())
    histogram = fields.List(fields.Dict())
    work = fields.Dict()
    store = fields.Dict()
    rewards = fields.Dict()


@blp.route("/dashboard")
class DashboardView(MethodView):
    @blp.arguments(FilterArgs, location="query", as_kwargs=True)
    @blp.response(200, DashboardSchema)
    @blp.doc(security=SECURITY)
    def get(self, **_filters):
        """The dashboard's figures for a scope and month."""
        return dashboard.dashboard(current_actor(), request.args)
