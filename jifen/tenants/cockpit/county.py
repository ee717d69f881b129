"""The county cockpit: every township of the operator's county side by side, aggregates only.

What leaves this module is per township (its slug, name and status) and for the county: counts and
sums. No person's name, no ID number, no household row or household id is read into it or out of
it, so neither the page nor the API can show one.

Where the figures come from (the nightly facts, models.py, never the ledger at request time):
* households registered, with a villager account, signed the commitment, active grid workers: the
  township's `CoverageFact` of its latest night built, as its own dashboard shows them (whatever the
  month asked for), and their change since its latest night at least 28 days before that;
* participation: the month's `MonthFact` (township row, all flows) `participants` over the households
  registered now, the month before over the same households (as the township's dashboard counts it:
  its change is the change of participants);
* points issued / deducted / redeemed: the month's `MonthFact`, and its sum from January (year to date);
* dividends: runs paid (`DividendRun.state == paid`) on a township-local date from January 1 to the
  month's end, their `total_fen`, and the distinct households with a payout above 0 in them.
The month's change compares with the month before (its own year to date).
Figures are as of each township's last nightly build (`as_of`, shown): the county reports nightly
figures and does not read today's postings of every township on each request.

This is the deliberate county-level read that issue 16 (Citus) names. Each statement reads ONE
table over the county's tenant ids (`tenant_id IN :ids`, bound; the session guard's explicit
`all_tenants` escape hatch, greppable), filtered to bounded rows (a few months, the township scope):
four statements (and the county's township list) whatever the number of townships, none per township.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select

from jifen.platform import clock
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit.models import NO_ID, TOWNSHIP, CoverageFact, MonthFact
from jifen.tenants.cockpit.months import CHANGE_DAYS, month_end, previous_month
from jifen.tenants.dividends.models import PAID, DividendPayout, DividendRun


@dataclass
class Figures:
    """One township's (or the county's) figures for a month. The coverage counts are None while the
    township has no coverage night built (for the month before: none 28 days before the latest)."""

    households: int | None = None
    with_account: int | None = None
    signed: int | None = None
    grid_workers: int | None = None
    participants: int = 0  # households with a posted item in the month
    issued: int = 0
    deducted: int = 0
    redeemed: int = 0
    issued_ytd: int = 0
    deducted_ytd: int = 0
    redeemed_ytd: int = 0
    dividends_fen: int = 0  # paid from January 1 to the month's end
    dividend_households: int = 0  # distinct households reached by those payments
    as_of: date | None = None  # the coverage night read
    registered_now: int | None = None  # participation's denominator: the households of the latest night

    @property
    def account_rate(self) -> float | None:
        return _rate(self.with_account, self.households)

    @property
    def signed_rate(self) -> float | None:
        return _rate(self.signed, self.households)

    @property
    def participation(self) -> float | None:
        return _rate(self.participants, self.registered_now)

    def value(self, key: str):
        return getattr(self, key)

    def add(self, other: "Figures") -> None:
        """Add a township's figures into the county's (counts of townships without facts stay out)."""
        for f in fields(self):
            if f.name == "as_of":
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if theirs is not None:
                setattr(self, f.name, (mine or 0) + theirs)
        if other.as_of is not None:
            self.as_of = other.as_of if self.as_of is None else min(self.as_of, other.as_of)


def _rate(part, whole) -> float | None:
    return None if not whole or part is None else part / whole


# what the table can be ranked by (always largest first); rates compare as percentage points
SORT_KEYS = ("participation", "households", "account_rate", "signed_rate", "issued", "deducted", "redeemed",
             "issued_ytd", "deducted_ytd", "redeemed_ytd", "grid_workers", "dividends_fen", "dividend_households")
RATES = {"participation", "account_rate", "signed_rate"}
DEFAULT_SORT = "participation"


@dataclass
class TownshipRow:
    slug: str
    name: str
    status: str
    now: Figures
    before: Figures  # the month before
    rank: int = 0

    def change(self, key: str):
        """The month's change of a figure (rates in percentage points), None when either side is missing."""
        a, b = self.now.value(key), self.before.value(key)
        if a is None or b is None:
            return None
        return round((a - b) * 100, 1) if key in RATES else a - b

    @property
    def changes(self) -> dict:
        return {key: self.change(key) for key in SORT_KEYS}


