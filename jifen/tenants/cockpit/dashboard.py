"""The township dashboard's reads: every figure comes from the facts (models.py), plus the
ledger rows written after the last build for the points of the current month; the work queues,
the store, dividends and honours are counts over their own small indexed tables.

A dashboard is of one scope: the township, a village or a grid node, chosen by the filters and
checked by the one reach rule (`cockpit.view`): a township admin reaches the township, a village
admin, area cadre or panel member their villages, a grid worker their grid subtree.
"""
from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass, field
from datetime import date, time, timedelta

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import and_, func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.errors import NotFound
from jifen.platform.input import Month, Period, Uuid
from jifen.platform.input import value as checked
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.tenancy import current_tenant_id, tenant_get
from jifen.tenants.cockpit import facts
from jifen.tenants.cockpit.models import (
    GRID,
    MEASURES,
    NO_ID,
    TOWNSHIP,
    VILLAGE,
    CoverageFact,
    FactsState,
    MonthFact,
    PointsHistogram,
)
from jifen.tenants.cockpit.months import CHANGE_DAYS, next_month, previous_month
from jifen.tenants.dividends.models import PAID, DividendRun
from jifen.tenants.funds.models import FundCoverage
from jifen.tenants.honours.models import CONFIRMED, HonourCandidate, HonourTitle, StarRating
from jifen.tenants.households.models import Household
from jifen.tenants.points.models import Application, Objection
from jifen.tenants.points.workflow import CERTIFIED, OBJECTED, ON_NOTICE, SUBMITTED, VERIFIED
from jifen.tenants.rulebook.models import RuleCategory, RuleItem
from jifen.tenants.store.models import ORDER_HANDED_OVER, CatalogItem, Order, OrderLine, StockLevel, Store
from jifen.tenants.villages.models import GridNode, Village
from jifen.tenants.villages.scopes import subtree_of

ACTION = "cockpit.view"
OVERDUE_DAYS = 7  # an application waiting longer than this at one step stands out
LOW_STOCK = 5  # units left in a store at which an item shows as running low
TOP_ITEMS = 10


@dataclass
class Scope:
    """What a dashboard is of, as `authorize` sees it: `path` names the scope objects containing it."""

    kind: str
    id: uuid.UUID
    name: str = ""
    village_id: uuid.UUID | None = None
    node: GridNode | None = None
    path: dict = field(default_factory=dict)


register_scope_path(Scope, lambda scope: scope.path)


@dataclass
class Filters:
    period: int
    month: date  # the first day of the month shown
    village_id: uuid.UUID | None = None
    grid_node_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None

    def args(self, **changes) -> dict:
        """The filters as URL arguments (shareable), with `changes` applied."""
        out = {"period": self.period, "month": self.month.strftime("%Y-%m"), "village": self.village_id,
               "grid": self.grid_node_id, "category": self.category_id} | changes
        return {k: str(v) for k, v in out.items() if v is not None}


def parse_filters(raw) -> Filters:
    """The filters from a query string; a bad value is a 422 naming its field."""
    today = clock.today()
    period = checked(Period(), raw.get("period"), "period")  # a year to come shows zeros, not an error
    month = checked(Month(), raw.get("month"), "month")
    if month is None:
        year = period or today.year
        month = today.replace(day=1) if year == today.year else date(year, 12, 1)
    return Filters(period=month.year, month=month, village_id=checked(Uuid(), raw.get("village"), "village"),
                   grid_node_id=checked(Uuid(), raw.get("grid"), "grid"),
                   category_id=checked(Uuid(), raw.get("category"), "category"))


