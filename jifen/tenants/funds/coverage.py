"""The nightly coverage snapshot (job `jifen.fund_coverage`): for the township and for each village
with a store, on the job's local date `day`:

* outstanding points = households' available points in open periods (no finished period close)
  + points reserved by open store orders; households count in their village;
* point value = the township's setting, or derived (`derived_point_value`);
* liability = outstanding points x point value (fen);
* received = funding records received on or before `day` (reversals included, so a reversed
  record counts nothing); a record of a village's store counts for that village, one of the
  township's store or of no store for the township only;
* spent = restock movements made before the end of `day`: delta x unit cost (a restock with no
  unit cost counts 0: its cost is unknown);
* stock at cost = current stock levels x the latest restock unit cost of that item in that store,
  else the item's latest anywhere in the township, else 0;
* coverage = (received - spent + stock at cost) / liability; below the township's threshold
  → `below`; below tonight and not on the scope's previous night → `crossed`, and the township
  admins are told (once per crossing: a rerun of the same night tells nobody again);
* months left = (received - spent + stock at cost) / (points redeemed in the three months up to
  `day` x point value / 3). Redeemed = postings to the REDEEMED account (a spend, or a store
  order handed over), counted in the household's village by the transaction's date.

Every figure is one set-based statement grouped by village, the tenant bound as `:tenant_id`
(raw SQL, reviewed: the session guard cannot see inside text); the township's row is the sum of
all groups. The balances are read as they are when the job runs (there is no history of them).
"""
from __future__ import annotations

from datetime import date, time, timedelta
from fractions import Fraction

from sqlalchemy import Date, DateTime, String, Uuid, bindparam, delete, select, text

from jifen.platform import clock
from jifen.platform.db import db, parse_uuid
from jifen.platform.tenancy import current_tenant, current_tenant_id
from jifen.tenants.funds.models import DEFAULT_WARN_PCT, FundCoverage, FundSettings
from jifen.tenants.points.models import REDEEMED

TOWNSHIP = None  # the township's scope key (no village)
WINDOW_MONTHS = 3

AVAILABLE_SQL = """
SELECT h.village_id, SUM(b.available)
FROM household_balances b
JOIN households h ON h.tenant_id = b.tenant_id AND h.id = b.household_id
WHERE b.tenant_id = :tenant_id AND b.available <> 0
  AND b.period NOT IN (SELECT c.period FROM period_closes c WHERE c.tenant_id = :tenant_id AND c.status = 'done')
GROUP BY h.village_id
"""

RESERVED_SQL = """
SELECT h.village_id, SUM(o.total_points)
FROM store_orders o
JOIN households h ON h.tenant_id = o.tenant_id AND h.id = o.household_id
WHERE o.tenant_id = :tenant_id AND o.state = 'open'
GROUP BY h.village_id
"""

RECEIVED_SQL = """
SELECT s.village_id, SUM(r.amount_fen)
FROM fund_records r
LEFT JOIN stores s ON s.tenant_id = r.tenant_id AND s.id = r.store_id
WHERE r.tenant_id = :tenant_id AND r.received_on <= :day
GROUP BY s.village_id
"""

SPENT_SQL = """
SELECT s.village_id, SUM(m.delta * m.unit_cost_fen)
FROM stock_movements m
JOIN stores s ON s.tenant_id = m.tenant_id AND s.id = m.store_id
WHERE m.tenant_id = :tenant_id AND m.kind = 'restock' AND m.unit_cost_fen IS NOT NULL AND m.created_at < :until
GROUP BY s.village_id
"""

_RESTOCK_COSTS = """
    SELECT m.store_id, m.catalog_item_id, m.unit_cost_fen,
           ROW_NUMBER() OVER (PARTITION BY m.store_id, m.catalog_item_id ORDER BY m.created_at DESC, m.id DESC) AS in_store,
           ROW_NUMBER() OVER (PARTITION BY m.catalog_item_id ORDER BY m.created_at DESC, m.id DESC) AS anywhere
    FROM stock_movements m
    WHERE m.tenant_id = :tenant_id AND m.kind = 'restock' AND m.unit_cost_fen IS NOT NULL AND m.created_at < :until
"""

