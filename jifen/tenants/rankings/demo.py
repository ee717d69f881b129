"""Demo data: ranking snapshots for Longwo — the last night of each earlier month of the year
(ranked by the ledger as it stood then: a household's rank over time, and the previous month's
for movement) and tonight's (by the balances).

Both go through the job's own body (`service.take_snapshot`). The earlier one is a month-end, which
the retention policy keeps for ever, so it is still there whenever the demo is looked at. In
January (no earlier month in this period) the earlier one is six days back, if still in January.
Loading again adds nothing: a snapshot that exists is left as it is.
"""
from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.tenants.rankings import service
from jifen.tenants.rankings.models import RankingSnapshot

JOB_TIME = time(1, 30)  # when the nightly job runs (jifen/workers/ranking_jobs.py)


def earlier_day(today: date) -> date | None:
    month_end = today.replace(day=1) - timedelta(days=1)
    if month_end.year == today.year:
        return month_end
    week = today - timedelta(days=6)
    return week if week.year == today.year and week < today else None


def month_ends(today: date) -> list[date]:
    """The last days of the months of this year before today's month."""
    return [date(today.year, m + 1, 1) - timedelta(days=1) for m in range(1, today.month)]


def load_demo(admin_actor, villages: dict) -> str | None:
    """Add this area's demo data for Longwo (idempotent); returns one line for the demo's summary."""
    today = clock.today()
    earlier = earlier_day(today)
    have = set(db.session.execute(select(RankingSnapshot.taken_on)).scalars())
    retake = False
    for day in month_ends(today)[:-1]:  # the months before the previous one (that one is `earlier`)
        if day not in have:
            service.take_snapshot(day, as_of=clock.local_moment(day, JOB_TIME))
            retake = True
    if earlier is not None and earlier not in have:
        service.take_snapshot(earlier, as_of=clock.local_moment(earlier, JOB_TIME))
        retake = True  # tonight's must be measured against it
    if retake or today not in have:
        service.take_snapshot(today)
    db.session.commit()
    snapshot = service.pick_snapshot()
    if snapshot is None:
        return None
    since = f", movement since {snapshot.previous_on.isoformat()}" if snapshot.previous_on else ""
    return (f"Rankings: {snapshot.households} households ranked on {snapshot.taken_on.isoformat()} by village, "
            f"grid and township{since}: /t/longwo/rankings/")