def default_scope(actor: Actor) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(village, grid node) a dashboard opens on when no filter names one: the township if the
    actor reaches it, else their first village, else their first grid node."""
    found = reach.reach(actor, ACTION)
    if found.everything:
        return None, None
    villages = sorted(found.of("village"), key=str)
    if villages:
        return villages[0], None
    nodes = sorted(found.of("grid_node"), key=str)
    return None, (nodes[0] if nodes else None)


def scope_of(actor: Actor, filters: Filters) -> Scope:
    """The scope the filters name, if the actor reaches it (404 when it is not the township's)."""
    if filters.village_id is None and filters.grid_node_id is None:
        filters.village_id, filters.grid_node_id = default_scope(actor)
    if filters.grid_node_id is not None:
        node = tenant_get(GridNode, filters.grid_node_id)
        if node is None or (filters.village_id is not None and node.village_id != filters.village_id):
            raise NotFound.field("grid", _("No such grid node in this township."))
        ancestors = set(node.ancestor_ids())
        scope = Scope(GRID, node.id, node.name, node.village_id, node,
                      {"grid_node": ancestors, "village": {node.village_id} if node.village_id else set()})
    elif filters.village_id is not None:
        village = tenant_get(Village, filters.village_id)
        if village is None:
            raise NotFound.field("village", _("No such village in this township."))
        scope = Scope(VILLAGE, village.id, village.name, village.id, path={"village": {village.id}})
    else:
        scope = Scope(TOWNSHIP, current_tenant_id())
    authorize(actor, ACTION, scope)
    return scope


def _month_rows(scope: Scope, start: date, end: date, category_items: set | None) -> dict:
    """{month: measures (+participants)} of the scope from the facts: the all-flows row, or the sum
    of the category's item rows when a category is chosen."""
    query = select(MonthFact).where(MonthFact.scope_id == scope.id, MonthFact.month >= start, MonthFact.month < end)
    if category_items is None:
        query = query.where(MonthFact.item_id == NO_ID)
    else:
        query = query.where(MonthFact.item_id.in_(category_items or [NO_ID]))
    if scope.kind != TOWNSHIP:
        query = query.where(MonthFact.scope_kind == scope.kind)
    out: dict = {}
    for row in db.session.execute(query).scalars():
        got = out.setdefault(row.month, dict.fromkeys((*MEASURES, "participants"), 0))
        for k in MEASURES:
            got[k] += getattr(row, k)
        got["participants"] += row.participants
    return out


def _live(scope: Scope, category_items: set | None, through) -> dict:
    """{month: measures} written since the last build (`through`: its newest transaction), in the
    scope (and category)."""
    where, params = "", {}
    if scope.kind == VILLAGE:
        where, params = "AND h.village_id = :scope_id", {"scope_id": scope.id}
    elif scope.kind == GRID:
        where, params = ("AND h.grid_node_id IN (SELECT id FROM grid_nodes WHERE tenant_id = :tenant_id "
                         "AND path LIKE :prefix)"), {"prefix": f"{scope.node.path}%"}
    out: dict = {}
    for row in facts.live_day_facts(where, params, through):
        if category_items is not None and row["item_id"] not in category_items:
            continue
        got = out.setdefault(row["day"].replace(day=1), dict.fromkeys(MEASURES, 0))
        for k in MEASURES:
            got[k] += int(row[k] or 0)
    return out


def _category_items(category_id) -> set | None:
    if category_id is None:
        return None
    if tenant_get(RuleCategory, category_id) is None:
        raise NotFound.field("category", _("No such rule category in this township."))
    return set(db.session.execute(select(RuleItem.id).where(RuleItem.category_id == category_id)).scalars())


@dataclass
class Dashboard:
    scope: Scope
    filters: Filters
    months: list  # 12 dicts: month, measures, participants, households, participation
    current: dict  # the chosen month's figures, with the change from the month before
    year: dict  # year to date
    coverage: dict
    children: list  # the scope's villages or grid nodes, ranked
    categories: list
    top_items: list
    histogram: list
    work: dict
    store: dict
    rewards: dict
    built_on: date | None
    villages: list  # filter choices
    nodes: list
    category_choices: list


@action(ACTION)
def dashboard(actor: Actor, raw_filters) -> Dashboard:
    filters = parse_filters(raw_filters)
    scope = scope_of(actor, filters)
    items = _category_items(filters.category_id)
    start, end = date(filters.period, 1, 1), date(filters.period + 1, 1, 1)
    state = db.session.execute(select(FactsState.built_on, FactsState.counted_through)).one_or_none()
    built_on, through = state if state is not None else (None, None)
    rows = _month_rows(scope, start, end, items)
    for month, live in _live(scope, items, through).items():
        if start <= month < end:
            got = rows.setdefault(month, dict.fromkeys((*MEASURES, "participants"), 0))
            for k in MEASURES:
                got[k] += live[k]
    coverage = _coverage(scope)
    households = coverage["now"]["households"] if coverage["now"] else 0
    months = []
    for m in range(1, 13):
        month = date(filters.period, m, 1)
        got = rows.get(month, dict.fromkeys((*MEASURES, "participants"), 0))
        months.append({"month": month, **got, "households": households,
                       "participation": _pct(got["participants"], households)})
    index = filters.month.month - 1
    current = dict(months[index])
    before = months[index - 1] if index > 0 else None
    current["change"] = {k: current[k] - before[k] for k in (*MEASURES, "participants")} if before else None
    current["deduction_ratio"] = _pct(current["deducted"], current["issued"])
    year = {k: sum(m[k] for m in months[:index + 1]) for k in MEASURES}
    year["deduction_ratio"] = _pct(year["deducted"], year["issued"])
    item_rows = _item_rows(scope, start, filters.month, next_month(filters.month))
    rule_items = _items_by_id(item_rows)
    categories = db.session.execute(select(RuleCategory).order_by(RuleCategory.sort_order)).scalars().all()
    en = str(get_locale()) == "en"
    return Dashboard(
        scope=scope, filters=filters, months=months, current=current, year=year, coverage=coverage,
        children=_children(scope, filters), categories=_categories(item_rows, rule_items, categories),
        top_items=_top_items(item_rows, rule_items, items), histogram=_histogram(scope, filters.period),
        work=_work(scope), store=_store(scope, filters), rewards=_rewards(scope, filters.period),
        built_on=built_on, villages=_reachable_villages(actor), nodes=_nodes(actor, filters),
        category_choices=[(c.id, c.name_en if en and c.name_en else c.name_zh) for c in categories])


@dataclass
class Ranking:
    scope: Scope
    filters: Filters
    children: list  # as Dashboard.children


@action(ACTION)
def ranking(actor: Actor, raw_filters) -> Ranking:
    """The dashboard's ranked villages or grids alone (its full-list page)."""
    filters = parse_filters(raw_filters)
    scope = scope_of(actor, filters)
    return Ranking(scope=scope, filters=filters, children=_children(scope, filters))


def _pct(part, whole) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _coverage(scope: Scope) -> dict:
    """Tonight's coverage facts of the scope and those of a month before (the month's change): the
    newest row, and the newest at least `CHANGE_DAYS` older (a night may have been missed)."""
    query = select(CoverageFact).where(CoverageFact.scope_id == scope.id).order_by(CoverageFact.day.desc()).limit(1)
    if scope.kind != TOWNSHIP:
        query = query.where(CoverageFact.scope_kind == scope.kind)
    now = db.session.execute(query).scalar()
    earlier = db.session.execute(query.where(CoverageFact.day <= now.day - timedelta(days=CHANGE_DAYS))
                                 ).scalar() if now else None

    def figures(r):
        if r is None:
            return None
        return {"day": r.day, "households": r.households, "with_account": r.with_account, "signed": r.signed,
                "grid_workers": r.grid_workers, "account_pct": _pct(r.with_account, r.households),
                "signed_pct": _pct(r.signed, r.households)}
    return {"now": figures(now), "before": figures(earlier)}


def _children(scope: Scope, filters: Filters) -> list:
    """The villages of the township, or the grid nodes one level below the scope, ranked by the
    month's participation rate, with its change from the month before and tonight's coverage."""
    if scope.kind == TOWNSHIP:
        kind, names = VILLAGE, dict(db.session.execute(select(Village.id, Village.name)).all())
    else:
        nodes = db.session.execute(select(GridNode.id, GridNode.name, GridNode.parent_id).where(
            GridNode.retired_at.is_(None), (GridNode.parent_id == scope.node.id) if scope.node is not None
            else (GridNode.village_id == scope.id))).all()
        if scope.node is None:  # a village's top nodes: their parent is above the village, or none
            inside = {n.id for n in nodes}
            nodes = [n for n in nodes if n.parent_id not in inside]
        kind, names = GRID, {n.id: n.name for n in nodes}
    if not names:
        return []
    month, previous = filters.month, previous_month(filters.month)
    facts_of = {}
    for r in db.session.execute(select(MonthFact.scope_id, MonthFact.month, MonthFact.participants, MonthFact.issued,
                                       MonthFact.deducted, MonthFact.redeemed).where(
            MonthFact.scope_kind == kind, MonthFact.scope_id.in_(list(names)), MonthFact.item_id == NO_ID,
            MonthFact.month.in_([month, previous]))):
        facts_of[(r.scope_id, r.month)] = r
    coverage = {r.scope_id: r for r in db.session.execute(select(
        CoverageFact.scope_id, CoverageFact.households, CoverageFact.with_account, CoverageFact.signed).where(
        CoverageFact.scope_kind == kind, CoverageFact.scope_id.in_(list(names)),
        CoverageFact.day == select(func.max(CoverageFact.day)).scalar_subquery()))}
    out = []
    for scope_id, name in names.items():
        now, then = facts_of.get((scope_id, month)), facts_of.get((scope_id, previous))
        cov = coverage.get(scope_id)
        n = cov.households if cov else 0
        rate = _pct(now.participants if now else 0, n)
        before = _pct(then.participants if then else 0, n)
        out.append({"id": scope_id, "kind": kind, "name": name, "households": n,
                    "account_pct": _pct(cov.with_account, n) if cov else None,
                    "signed_pct": _pct(cov.signed, n) if cov else None,
                    "participants": now.participants if now else 0, "participation": rate,
                    "change": None if rate is None or before is None else round(rate - before, 1),
                    "issued": now.issued if now else 0, "deducted": now.deducted if now else 0,
                    "redeemed": now.redeemed if now else 0})
    out = sort_by_pinyin(out, key=lambda r: r["name"])
    out.sort(key=lambda r: -(r["participation"] or 0))
    for rank, row in enumerate(out, start=1):
        row["rank"] = rank
    return out


def _item_rows(scope: Scope, year_start: date, month: date, end: date) -> dict:
    """{item id: {"year": measures from `year_start`, "month": measures from `month`}} up to `end`,
    in one pass over the scope's item rows."""
    in_month = MonthFact.month >= month
    query = select(MonthFact.item_id, *[func.sum(getattr(MonthFact, k)) for k in MEASURES],
                   *[func.sum(getattr(MonthFact, k)).filter(in_month) for k in MEASURES]).where(
        MonthFact.scope_id == scope.id, MonthFact.item_id != NO_ID, MonthFact.month >= year_start,
        MonthFact.month < end).group_by(MonthFact.item_id)
    if scope.kind != TOWNSHIP:
        query = query.where(MonthFact.scope_kind == scope.kind)
    n = len(MEASURES)
    return {row[0]: {"year": dict(zip(MEASURES, (int(x or 0) for x in row[1:1 + n]), strict=True)),
                     "month": dict(zip(MEASURES, (int(x or 0) for x in row[1 + n:]), strict=True))}
            for row in db.session.execute(query)}


def _items_by_id(ids) -> dict:
    return {i.id: i for i in db.session.execute(select(RuleItem).where(RuleItem.id.in_(list(ids) or [NO_ID])))
            .scalars()}


def _categories(rows: dict, items: dict, categories: list) -> list:
    """Points issued and deducted by rule category, the chosen month and the year to date (from
    the item rows of each)."""
    categories = {c.id: c for c in categories}
    en = str(get_locale()) == "en"
    out: dict = {}
    for item_id, both in rows.items():
        sums, month = both["year"], both["month"]
        item = items.get(item_id)
        if item is None:
            continue
        cat = categories.get(item.category_id)
        row = out.setdefault(item.category_id, {"id": item.category_id, "name": (
            cat.name_en if en and cat and cat.name_en else cat.name_zh if cat else "?"),
            "sort": cat.sort_order if cat else 0, "issued": 0, "deducted": 0, "year_issued": 0, "year_deducted": 0})
        row["year_issued"] += sums["issued"]
        row["year_deducted"] += sums["deducted"]
        row["issued"] += month["issued"]
        row["deducted"] += month["deducted"]
    return sorted(out.values(), key=lambda r: (r["sort"], r["name"]))


def _top_items(rows: dict, items: dict, category_items: set | None) -> list:
    """The rule items that moved the most points this year to date (issued + deducted)."""
    rows = {k: v["year"] for k, v in rows.items() if category_items is None or k in category_items}
    en = str(get_locale()) == "en"
    ranked = sorted(rows.items(), key=lambda kv: -(kv[1]["issued"] + kv[1]["deducted"]))[:TOP_ITEMS]
    return [{"id": k, "code": items[k].code if k in items else "",
             "title": (items[k].title_en if en and items[k].title_en else items[k].title_zh) if k in items else "?",
             **v} for k, v in ranked]


def _histogram(scope: Scope, period: int) -> list:
    query = select(PointsHistogram).where(PointsHistogram.scope_id == scope.id, PointsHistogram.period == period)
    if scope.kind != TOWNSHIP:
        query = query.where(PointsHistogram.scope_kind == scope.kind)
    return [{"from": r.bucket, "to": r.bucket + r.width - 1, "households": r.households}
            for r in db.session.execute(query.order_by(PointsHistogram.bucket)).scalars()]


def _scope_where(scope: Scope, village_column, household_column=None):
    """SQL condition keeping a table's rows inside the scope (by its village, or for a grid node
    by its household's micro node)."""
    if scope.kind == TOWNSHIP:
        return None
    if scope.kind == VILLAGE or household_column is None:
        return village_column == scope.village_id
    return household_column.in_(select(Household.id).where(Household.grid_node_id.in_(subtree_of([scope.id]))))


def _work(scope: Scope) -> dict:
    """Applications waiting at each step (verification, the panel, publication, on notice), their
    ages in days (oldest, median), the overdue ones, and objections (open, response time)."""
    now = clock.now()
    steps = (((SUBMITTED,), "verify"), ((VERIFIED,), "certify"), ((CERTIFIED,), "publish"),
             ((ON_NOTICE, OBJECTED), "notice"))
    out = {}
    condition = _scope_where(scope, Application.village_id, Application.household_id)
    query = select(Application.state, Application.updated_at).where(
        Application.state.in_([s for states, _key in steps for s in states]))
    if condition is not None:
        query = query.where(condition)
    waiting: dict = {}
    for state, updated_at in db.session.execute(query):
        waiting.setdefault(state, []).append(max((now - updated_at).days, 0))
    for states, key in steps:
        ages = sorted(age for s in states for age in waiting.get(s, ()))
        out[key] = {"count": len(ages), "oldest": ages[-1] if ages else None,
                    "median": statistics.median(ages) if ages else None,
                    "overdue": sum(1 for a in ages if a > OVERDUE_DAYS), "states": states}
    objections = select(Objection.status, Objection.created_at, Objection.decided_at).join(
        Application, and_(Application.id == Objection.application_id))
    if condition is not None:
        objections = objections.where(condition)
    open_ages, answered = [], []
    for status, created, decided in db.session.execute(objections):
        if status == Objection.OPEN:
            open_ages.append(max((now - created).days, 0))
        elif decided is not None:
            answered.append((decided - created).total_seconds() / 86400)
    out["objections"] = {"open": len(open_ages), "oldest": max(open_ages) if open_ages else None,
                         "overdue": sum(1 for a in open_ages if a > OVERDUE_DAYS),
                         "response_days": round(statistics.median(answered), 1) if answered else None}
    out["overdue_days"] = OVERDUE_DAYS
    return out


def _store(scope: Scope, filters: Filters) -> dict:
    """The month's handed-over orders and redemptions by item, stock value at cost (None before the
    first coverage night), and items running low, over the stores in the scope (the township's: all
    of them; a village's or grid node's: its village's)."""
    in_scope = (Store.village_id == scope.village_id) if scope.kind != TOWNSHIP else None
    start, end = clock.local_moment(filters.month, time.min), clock.local_moment(next_month(filters.month), time.min)
    closed = and_(Order.state == ORDER_HANDED_OVER, Order.closed_at >= start, Order.closed_at < end,
                  *([Order.store_id.in_(select(Store.id).where(in_scope))] if in_scope is not None else []))
    orders = db.session.execute(select(func.count(), func.coalesce(func.sum(Order.total_points), 0))
                                .where(closed)).one()
    en = str(get_locale()) == "en"
    by_item = [{"name": (name_en if en and name_en else name), "quantity": int(q), "points": int(p)}
               for name, name_en, q, p in db.session.execute(
                   select(OrderLine.item_name, OrderLine.item_name_en, func.sum(OrderLine.quantity),
                          func.sum(OrderLine.quantity * OrderLine.unit_points))
                   .join(Order, Order.id == OrderLine.order_id).where(closed)
                   .group_by(OrderLine.item_name, OrderLine.item_name_en)
                   .order_by(func.sum(OrderLine.quantity * OrderLine.unit_points).desc()))]
    low = [{"store": store.name, "item": item.name_en if en and item.name_en else item.name, "quantity": level.quantity}
           for level, item, store in db.session.execute(
               select(StockLevel, CatalogItem, Store).join(CatalogItem, CatalogItem.id == StockLevel.catalog_item_id)
               .join(Store, Store.id == StockLevel.store_id).where(
                   *([in_scope] if in_scope is not None else []), CatalogItem.active.is_(True),
                   StockLevel.quantity <= LOW_STOCK))]
    # stock at cost is the fund coverage's figure of the night (one rule: funds/coverage.py)
    village = FundCoverage.village_id.is_(None) if scope.kind == TOWNSHIP else FundCoverage.village_id == scope.village_id
    value_fen = db.session.execute(select(FundCoverage.stock_cost_fen).where(village)
                                   .order_by(FundCoverage.taken_on.desc()).limit(1)).scalar()
    return {"orders": int(orders[0]), "points": int(orders[1]), "by_item": by_item, "stock_value_fen": value_fen,
            "low": sort_by_pinyin(low, key=lambda r: r["item"]), "low_stock": LOW_STOCK}


def _rewards(scope: Scope, period: int) -> dict:
    """Dividends paid in the period (pools, amount, households reached), the star distribution and
    honour titles confirmed."""
    runs = select(DividendRun).where(DividendRun.period == period, DividendRun.state == PAID)
    stars = select(StarRating.stars, func.count()).where(StarRating.period == period).group_by(StarRating.stars)
    titles = select(HonourTitle.name_zh, HonourTitle.name_en, func.count()).join(
        HonourCandidate, HonourCandidate.title_id == HonourTitle.id).where(
        HonourCandidate.period == period, HonourCandidate.status == CONFIRMED).group_by(
        HonourTitle.name_zh, HonourTitle.name_en)
    if scope.kind != TOWNSHIP:
        runs = runs.where(DividendRun.village_id == scope.village_id)
        stars = stars.where(StarRating.village_id == scope.village_id)
        titles = titles.where(HonourCandidate.village_id == scope.village_id)
    paid = db.session.execute(runs).scalars().all()
    en = str(get_locale()) == "en"
    return {"pools": len({r.pool_id for r in paid}), "paid_fen": sum(r.total_fen or r.amount_fen for r in paid),
            "households": sum(r.households for r in paid),
            "stars": sorted(((int(s), int(n)) for s, n in db.session.execute(stars)), reverse=True),
            "titles": [(en and name_en or name, int(n)) for name, name_en, n in db.session.execute(titles)]}


def _reachable_villages(actor: Actor) -> list:
    condition = reach.where(actor, ACTION, Village)
    query = select(Village.id, Village.name).order_by(Village.sort_order)
    if condition is not None:
        query = query.where(condition)
    return [tuple(row) for row in db.session.execute(query)]


def _nodes(actor: Actor, filters: Filters) -> list:
    """Grid nodes to filter by: those of the chosen village the actor reaches, by level."""
    if filters.village_id is None:
        return []
    query = select(GridNode.id, GridNode.level, GridNode.name, GridNode.path).where(
        GridNode.village_id == filters.village_id, GridNode.retired_at.is_(None))
    condition = reach.where(actor, ACTION, GridNode)
    nodes = db.session.execute(query.order_by(GridNode.level, GridNode.sort_order)).all()
    if condition is not None:
        allowed = set(db.session.execute(select(GridNode.id).where(condition)).scalars())
        nodes = [n for n in nodes if allowed.intersection(uuid.UUID(p) for p in n.path.strip("/").split("/") if p)]
    return [(n.id, n.level, n.name) for n in nodes]