STOCK_SQL = f"""
WITH costs AS ({_RESTOCK_COSTS})
SELECT s.village_id, SUM(l.quantity * COALESCE(here.unit_cost_fen, anywhere.unit_cost_fen, 0))
FROM stock_levels l
JOIN stores s ON s.tenant_id = l.tenant_id AND s.id = l.store_id
LEFT JOIN costs here ON here.store_id = l.store_id AND here.catalog_item_id = l.catalog_item_id AND here.in_store = 1
LEFT JOIN costs anywhere ON anywhere.catalog_item_id = l.catalog_item_id AND anywhere.anywhere = 1
WHERE l.tenant_id = :tenant_id AND l.quantity > 0
GROUP BY s.village_id
"""

# latest known unit cost of each active catalog item with its price (the derived point value)
ITEM_COSTS_SQL = f"""
WITH costs AS ({_RESTOCK_COSTS})
SELECT c.unit_cost_fen, i.price_points
FROM catalog_items i
JOIN costs c ON c.catalog_item_id = i.id AND c.anywhere = 1
WHERE i.tenant_id = :tenant_id AND i.active = :active
"""

# redeemed points by the household's village: read from the store's two transaction kinds that
# post to REDEEMED (their unique key on (tenant_id, source_kind, source_id) leads the way)
REDEEMED_SQL = """
SELECT h.village_id, SUM(p.available)
FROM ledger_transactions t
JOIN ledger_postings p ON p.tenant_id = t.tenant_id AND p.transaction_id = t.id
JOIN households h ON h.tenant_id = t.tenant_id AND h.id = t.household_id
WHERE t.tenant_id = :tenant_id AND t.source_kind IN ('redemption', 'order_close')
  AND t.occurred_on > :since AND t.occurred_on <= :day AND p.account = :redeemed
GROUP BY h.village_id
"""

VILLAGES_WITH_STORES_SQL = """
SELECT DISTINCT s.village_id FROM stores s WHERE s.tenant_id = :tenant_id AND s.village_id IS NOT NULL
"""


def months_back(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(days=day.day - 1),
               next_first - timedelta(days=1))


def _until(day: date):
    """The end of `day` in the township's time, as the moment stored timestamps are compared with."""
    return clock.local_moment(day + timedelta(days=1), time(0), current_tenant())


def _params(day: date) -> dict:
    return {"tenant_id": current_tenant_id(), "day": day, "until": _until(day),
            "since": months_back(day, WINDOW_MONTHS), "redeemed": REDEEMED, "active": True}


_TYPES = {"tenant_id": Uuid(), "day": Date(), "since": Date(), "until": DateTime(timezone=True),
          "redeemed": String(), "active": db.Boolean()}


def _run(sql: str, params: dict):
    names = [n for n in _TYPES if f":{n}" in sql]
    statement = text(sql).bindparams(*[bindparam(n, params[n], type_=_TYPES[n]) for n in names])
    return db.session.execute(statement).all()


def _by_village(sql: str, params: dict) -> dict:
    """{village_id or None: int} of one grouped statement (SQLite answers ids of raw SQL as text)."""
    return {parse_uuid(village): int(total or 0) for village, total in _run(sql, params)}


def round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


def derived_point_value(day: date | None = None) -> int | None:
    """What one point is worth when the township sets no value: over the active catalog items that
    have a restock with a unit cost (up to the end of `day`), each item's latest unit cost divided
    by its price in points; the median of these (the mean of the middle two for an even count),
    rounded half up to whole fen, at least 1 fen. None when no item has a known cost."""
    day = day or clock.today()
    ratios = sorted(Fraction(int(cost), int(price)) for cost, price in _run(ITEM_COSTS_SQL, _params(day)))
    if not ratios:
        return None
    n = len(ratios)
    median = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2
    return max(1, round_half_up(median))


def settings() -> FundSettings | None:
    return db.session.execute(select(FundSettings)).scalar_one_or_none()


def point_value(day: date | None = None) -> tuple[int | None, bool]:
    """(fen per point, derived?) in force for the township."""
    s = settings()
    if s is not None and s.point_value_fen:
        return s.point_value_fen, False
    return derived_point_value(day), True


