"""A household's rank over time, read from the kept snapshots: for each month of a period, its
rank in its village in the month's last snapshot (`Retention` keeps the last snapshot of every
month for ever, so a year later the months are still there; the current month reads its latest
night so far).

Two short reads whatever the township's size: the period's snapshot dates (a few dozen rows), then
the household's rows on those dates by the entries' key (tenant, taken_on, village_id, …): within
its *current* village. A household that moved village has no point for the months it stood in
another one (its rank there was among other neighbours; looking it up across the whole snapshot
would read every household of the township for each month).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.tenancy import tenant_get_or_404
from jifen.tenants.households.models import Household
from jifen.tenants.rankings.models import RankingEntry, RankingSnapshot
from jifen.tenants.rankings.service import ACTION


@dataclass(frozen=True)
class MonthRank:
    month: date  # the month's first day
    taken_on: date  # the snapshot read (the month's last kept)
    rank: int | None  # in the village; None: not ranked there that month


def month_end_snapshots(period: int) -> dict[date, date]:
    """{month's first day: its last kept snapshot date} for the period's months that have one."""
    ends: dict[date, date] = {}
    for day in db.session.execute(select(RankingSnapshot.taken_on).where(RankingSnapshot.period == period)).scalars():
        month = day.replace(day=1)
        if day > ends.get(month, date.min):
            ends[month] = day
    return ends


@action(ACTION)
def village_rank_by_month(actor: Actor, household_id, period: int) -> list[MonthRank]:
    """The household's rank in its village at each month's end of `period`, oldest first (only
    months with a snapshot)."""
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, ACTION, household)
    ends = month_end_snapshots(period)
    if not ends:
        return []
    ranks = dict(db.session.execute(
        select(RankingEntry.taken_on, RankingEntry.rank_village).where(
            RankingEntry.taken_on.in_(sorted(ends.values())), RankingEntry.village_id == household.village_id,
            RankingEntry.household_id == household.id)).all())
    return [MonthRank(month, day, ranks.get(day)) for month, day in sorted(ends.items())]