@dataclass
class MonthTotal:
    month: date
    issued: int = 0
    deducted: int = 0
    redeemed: int = 0


@dataclass
class CountyCockpit:
    month: date
    sort: str
    townships: list[TownshipRow] = field(default_factory=list)
    total: TownshipRow | None = None  # the county's sums; rates over the county's households
    months: list[MonthTotal] = field(default_factory=list)  # the county, January to the month

    @property
    def previous(self) -> date:
        return previous_month(self.month)


def this_month() -> date:
    return clock.today().replace(day=1)


@action("cockpit.county")
def county_cockpit(actor: Actor, month: date | None = None, sort: str = DEFAULT_SORT) -> CountyCockpit:
    """The figures of every township of the operator's county for `month` (the first day; default:
    this month), ranked by `sort` (largest first, ties in pinyin order of the names)."""
    month = (month or this_month()).replace(day=1)
    sort = sort if sort in SORT_KEYS else DEFAULT_SORT
    tenants = db.session.execute(select(Tenant).where(Tenant.county_id == actor.county_id)).scalars().all()
    out = CountyCockpit(month, sort, months=[MonthTotal(date(month.year, m, 1)) for m in range(1, month.month + 1)])
    if not tenants:
        out.total = TownshipRow("", "", "", Figures(), Figures())
        return out
    ids = [t.id for t in tenants]
    now_figures = {t.id: Figures() for t in tenants}
    before_figures = {t.id: Figures() for t in tenants}
    _add_months(ids, month, now_figures, before_figures, out.months)
    _add_coverage(ids, now_figures, before_figures)
    _add_dividends(tenants, month, now_figures, before_figures)
    rows = [TownshipRow(t.slug, t.name, t.status, now_figures[t.id], before_figures[t.id]) for t in tenants]
    out.townships = rank(rows, sort)
    total = TownshipRow("", "", "", Figures(), Figures())
    for row in rows:
        total.now.add(row.now)
        total.before.add(row.before)
    out.total = total
    return out


def rank(rows: list[TownshipRow], sort: str) -> list[TownshipRow]:
    """Largest first (a township without the figure last), ties share a rank (1, 1, 3) and are
    listed in pinyin order."""
    def key(row):
        v = row.now.value(sort)
        return (v is None, -(v or 0), pinyin_key(row.name))

    rows = sorted(rows, key=key)
    for n, row in enumerate(rows):
        same = n and rows[n - 1].now.value(sort) == row.now.value(sort)
        row.rank = rows[n - 1].rank if same else n + 1
    return rows


# --- the reads: one statement per table over the county's tenant ids ------------------------------

def _add_months(ids: list[uuid.UUID], month: date, now: dict, before: dict, county_months: list) -> None:
    """The township rows (all flows) of `MonthFact` from January of the previous month's year to
    `month`: at most 13 rows per township. Also the county's sums per month of `month`'s year."""
    prev = previous_month(month)
    rows = db.session.execute(
        select(MonthFact.tenant_id, MonthFact.month, MonthFact.participants, MonthFact.issued, MonthFact.deducted,
               MonthFact.redeemed)
        .where(MonthFact.tenant_id.in_(ids), MonthFact.scope_kind == TOWNSHIP, MonthFact.village_id == NO_ID,
               MonthFact.item_id == NO_ID,
               MonthFact.month >= date(prev.year, 1, 1), MonthFact.month <= month)
        .execution_options(**fan_out("county.cockpit"))).all()
    by_month = {t.month: t for t in county_months}
    for tenant_id, m, participants, issued, deducted, redeemed in rows:  # typed columns: dates on SQLite too
        if m in by_month:
            by_month[m].issued += issued
            by_month[m].deducted += deducted
            by_month[m].redeemed += redeemed
        for figures, upto in ((now[tenant_id], month), (before[tenant_id], prev)):
            if m.year != upto.year or m > upto:
                continue
            figures.issued_ytd += issued
            figures.deducted_ytd += deducted
            figures.redeemed_ytd += redeemed
            if m == upto:
                figures.participants = participants
                figures.issued, figures.deducted, figures.redeemed = issued, deducted, redeemed


