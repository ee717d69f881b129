"""The nightly ranking: dated snapshots of every active household's rank by earned points, within
its village, each grid node above it (every level) and the township; and the reads the pages,
the API and the household home panel make of them.

Writing a snapshot (`take_snapshot`) is one `INSERT … SELECT` with `RANK() OVER (PARTITION BY …)`
per scope, run inside the database over the whole township: no household row passes through
Python. It works on PostgreSQL and SQLite (window functions since 3.25). Ties rank equal (RANK:
1, 2, 2, 4).

Movement (↑3, ↓1, new) is read with the page: the rows shown are looked up in the snapshot's
previous one (the latest earlier snapshot still kept, of the same period) by the key, a few
dozen rows. Filling previous ranks in the nightly statement instead cost a join of two
million-row sets every night (measured ~20 % of the job; bench/README.md).

Rerunning a day replaces that day's snapshot (same result); the retention policy (`RETENTION`
below) runs in the same transaction.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, DateTime, Integer, String, Uuid, and_, bindparam, delete, func, or_, select, text, tuple_

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.input import Day, Period, value
from jifen.platform.paging import Page
from jifen.platform.retention import register_retention
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.roles.registry import VILLAGER, register_scope_path, register_scope_where
from jifen.platform.tenancy import current_tenant, current_tenant_id, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.households.rules import mask_name
from jifen.tenants.points.ledger import period_of
from jifen.tenants.rankings.models import SCOPES, RankingEntry, RankingSnapshot
from jifen.tenants.store.models import Store
from jifen.tenants.villages.models import GridNode, Village
from jifen.tenants.villages.scopes import branch_sql, grid_node_path, village_area_path, village_area_where

ACTION = "ranking.view"
MAX_PER_PAGE = 200


# --- retention ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Retention:
    """Which snapshots are kept, decided each night after the new one is written:

    * every snapshot of the last `daily_days` days (this night's included), for day-by-day movement;
    * the last snapshot of each calendar month, for ever (a month's closing ranking);
    * the last snapshot of each period, for ever (so a year's ranking stays viewable after the
      period is closed; with calendar-year periods it is also December's last).
    Everything else is deleted. A township of 20,000 households keeps about 12 + 7 snapshots a year
    at ~0.25 kB per household each (table and key): ~95 MB a year.
    """

    daily_days: int = 7

    def keep(self, dates: list[date], periods: dict[date, int], today: date) -> set[date]:
        keep = {d for d in dates if d > today - timedelta(days=self.daily_days)}
        last_of: dict = {}
        for d in dates:
            for key in (("month", d.year, d.month), ("period", periods[d])):
                if d > last_of.get(key, date.min):
                    last_of[key] = d
        return keep | set(last_of.values())


RETENTION = Retention()
register_retention("ranking_snapshots", _l("Ranking snapshots"), lambda: _(
    "Every night's ranking is kept %(days)d days; the last of each month and of each period are kept for ever.",
    days=RETENTION.daily_days))


# --- writing a snapshot --------------------------------------------------------------------------

def _rank(scope: str) -> str:
    """The window of a scope. A grid level is partitioned by its node *and the nodes above it*:
    the same partitions (a node has one parent), but the four grid windows then sort by
    (grid1, grid2, grid3, grid4, earned), (grid1, grid2, grid3, earned), … : each one's rows are
    already grouped by the last one's prefix, so the database sorts once and then only within
    groups (an incremental sort) instead of sorting every household four times."""
    if scope == "township":
        return "RANK() OVER (ORDER BY earned DESC)"
    if scope == "village":
        partition = "village_id"
    else:
        partition = ", ".join(f"grid{k}" for k in range(1, int(scope[-1]) + 1))
    ranked = f"RANK() OVER (PARTITION BY {partition} ORDER BY earned DESC)"
    return ranked if scope == "village" else f"CASE WHEN {scope} IS NULL THEN NULL ELSE {ranked} END"


def _earned_source(as_of: bool) -> str:
    """Earned points of the period per household: the cached balances (the nightly job), or, to
    backfill a past date, the ledger's transactions recorded before `:as_of`."""
    if not as_of:
        return ("SELECT household_id, earned FROM household_balances "
                "WHERE tenant_id = :tenant_id AND period = :period")
    return ("SELECT household_id, SUM(points) AS earned FROM ledger_transactions "
            "WHERE tenant_id = :tenant_id AND period = :period AND created_at < :as_of GROUP BY household_id")


# on PostgreSQL, for the job's transaction only: JIT compiling this one big statement costs seconds
# and saves nothing (the work is sorting); the benchmark runs the bare statement with the same
PG_SETTINGS = {"jit": "off"}


def rank_sql(as_of: bool = False) -> str:
    """The one statement that writes a snapshot. Raw SQL, reviewed: every table read is filtered
    by `:tenant_id` and every row written carries it (the session guard cannot see inside text).

    Rows come out of the last window (the village's, a level of its own: PostgreSQL would otherwise
    put the township's last) in village and rank order and are written in the primary key's
    order (village_id, rank_village, household_id), so the key's index is appended to, not updated
    at random, and each village's rows lie together."""
    ranks = ",\n           ".join(f"{_rank(s)} AS rank_{s}" for s in SCOPES if s != "village")
    columns = ("household_id, village_id, grid1, grid2, grid3, grid4, earned, "
               + ", ".join(f"rank_{s}" for s in SCOPES))
    return f"""
WITH branch AS (
    {branch_sql()}
),
base AS (
    SELECT h.id AS household_id, h.village_id, b.grid1, b.grid2, b.grid3, b.grid4,
           COALESCE(e.earned, 0) AS earned
    FROM households h
    LEFT JOIN ({_earned_source(as_of)}) e ON e.household_id = h.id
    LEFT JOIN branch b ON b.node_id = h.grid_node_id
    WHERE h.tenant_id = :tenant_id AND h.status = :active
),
ranked_elsewhere AS (
    SELECT base.*,
           {ranks}
    FROM base
),
ranked AS (  -- the village's window on its own level, so that it is the last sort
    SELECT ranked_elsewhere.*, {_rank("village")} AS rank_village
    FROM ranked_elsewhere
)
INSERT INTO ranking_entries (tenant_id, taken_on, {columns})
SELECT :tenant_id, :taken_on, {columns}
FROM ranked
ORDER BY village_id, rank_village, household_id
"""


def _params(tenant_id, day: date, period: int, as_of: datetime | None) -> list:
    params = [bindparam("tenant_id", tenant_id, type_=Uuid()), bindparam("taken_on", day, type_=Date()),
              bindparam("period", period, type_=Integer()), bindparam("active", ACTIVE, type_=String())]
    if as_of is not None:
        params.append(bindparam("as_of", as_of, type_=DateTime(timezone=True)))
    return params


def _lock_snapshots(tenant_id) -> None:
    """One snapshot writer per township at a time (PostgreSQL: a transaction-level advisory lock;
    SQLite serializes writers anyway). Two runs of the same night at once (`run-job --force` twice,
    or the beat's run and a forced one) each deleted the day's rows before the other had committed
    its own, then both inserted them: the second crashed on the entries' key. Now the second waits
    for the first's commit, then replaces its snapshot with the same result. The lock is per
    township, not per day, because retention also deletes and relinks the township's other days."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                           {"key": f"ranking-snapshot:{tenant_id}"})


def take_snapshot(day: date, *, as_of: datetime | None = None) -> dict:
    """Rank the current township's active households for `day` (the job's local date) and apply
    the retention policy; replaces an existing snapshot of `day`. Does not commit (the job's
    runner commits it with the job's own row, so it all lands or none of it).

    `as_of`: rank by the ledger as it stood at that moment instead of the cached balances (to
    backfill a past night; the demo uses it)."""
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise RuntimeError("take_snapshot needs a tenant in scope")
    period = period_of(day)
    _lock_snapshots(tenant_id)
    db.session.execute(delete(RankingEntry).where(RankingEntry.taken_on == day))
    db.session.execute(delete(RankingSnapshot).where(RankingSnapshot.taken_on == day))
    statement = text(rank_sql(as_of is not None)).bindparams(*_params(tenant_id, day, period, as_of))
    if db.session.get_bind().dialect.name == "postgresql":
        for name, value in PG_SETTINGS.items():
            db.session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    ranked = db.session.execute(statement).rowcount
    if ranked is None or ranked < 0:  # SQLite reports no count for WITH … INSERT
        ranked = db.session.execute(select(func.count()).select_from(RankingEntry)
                                    .where(RankingEntry.taken_on == day)).scalar_one()
    db.session.add(RankingSnapshot(taken_on=day, period=period, households=ranked))
    db.session.flush()
    removed = apply_retention(day)
    previous_on = db.session.execute(select(RankingSnapshot.previous_on).where(
        RankingSnapshot.taken_on == day)).scalar_one()
    return {"taken_on": day.isoformat(), "period": period, "households": ranked,
            "previous_on": previous_on.isoformat() if previous_on else None, "removed": [d.isoformat() for d in removed]}


def apply_retention(today: date) -> list[date]:
    """Delete the snapshots `RETENTION` does not keep (entries first; both tenant-filtered), then
    point each snapshot left at the one before it still kept, of its period (its movement's basis:
    yesterday's for recent nights, the previous month's last for an archived month-end)."""
    snapshots = db.session.execute(select(RankingSnapshot).order_by(RankingSnapshot.taken_on)).scalars().all()
    periods = {s.taken_on: s.period for s in snapshots}
    doomed = sorted(set(periods) - RETENTION.keep(list(periods), periods, today))
    if doomed:
        db.session.execute(delete(RankingEntry).where(RankingEntry.taken_on.in_(doomed)))
        db.session.execute(delete(RankingSnapshot).where(RankingSnapshot.taken_on.in_(doomed)))
    last: dict = {}
    for snap in snapshots:
        if snap.taken_on in doomed:
            continue
        if snap.previous_on != last.get(snap.period):
            snap.previous_on = last.get(snap.period)
        last[snap.period] = snap.taken_on
    db.session.flush()
    return doomed


# --- what a ranking is of, and who may see it ----------------------------------------------------

TOWNSHIP, VILLAGE, GRID = "township", "village", "grid"


@dataclass
class Target:
    """The scope a ranking is of (the township, a village or a grid node), as `authorize` sees it:
    `path` says which scope objects contain it. For a village it holds the asking villager's own
    households in that village, so a villager reaches the ranking of their own village only. It is
    read (by `read_path`) only when a check needs it: a reader whose grants are not scoped never
    does, and a village's path is its 121 grid nodes and its stores."""

    kind: str
    id: uuid.UUID | None = None
    name: str = ""
    level: int | None = None  # grid nodes
    node: GridNode | None = None
    village: Village | None = None
    read_path: Callable[[], dict] = dict
    _path: dict | None = field(default=None, repr=False)

    @property
    def path(self) -> dict:
        if self._path is None:
            self._path = self.read_path()
        return self._path

    @property
    def column(self) -> str:
        """The scope's column suffix in RankingEntry (rank_<column>)."""
        return {TOWNSHIP: "township", VILLAGE: "village"}.get(self.kind) or f"grid{self.level}"


@dataclass
class VillageTarget(Target):
    """A village's ranking: it belongs to the whole village (see `village_target`)."""


def village_target_where(column) -> dict:
    """A village target's path as SQL on a village-id column (the villages whose ranking one may open)."""
    return village_area_where(column) | {
        "store": lambda ids: column.in_(select(Store.village_id).where(Store.id.in_(list(ids)))),
        "household": lambda ids: column.in_(select(Household.village_id).where(Household.id.in_(list(ids))))}


register_scope_path(Target, lambda target: target.path)
register_scope_where(VillageTarget, village_target_where(Village.id))


def _own_households(actor: Actor) -> set:
    """The households a villager's grants name, shown as "my household" (empty for everyone else)."""
    return {i for grant in actor.grants if grant.role == VILLAGER for i in grant.scope_ids}


def township_target(actor: Actor) -> Target:
    tenant = current_tenant()
    return Target(TOWNSHIP, None, tenant.name if tenant else "", read_path=lambda: {"store": set(
        db.session.execute(select(Store.id).where(Store.village_id.is_(None))).scalars())})


def village_target(actor: Actor, village_id) -> Target:
    """The village's staff and grid workers reach it, its stores' keepers, and the villagers of its
    households (so a villager reaches the ranking of their own village only). The path names only
    `actor`'s own households among those (a villager's grant is checked against it): a village
    of thousands would otherwise load every household id on every ranking page."""
    village = tenant_get_or_404(Village, village_id)
    own = _own_households(actor)

    def read_path() -> dict:
        path = village_area_path(village.id)
        path["store"] = set(db.session.execute(select(Store.id).where(Store.village_id == village.id)).scalars())
        path["household"] = set(db.session.execute(select(Household.id).where(
            Household.village_id == village.id, Household.id.in_(list(own)))).scalars()) if own else set()
        return path
    return VillageTarget(VILLAGE, village.id, village.name, village=village, read_path=read_path)


def grid_target(actor: Actor, node_id) -> Target:
    node = tenant_get_or_404(GridNode, node_id)
    village = tenant_get(Village, node.village_id) if node.village_id else None
    return Target(GRID, node.id, node.name, level=node.level, node=node, village=village,
                  read_path=lambda: grid_node_path(node))


def names_visible(actor: Actor, target) -> bool:
    """Staff reaching the target see full names; a villager (whose only way in is their own
    household) sees other households' names masked, like on public notices."""
    return may(actor, "ranking.full_names", target)


# --- choosing a snapshot -----------------------------------------------------------------------

def parse_period(raw) -> int | None:
    return value(Period(), raw, "period")


def parse_day(raw) -> date | None:
    return value(Day(), raw, "date")


def pick_snapshot(day: date | None = None, period: int | None = None) -> RankingSnapshot | None:
    """The last snapshot taken on or before `day` (if given) within `period` (if given); with
    neither, the latest of all. Never one dated after today (left by a run dated ahead, which
    `run-job` now refuses): it would stand as the current ranking."""
    today = clock.today()
    day = today if day is None else min(day, today)
    query = select(RankingSnapshot).order_by(RankingSnapshot.taken_on.desc()).limit(1)
    query = query.where(RankingSnapshot.taken_on <= day)
    if period is not None:
        query = query.where(RankingSnapshot.period == period)
    return db.session.execute(query).scalar_one_or_none()


@action(ACTION)
def list_snapshots(actor: Actor, period: int | None = None) -> list[RankingSnapshot]:
    query = select(RankingSnapshot).order_by(RankingSnapshot.taken_on.desc())
    if period is not None:
        query = query.where(RankingSnapshot.period == period)
    return list(db.session.execute(query).scalars())


def periods() -> list[int]:
    """Periods with a snapshot, newest first."""
    return list(db.session.execute(select(RankingSnapshot.period).distinct()
                                   .order_by(RankingSnapshot.period.desc())).scalars())


# --- reading a ranking -------------------------------------------------------------------------

@dataclass
class Row:
    rank: int
    previous_rank: int | None
    household_id: uuid.UUID | None  # None for other households when names are masked
    head_name: str
    door_plate: str
    earned: int
    own: bool = False
    movement: int | None = None  # previous_rank - rank: > 0 went up
    is_new: bool = False  # ranked in this scope now, not in the previous snapshot
    village_id: uuid.UUID | None = None
    village_name: str = ""


@dataclass
class Ranking:
    target: Target
    snapshot: RankingSnapshot | None
    page: Page
    full_names: bool
    own: list[Row] = field(default_factory=list)  # the villager's own households' rows (also off this page)
    own_pages: dict = field(default_factory=dict)  # household id -> the page its row is on


def _movement(row: Row, snapshot: RankingSnapshot) -> Row:
    if snapshot.previous_on is not None:
        if row.previous_rank is None:
            row.is_new = True
        else:
            row.movement = row.previous_rank - row.rank
    return row


def villages_under(node: GridNode) -> list:
    """The villages of a grid node's subtree: its nodes' villages and the villages of the households
    on them (a node tied to no village, e.g. a large grid spanning villages)."""
    subtree = select(GridNode.id).where(GridNode.path.startswith(node.path, autoescape=True))
    ids = set(db.session.execute(select(GridNode.village_id).where(
        GridNode.path.startswith(node.path, autoescape=True), GridNode.village_id.is_not(None)).distinct()).scalars())
    ids |= set(db.session.execute(select(Household.village_id).where(Household.grid_node_id.in_(subtree))
                                  .distinct()).scalars())
    return sorted(ids, key=str)


def _conditions(target: Target, day: date) -> list:
    """Where the target's rows are, led by an indexed access path: the snapshot (the township, in
    key order), a village, or a grid node within its village(s) (the node's column filters it)."""
    conditions = [RankingEntry.taken_on == day]
    if target.kind == VILLAGE:
        conditions.append(RankingEntry.village_id == target.id)
    elif target.kind == GRID:
        node = target.node
        conditions.append(getattr(RankingEntry, f"grid{node.level}") == node.id)
        if node.village_id is not None:
            conditions.append(RankingEntry.village_id == node.village_id)
        else:
            conditions.append(RankingEntry.village_id.in_(villages_under(node)))
    return conditions


def _order(target: Target) -> list:
    rank = getattr(RankingEntry, f"rank_{target.column}")
    if target.kind == TOWNSHIP:  # the key's order; ties by id (sorting a million tied names by pinyin is not worth it)
        return [rank, RankingEntry.household_id]
    return [rank, Household.head_pinyin, Household.door_plate, RankingEntry.household_id]


def _page_rows(target: Target, conditions: list, offset: int, limit: int) -> list[tuple]:
    """(entry, head name, door plate) of one page. The township's page is picked from the snapshot's
    rows first and its households fetched after (a join before the offset would touch every
    skipped row).

    A village's or grid node's page reads only the ranks it shows. Ranks are RANK()s, so the rows
    ranked r stand at positions r-1 onwards of the ranking (0-based): the page's first row is
    ranked the highest rank <= offset + 1 (found in the key) and its last at most offset + limit.
    Only the rows ranked between them are joined to their households and sorted by name, not the
    whole village (3,300 rows for each page of 50, measured in bench/README.md). This holds because
    `_conditions` select whole partitions of the target's rank (a village; a grid node, whose
    households lie in its village or, tied to none, in the villages under it)."""
    if target.kind != TOWNSHIP:
        rank = getattr(RankingEntry, f"rank_{target.column}")
        first = db.session.execute(select(func.max(rank)).where(*conditions, rank <= offset + 1)).scalar()
        if first is None:
            return []
        return db.session.execute(select(RankingEntry, Household.head_name, Household.door_plate)
                                  .join(Household, Household.id == RankingEntry.household_id)
                                  .where(*conditions, rank.between(first, offset + limit))
                                  .order_by(*_order(target))
                                  .offset(offset - (first - 1)).limit(limit)).all()
    entries = db.session.execute(select(RankingEntry).where(*conditions).order_by(*_order(target))
                                 .offset(offset).limit(limit)).scalars().all()
    names = {h.id: h for h in db.session.execute(select(Household).where(
        Household.id.in_([e.household_id for e in entries]))).scalars()} if entries else {}
    return [(e, names[e.household_id].head_name if e.household_id in names else "",
             names[e.household_id].door_plate if e.household_id in names else "") for e in entries]


def entry_of(day: date, household: Household) -> RankingEntry | None:
    """The household's row in the snapshot of `day`: looked up in its village (indexed), else (it
    moved village since) anywhere in the snapshot."""
    for condition in (RankingEntry.village_id == household.village_id, None):
        query = select(RankingEntry).where(RankingEntry.taken_on == day, RankingEntry.household_id == household.id)
        found = db.session.execute(query.where(condition) if condition is not None else query).scalar_one_or_none()
        if found is not None:
            return found
    return None


def same_scope(previous: RankingEntry, entry: RankingEntry, scope: str) -> bool:
    """Did the household stand in the same `scope` in the previous snapshot (same village, same
    node of that level)? Only then is its old rank there a movement; else it is new there."""
    if scope == "township":
        return True
    column = "village_id" if scope == "village" else scope
    return getattr(entry, column) is not None and getattr(previous, column) == getattr(entry, column)


def previous_entries(snapshot: RankingSnapshot, entries: list, across_villages: bool) -> dict:
    """household id -> its row in the snapshot's previous one, for the rows on show: looked up by
    the key in the village each stood in now; with `across_villages` (the township, a grid node
    spanning villages) a household not found there (it moved village) is looked up anywhere."""
    if snapshot.previous_on is None or not entries:
        return {}
    by_village: dict = {}
    for e in entries:
        by_village.setdefault(e.village_id, set()).add(e.household_id)
    base = select(RankingEntry).where(RankingEntry.taken_on == snapshot.previous_on)
    found = {e.household_id: e for e in db.session.execute(base.where(or_(*[
        and_(RankingEntry.village_id == v, RankingEntry.household_id.in_(sorted(ids, key=str)))
        for v, ids in by_village.items()]))).scalars()}
    missing = [e.household_id for e in entries if e.household_id not in found]
    if missing and across_villages:
        found |= {e.household_id: e for e in db.session.execute(
            base.where(RankingEntry.household_id.in_(missing))).scalars()}
    return found


def _row(entry: RankingEntry, head_name: str, door_plate: str, target: Target, snapshot, full: bool, own: set,
         previous: dict) -> Row:
    mine = entry.household_id in own
    before = previous.get(entry.household_id)
    row = Row(rank=getattr(entry, f"rank_{target.column}"),
              previous_rank=getattr(before, f"rank_{target.column}") if before is not None and same_scope(
                  before, entry, target.column) else None,
              household_id=entry.household_id if (full or mine) else None,
              head_name=head_name if (full or mine) else mask_name(head_name), door_plate=door_plate,
              earned=entry.earned, own=mine, village_id=entry.village_id)
    return _movement(row, snapshot)


def _crosses_villages(target: Target) -> bool:
    return target.kind == TOWNSHIP or (target.kind == GRID and target.node.village_id is None)


def _village_names(rows: list[Row]) -> list[Row]:
    ids = {r.village_id for r in rows}
    names = dict(db.session.execute(select(Village.id, Village.name).where(Village.id.in_(list(ids)))).all()) \
        if ids else {}
    for r in rows:
        r.village_name = names.get(r.village_id, "")
    return rows


def _page_of(target: Target, snapshot: RankingSnapshot, household_id, per_page: int) -> int | None:
    """The page a household's row falls on in this ranking's order."""
    found = db.session.execute(select(RankingEntry, Household.head_pinyin, Household.door_plate)
                               .join(Household, Household.id == RankingEntry.household_id)
                               .where(*_conditions(target, snapshot.taken_on),
                                      RankingEntry.household_id == household_id)).first()
    if found is None:
        return None
    entry, pinyin, plate = found
    rank = getattr(RankingEntry, f"rank_{target.column}")
    mine = getattr(entry, f"rank_{target.column}")
    if target.kind == TOWNSHIP:
        tied_before = RankingEntry.household_id < entry.household_id
    else:
        tied_before = tuple_(Household.head_pinyin, Household.door_plate,
                             RankingEntry.household_id) < tuple_(pinyin, plate, entry.household_id)
    # mine - 1 rows are ranked above it (RANK()); of its ties, those before it in the page's order
    ahead = mine - 1 + db.session.execute(select(func.count()).select_from(RankingEntry)
                                          .join(Household, Household.id == RankingEntry.household_id)
                                          .where(*_conditions(target, snapshot.taken_on), rank == mine,
                                                 tied_before)).scalar_one()
    return ahead // per_page + 1


def _authorize(actor: Actor, target: Target) -> None:
    authorize(actor, ACTION, target)


@action(ACTION)
def ranking(actor: Actor, target: Target, *, day=None, period=None, page: int = 1, per_page: int = 50) -> Ranking:
    """One page of the target's ranking in the chosen snapshot (see `pick_snapshot`)."""
    _authorize(actor, target)
    day, period = parse_day(day), parse_period(period)
    page, per_page = max(1, int(page or 1)), min(MAX_PER_PAGE, max(1, int(per_page or 50)))
    snapshot = pick_snapshot(day, period)
    full = names_visible(actor, target)
    own = _own_households(actor)
    own = own & target.path.get("household", set()) if own and target.kind == VILLAGE else set()
    if snapshot is None:
        return Ranking(target, None, Page([], 0, page, per_page), full)
    conditions = _conditions(target, snapshot.taken_on)
    if target.kind == TOWNSHIP:
        total = snapshot.households
    else:
        total = db.session.execute(select(func.count()).select_from(RankingEntry).where(*conditions)).scalar_one()
    rows = _page_rows(target, conditions, (page - 1) * per_page, per_page)
    previous = previous_entries(snapshot, [e for e, _n, _p in rows], _crosses_villages(target))
    items = _village_names([_row(e, n, p, target, snapshot, full, own, previous) for e, n, p in rows])
    result = Ranking(target, snapshot, Page(items, total, page, per_page), full)
    for household_id in sorted(own, key=str):
        found = db.session.execute(select(RankingEntry, Household.head_name, Household.door_plate)
                                   .join(Household, Household.id == RankingEntry.household_id)
                                   .where(*conditions, RankingEntry.household_id == household_id)).first()
        if found is not None:
            previous = previous_entries(snapshot, [found[0]], _crosses_villages(target))
            result.own.append(_village_names([_row(*found, target, snapshot, full, own, previous)])[0])
            result.own_pages[household_id] = _page_of(target, snapshot, household_id, per_page)
    return result


@action(ACTION)
def township_ranking(actor: Actor, **kwargs) -> Ranking:
    return ranking(actor, township_target(actor), **kwargs)


@action(ACTION)
def village_ranking(actor: Actor, village_id, **kwargs) -> Ranking:
    return ranking(actor, village_target(actor, village_id), **kwargs)


@action(ACTION)
def grid_ranking(actor: Actor, node_id, **kwargs) -> Ranking:
    return ranking(actor, grid_target(actor, node_id), **kwargs)


# --- one household's ranks -----------------------------------------------------------------------

@dataclass
class ScopeRank:
    scope: str  # village | grid1..grid4 | township
    scope_id: uuid.UUID | None
    name: str
    level: int | None
    rank: int
    previous_rank: int | None
    of: int  # households ranked in the scope
    movement: int | None = None
    is_new: bool = False


@dataclass
class HouseholdRanks:
    household: Household
    snapshot: RankingSnapshot | None
    earned: int | None = None
    ranks: list[ScopeRank] = field(default_factory=list)

    def get(self, scope: str) -> ScopeRank | None:
        return next((r for r in self.ranks if r.scope == scope), None)


def _counts(day: date, scopes: list[tuple[str, object]], snapshot: RankingSnapshot) -> dict[str, int]:
    """How many households each (scope, id) ranks that day, in one statement: each scope's count
    is a FILTER of the rows under any of them (a page used to ask once per scope)."""
    counts, filters = {}, {}
    for scope, scope_id in scopes:
        if scope == "township":
            counts[scope] = snapshot.households
            continue
        if scope == "village":
            target = Target(VILLAGE, scope_id)
        else:
            node = tenant_get(GridNode, scope_id)
            if node is None:  # removed since: count it without an access path
                filters[scope] = [RankingEntry.taken_on == day, getattr(RankingEntry, scope) == scope_id]
                continue
            target = Target(GRID, node.id, level=node.level, node=node)
        filters[scope] = _conditions(target, day)
    if filters:
        row = db.session.execute(select(*[func.count().filter(and_(*c)) for c in filters.values()])
                                 .select_from(RankingEntry).where(or_(*[and_(*c) for c in filters.values()]))).one()
        counts |= dict(zip(filters, row, strict=True))
    return counts


@action(ACTION)
def household_ranks(actor: Actor, household_id, *, day=None, period=None) -> HouseholdRanks:
    """The household's rank in each of its scopes in the chosen snapshot, with movement."""
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, ACTION, household)
    snapshot = pick_snapshot(parse_day(day), parse_period(period))
    result = HouseholdRanks(household, snapshot)
    if snapshot is None:
        return result
    entry = entry_of(snapshot.taken_on, household)
    if entry is None:
        return result
    result.earned = entry.earned
    village = tenant_get(Village, entry.village_id)
    nodes = {n.id: n for n in db.session.execute(select(GridNode).where(GridNode.id.in_(
        [g for g in (entry.grid1, entry.grid2, entry.grid3, entry.grid4) if g is not None]))).scalars()}
    tenant = current_tenant()
    before = previous_entries(snapshot, [entry], across_villages=True).get(entry.household_id)
    counts = _counts(snapshot.taken_on, [(scope, entry.village_id if scope == "village" else getattr(entry, scope, None))
                                         for scope in SCOPES if getattr(entry, f"rank_{scope}") is not None], snapshot)
    for scope in SCOPES:
        rank = getattr(entry, f"rank_{scope}")
        if rank is None:
            continue
        if scope == "village":
            scope_id, name, level = entry.village_id, village.name if village else "", None
        elif scope == "township":
            scope_id, name, level = None, tenant.name if tenant else "", None
        else:
            scope_id = getattr(entry, scope)
            node = nodes.get(scope_id)
            name, level = (node.name if node else ""), int(scope[-1])
        previous_rank = getattr(before, f"rank_{scope}") if before is not None and same_scope(
            before, entry, scope) else None
        item = ScopeRank(scope, scope_id, name, level, rank, previous_rank,
                         counts[scope])
        if snapshot.previous_on is not None:
            item.is_new = item.previous_rank is None
            item.movement = None if item.is_new else item.previous_rank - item.rank
        result.ranks.append(item)
    return result


def own_households(actor: Actor) -> list[Household]:
    """A villager's households (for the landing redirect)."""
    own = scope_ids(actor, ACTION, "household") or set()
    if not own:
        return []
    return list(db.session.execute(select(Household).where(Household.id.in_(list(own)))
                                   .order_by(Household.id)).scalars())


def villages_in_scope(actor: Actor) -> list[Village]:
    """Villages whose ranking the actor may open, in pinyin order: the same reach as the village
    target's scope path (its village, its grid nodes, its stores, a villager's own households)."""
    from jifen.platform.pinyin import sort_by_pinyin

    query = reach.filtered(select(Village), actor, ACTION, VillageTarget)
    return sort_by_pinyin(db.session.execute(query).scalars().all(), key=lambda v: v.name)


def grid_nodes_in_scope(actor: Actor, village_id=None) -> list[GridNode]:
    """Active grid nodes whose ranking the actor may open, in tree order: of one village, or (with
    `village_id` None) those tied to no village (a large grid spanning villages, and below it)."""
    query = reach.filtered(select(GridNode), actor, ACTION, GridNode)
    query = query.where(GridNode.retired_at.is_(None)).order_by(GridNode.path)
    query = query.where(GridNode.village_id == village_id) if village_id else query.where(GridNode.village_id.is_(None))
    return list(db.session.execute(query).scalars())
