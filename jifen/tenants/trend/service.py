"""The household's own trend (issue 13, "Villager"): its points month by month (earned, spent,
deducted) and its rank in its village at each month's end, for its points home.

The months come from the cockpit's facts (`facts.household_months`: the nightly facts plus
today's postings), never from a scan of the ledger at request time; the ranks from the kept
month-end ranking snapshots (rankings/history.py). Both are drawn by the platform's chart toolkit
(server SVG: the villager's page carries no chart library) with their numbers as a table and a
workbook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import format_date, pgettext
from flask_babel import gettext as _

from jifen.platform import clock
from jifen.platform.charts import BAR, LINE, ChartData
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.tenants.cockpit import facts
from jifen.tenants.households.models import Household
from jifen.tenants.points.ledger import period_of
from jifen.tenants.rankings import history
from jifen.tenants.rankings.service import ACTION as RANKING_VIEW
from jifen.tenants.villages.models import Village

ACTION = "ledger.view"  # whoever may read the household's passbook may read its trend


@dataclass
class MonthPoints:
    month: date  # the month's first day
    earned: int = 0
    spent: int = 0
    deducted: int = 0
    corrected: int = 0


@dataclass
class Trend:
    household: Household
    period: int
    months: list[MonthPoints] = field(default_factory=list)  # January up to this month (a past period: December)
    ranks: list[history.MonthRank] | None = None  # None: the reader may not see rankings


def months_of(period: int) -> list[date]:
    """The period's months shown: all twelve of a past period, up to this month of the current one,
    none of a future one."""
    today = clock.today()
    last = 12 if period < today.year else today.month if period == today.year else 0
    return [date(period, m, 1) for m in range(1, last + 1)]


@action(ACTION)
def household_trend(actor: Actor, household_id, period: int | None = None) -> Trend:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, ACTION, household)
    period = period or period_of(clock.today())
    by_month = {row["month"].replace(day=1): row for row in facts.household_months(household.id, period)}
    months = []
    for month in months_of(period):
        row = by_month.get(month, {})
        # the facts' words (cockpit/models.py): issued = awards of posted items, redeemed = spent in
        # the store, deducted = deductions (both >= 0), corrected = corrections' earned change (signed)
        months.append(MonthPoints(month, earned=int(row.get("issued", 0)), spent=int(row.get("redeemed", 0)),
                                  deducted=int(row.get("deducted", 0)), corrected=int(row.get("corrected", 0))))
    ranks = None
    if may(actor, RANKING_VIEW, household):
        ranks = history.village_rank_by_month(actor, household.id, period)
    return Trend(household, period, months, ranks)


# --- the charts ---------------------------------------------------------------------------------

def _month_label(month: date) -> str:
    return format_date(month, "LLL")  # 1月 / Jan


def points_chart(trend: Trend) -> ChartData:
    """Earned, spent and deducted points per month (bars), and corrections when there were any
    (most households never have one: no empty fourth bar)."""
    labels = [_month_label(m.month) for m in trend.months]
    series = [(pgettext("month chart", "Earned"), [m.earned for m in trend.months]),
              (pgettext("month chart", "Spent"), [m.spent for m in trend.months]),
              (pgettext("month chart", "Deducted"), [m.deducted for m in trend.months])]
    if any(m.corrected for m in trend.months):
        series.append((pgettext("month chart", "Corrected"), [m.corrected for m in trend.months]))
    return ChartData("points-trend", _("Points by month, %(year)s", year=trend.period), labels, series,
                     unit=_("points"), kind=BAR, x_name=_("Month"))


def rank_chart(trend: Trend) -> ChartData | None:
    """The village rank at each month's end (a line, rank 1 at the top); None when not shown."""
    if trend.ranks is None:
        return None
    village = tenant_get(Village, trend.household.village_id)
    ranks = {r.month: r.rank for r in trend.ranks}
    return ChartData(
        "rank-trend", _("Rank in %(village)s at each month's end", village=village.name if village else ""),
        [_month_label(m.month) for m in trend.months], [(pgettext("month chart", "Rank"), [ranks.get(m.month) for m in trend.months])],
        kind=LINE, invert=True, x_name=_("Month"))