def _is_below(row: FundCoverage) -> bool:
    """Exact: cover x 100 < threshold x liability (nothing owed is never below)."""
    return bool(row.liability_fen) and row.cover_fen * 100 < row.warn_pct * row.liability_fen


def compute(day: date) -> list[FundCoverage]:
    """The night's rows (not yet written): the township's first, then each village with a store."""
    params = _params(day)
    figures = {name: _by_village(sql, params) for name, sql in (
        ("available_points", AVAILABLE_SQL), ("reserved_points", RESERVED_SQL), ("received_fen", RECEIVED_SQL),
        ("spent_fen", SPENT_SQL), ("stock_cost_fen", STOCK_SQL), ("redeemed_points", REDEEMED_SQL))}
    villages = sorted({parse_uuid(v) for (v,) in _run(VILLAGES_WITH_STORES_SQL, params)}, key=str)
    value, derived = point_value(day)
    s = settings()
    warn = s.coverage_warn_pct if s is not None else DEFAULT_WARN_PCT
    rows = []
    for scope in [TOWNSHIP, *villages]:
        row = FundCoverage(taken_on=day, village_id=scope, point_value_fen=value, point_value_derived=derived,
                           warn_pct=warn, crossed=False)
        for name, groups in figures.items():
            setattr(row, name, sum(groups.values()) if scope is TOWNSHIP else groups.get(scope, 0))
        row.liability_fen = row.outstanding_points * value if value is not None else None
        row.monthly_redemption_fen = (round_half_up(Fraction(row.redeemed_points * value, WINDOW_MONTHS))
                                      if value is not None else None)
        row.below = _is_below(row)
        rows.append(row)
    return rows


def _previous(day: date) -> dict:
    """{scope: below} of each scope's latest night before `day`."""
    latest = (select(FundCoverage.village_id, db.func.max(FundCoverage.taken_on).label("on"))
              .where(FundCoverage.taken_on < day).group_by(FundCoverage.village_id).subquery())
    rows = db.session.execute(select(FundCoverage.village_id, FundCoverage.below).join(
        latest, (FundCoverage.taken_on == latest.c.on)
        & ((FundCoverage.village_id == latest.c.village_id)
           | (FundCoverage.village_id.is_(None) & latest.c.village_id.is_(None))))).all()
    return {village: below for village, below in rows}


def take_snapshot(day: date) -> dict:
    """Write the night's rows (replacing the same night's, so a rerun converges) and tell the
    township admins about scopes that crossed below their threshold. Does not commit."""
    tenant = current_tenant()
    if tenant is None:
        raise RuntimeError("take_snapshot needs a tenant in scope")
    if db.session.get_bind().dialect.name == "postgresql":
        # one writer per township at a time: two forced runs of a night at once would otherwise both
        # delete before either inserted, and the second would crash on the night's unique index
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                           {"key": f"fund_coverage:{tenant.id}"})
    told_before = set(db.session.execute(select(FundCoverage.village_id).where(
        FundCoverage.taken_on == day, FundCoverage.crossed.is_(True))).scalars())
    db.session.execute(delete(FundCoverage).where(FundCoverage.taken_on == day))
    previous = _previous(day)
    rows = compute(day)
    for row in rows:
        row.crossed = row.below and not previous.get(row.village_id, False)
    db.session.add_all(rows)
    db.session.flush()
    newly = [r for r in rows if r.crossed and r.village_id not in told_before]
    if newly:
        from jifen.tenants.notifications.digest import tell_admins

        tell_admins(tenant)
    return {"taken_on": day.isoformat(), "scopes": len(rows), "below": sum(r.below for r in rows),
            "crossed": len(newly), "rows": len(rows)}


def crossed_recently() -> int:
    """Scopes that crossed below in the latest night (yesterday's or today's), for the digest."""
    today = clock.today()
    latest = db.session.execute(select(db.func.max(FundCoverage.taken_on))).scalar()
    if latest is None or latest < today - timedelta(days=1):
        return 0
    q = select(db.func.count()).select_from(FundCoverage).where(FundCoverage.taken_on == latest,
                                                                FundCoverage.crossed.is_(True))
    return int(db.session.execute(q).scalar_one())

