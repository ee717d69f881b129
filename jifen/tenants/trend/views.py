"""The trend panel on the household's points home, and its numbers as a workbook."""
from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_babel import gettext as _

from jifen.platform.charts.xlsx import charts_download
from jifen.platform.errors import Invalid
from jifen.platform.input import Period, value
from jifen.platform.roles.authz import may, scope_ids
from jifen.platform.web import current_actor
from jifen.tenants.points.home_panels import register_home_panel
from jifen.tenants.trend import service

bp = Blueprint("trend", __name__, url_prefix="/t/<tenant_slug>/trend")


def _charts(trend) -> list:
    return [c for c in (service.points_chart(trend), service.rank_chart(trend)) if c is not None]


def panel_context(actor, household) -> dict | None:
    """The household's points by month and its rank at each month's end (server SVG), for whoever
    may read its passbook; the rank line only for those who may see rankings."""
    if not may(actor, service.ACTION, household):
        return None
    trend = service.household_trend(actor, household.id)
    if not trend.months:
        return None
    own = household.id in (scope_ids(actor, "inbox.view", "household") or set())
    return {"title": _("My points trend") if own else _("Points trend"), "points": service.points_chart(trend),
            "ranks": service.rank_chart(trend),
            "download": url_for("trend.workbook", household_id=household.id, period=trend.period)}


register_home_panel("trend", "trend/_home_panel.html", panel_context, order=30)


@bp.get("/households/<uuid:household_id>.xlsx")
def workbook(household_id):
    """The panel's tables as a workbook (one sheet per chart), for the period asked (this year
    when none or not a year, as the passbook reads it)."""
    try:
        period = value(Period(), request.args.get("period"), "period")
    except Invalid:
        period = None
    trend = service.household_trend(current_actor(), household_id, period)
    return charts_download(_charts(trend), _("points-trend"))