def _add_coverage(ids: list[uuid.UUID], now: dict, before: dict) -> None:
    """Each township's latest coverage night, and its latest night at least `CHANGE_DAYS` before
    that (nights of the last 400 days: month-ends are kept for ever, the last 7 nights besides)."""
    rows = db.session.execute(
        select(CoverageFact.tenant_id, CoverageFact.day, CoverageFact.households, CoverageFact.with_account,
               CoverageFact.signed, CoverageFact.grid_workers)
        .where(CoverageFact.tenant_id.in_(ids), CoverageFact.scope_kind == TOWNSHIP,
               CoverageFact.day >= clock.today() - timedelta(days=400))
        .order_by(CoverageFact.day.desc())
        .execution_options(**fan_out("county.cockpit"))).all()
    nights: dict = {}
    for row in rows:  # newest first
        nights.setdefault(row[0], []).append(row)
    for tenant_id, found in nights.items():
        latest = found[0]
        earlier = next((r for r in found if r[1] <= latest[1] - timedelta(days=CHANGE_DAYS)), None)
        for figures, night in ((now[tenant_id], latest), (before[tenant_id], earlier)):
            if night is not None:
                _tenant, figures.as_of, figures.households, figures.with_account, figures.signed, \
                    figures.grid_workers = night
            figures.registered_now = latest[2]


def _add_dividends(tenants: list[Tenant], month: date, now: dict, before: dict) -> None:
    """Runs paid on a township-local date from January 1 (of the previous month's year) to the
    month's end, then the distinct households with a payout above 0 in them: one statement each."""
    prev = previous_month(month)
    zones = {t.id: ZoneInfo(t.timezone or clock.DEFAULT_ZONE) for t in tenants}
    # a day's margin either side in UTC; each run's local date decides below
    start = datetime.combine(date(prev.year, 1, 1) - timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    end = datetime.combine(month_end(month) + timedelta(days=2), datetime.min.time(), tzinfo=timezone.utc)
    runs = db.session.execute(
        select(DividendRun.tenant_id, DividendRun.id, DividendRun.paid_at, DividendRun.total_fen)
        .where(DividendRun.tenant_id.in_([t.id for t in tenants]), DividendRun.state == PAID,
               DividendRun.paid_at >= start, DividendRun.paid_at < end)
        .execution_options(**fan_out("county.cockpit"))).all()
    counted: dict[str, list] = {"now": [], "before": []}
    for tenant_id, run_id, paid_at, total_fen in runs:
        paid_on = paid_at.astimezone(zones[tenant_id]).date()
        for name, figures, upto in (("now", now[tenant_id], month), ("before", before[tenant_id], prev)):
            if paid_on.year == upto.year and paid_on <= month_end(upto):
                figures.dividends_fen += total_fen or 0
                counted[name].append(run_id)
    if not counted["now"] and not counted["before"]:
        return
    in_now, in_before = DividendPayout.run_id.in_(counted["now"]), DividendPayout.run_id.in_(counted["before"])
    reached = db.session.execute(
        select(DividendPayout.tenant_id,
               func.count(func.distinct(case((in_now, DividendPayout.household_id)))),
               func.count(func.distinct(case((in_before, DividendPayout.household_id)))))
        .where(DividendPayout.tenant_id.in_(list(now)), DividendPayout.amount_fen > 0,
               DividendPayout.run_id.in_(counted["now"] + counted["before"]))
        .group_by(DividendPayout.tenant_id)
        .execution_options(**fan_out("county.cockpit"))).all()
    for tenant_id, n_now, n_before in reached:
        now[tenant_id].dividend_households = n_now
        before[tenant_id].dividend_households = n_before


# --- the 大屏: the county's running totals and one bar per township ---------------------------------

@dataclass
class Bar:
    label: str
    value: float
    text: str
    width: float  # share of the longest bar, 0 … 1


def bars(cockpit: CountyCockpit, key: str, fmt) -> list[Bar]:
    """One bar per township for the screen's comparison, largest first."""
    values = sorted(((row.name, row.now.value(key)) for row in cockpit.townships),
                    key=lambda nv: (nv[1] is None, -(nv[1] or 0), pinyin_key(nv[0])))
    top = max((v for _n, v in values if v), default=0)
    return [Bar(name, v or 0, fmt(v) if v is not None else "—", (v or 0) / top if top else 0) for name, v in values]
