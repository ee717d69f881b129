"""Writing the cockpit's facts (models.py) from the ledger, incrementally, inside the database.

Which facts change: the ledger is append-only, so a day's facts change only when a transaction
dated that day is written. Ledger ids are time-ordered (UUIDv7, stamped with the real time of
writing, even when the clock is set back for a back-dated history), so the transactions written
since the last build are a range of the primary key: `id >= rescan_from`, where `rescan_from` is
the last build's start minus `OVERLAP`. The overlap catches a transaction whose id was taken
before that build started but which committed after it read the ledger (requests and job chunks
commit within seconds; an hour is far beyond them). Counting a transaction twice is impossible:
facts are recomputed from the ledger, never added to.

A build, for the current township:
1. finds the (day, village) pairs and (household, month) pairs of the transactions written since
   `rescan_from` (every pair on the first build);
2. recomputes those day facts and household months from the ledger (delete, then one
   `INSERT … SELECT … GROUP BY` each);
3. recomputes the month facts of the touched (month, village) pairs from the day facts and
   household months (small: one village's month), then the township's rows of those months
   from its villages' rows;
4. on the night's first build, writes tonight's coverage facts and the period's histogram (from
   the registers and the cached balances: one pass over the households each) and keeps month-end
   coverage for ever, the last 7 nights else.

Every statement is raw SQL, reviewed: each table read is filtered by `:tenant_id` and each row
written carries it. Dashboards read facts, plus the transactions written after `counted_through`
(`live_*` below: today's postings, a bounded range of the primary key).
"""
from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import Date, DateTime, Uuid, bindparam, select, text

from jifen.platform import clock
from jifen.platform.db import db, parse_uuid
from jifen.platform.tenancy import current_tenant_id
from jifen.tenants.cockpit.models import (
    GRID,
    MEASURES,
    NO_ID,
    TOWNSHIP,
    VILLAGE,
    FactsState,
    HouseholdMonth,
)
from jifen.tenants.cockpit.months import next_month
from jifen.tenants.points.ledger import period_of
from jifen.tenants.villages.models import LEVELS
from jifen.tenants.villages.scopes import branch_sql

OVERLAP = timedelta(hours=1)
CHUNK = 200  # (day, village) or (household, month) pairs per statement
COVERAGE_NIGHTS = 7
HISTOGRAM_BUCKETS = 10
ACTIVE_WORKER_DAYS = 30


def _bind(value):
    """The SQL type of a bound value (raw SQL gets no types from the ORM: SQLite needs them to store
    ids and dates as the ORM does)."""
    sample = value[0] if isinstance(value, (list, tuple)) and value else value
    if isinstance(sample, uuid.UUID):
        return Uuid()
    if isinstance(sample, datetime):
        return DateTime(timezone=True)
    if isinstance(sample, date):
        return Date()
    return None


def run(sql: str, params: dict):
    """Execute raw SQL with typed parameters; a list value is an expanding `IN :name`; `:none` is
    always `NO_ID` (a fact key's "none")."""
    used = {k: v for k, v in ({"none": NO_ID} | params).items() if re.search(rf":{k}\b", sql)}
    binds = [bindparam(k, expanding=isinstance(v, (list, tuple)), type_=_bind(v)) for k, v in used.items()]
    return db.session.execute(text(sql).bindparams(*binds), used)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _new_id() -> str:
    """SQL for a new coverage or histogram row's id (the facts keyed by their grain have none). On
    PostgreSQL time-ordered like the app's (the row's millisecond, its number in the statement,
    random bits), so the rows of one night sit together in the primary-key index."""
    if _dialect() == "postgresql":
        return ("CAST(lpad(to_hex(CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS bigint)), 12, '0')"
                " || lpad(to_hex(row_number() OVER ()), 8, '0')"
                " || substr(md5(random()::text), 1, 12) AS uuid)")
    return "lower(hex(randomblob(16)))"


def month_of(column: str) -> str:
    """SQL: the first day of the month of a date column."""
    if _dialect() == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def id_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 stamped at or after `moment` (its Unix milliseconds lead the id, so ids
    compare by time)."""
    return uuid.UUID(int=int(moment.timestamp() * 1000) << 80)


# --- what one transaction contributes --------------------------------------------------------------
# Over a transaction's postings: its household leg carries the earned change (posted items and
# corrections) and, at period close, the points carried into the next year; the township's
# REDEEMED and EXPIRED legs carry spending and expiry. Nothing else is counted.
_SUMS = """
    SUM(CASE WHEN p.account = 'household' AND t.source_kind IN ('application', 'activity') AND p.earned > 0
             THEN p.earned ELSE 0 END) AS issued,
    SUM(CASE WHEN p.account = 'household' AND t.source_kind IN ('application', 'activity') AND p.earned < 0
             THEN -p.earned ELSE 0 END) AS deducted,
    SUM(CASE WHEN p.account = 'household' AND t.source_kind = 'correction' THEN p.earned ELSE 0 END) AS corrected,
    SUM(CASE WHEN p.account = 'redeemed' THEN p.available ELSE 0 END) AS redeemed,
    SUM(CASE WHEN p.account = 'expired' THEN p.available ELSE 0 END) AS expired,
    SUM(CASE WHEN p.account = 'household' AND t.source_kind = 'period_close' AND p.period > t.period
             THEN p.available ELSE 0 END) AS carried,
    SUM(CASE WHEN p.account = 'household' AND t.source_kind IN ('application', 'activity') THEN 1 ELSE 0 END)
        AS entries"""
_FROM = """
    FROM ledger_postings p
    JOIN ledger_transactions t ON t.tenant_id = p.tenant_id AND t.id = p.transaction_id
    JOIN households h ON h.tenant_id = t.tenant_id AND h.id = t.household_id
    WHERE p.tenant_id = :tenant_id AND p.account IN ('household', 'redeemed', 'expired')"""
_COLUMNS = ", ".join(MEASURES)


def day_facts_sql(where: str = "") -> str:
    """The day facts of the transactions `where` admits (on t and h): the statement the build
    runs, and the bare `GROUP BY` the benchmark compares it with."""
    return f"""SELECT t.occurred_on AS day, h.village_id, COALESCE(h.grid_node_id, :none) AS grid_node_id,
        COALESCE(t.item_id, :none) AS item_id, {_SUMS}
    {_FROM} {where}
    GROUP BY t.occurred_on, h.village_id, COALESCE(h.grid_node_id, :none), COALESCE(t.item_id, :none)"""


def household_months_sql(where: str = "") -> str:
    month = month_of("t.occurred_on")
    return f"""SELECT t.household_id, {month} AS month, h.village_id, h.grid_node_id, {_SUMS}
    {_FROM} {where}
    GROUP BY t.household_id, {month}, h.village_id, h.grid_node_id"""


# --- the build --------------------------------------------------------------------------------------

def build(day: date, *, full: bool = False) -> dict:
    """Bring the current township's facts up to date for the night of `day` (see the module
    docstring). Does not commit: the job's runner commits it with the run, all or nothing.
    `full` recomputes everything (the first build does)."""
    tenant_id = current_tenant_id()
    started = clock.real_now()
    state = _locked_state()
    newest = run("""SELECT id FROM ledger_transactions WHERE tenant_id = :tenant_id
                     ORDER BY id DESC LIMIT 1""", {"tenant_id": tenant_id}).scalar()  # PostgreSQL has no MAX(uuid)
    rescan_from = None if full or state.counted_through is None else state.rescan_from
    if rescan_from is None:
        pairs, household_months = _rebuild_all(tenant_id)
        _analyze("cockpit_day_facts", "cockpit_household_months")
        months = _month_facts(tenant_id, None)
        _analyze("cockpit_month_facts")
    else:
        pairs, household_months = _rebuild_since(tenant_id, rescan_from)
        months = _month_facts(tenant_id, pairs)
    # the registers' counts are the night's: once per night (a build again the same night, after a
    # late correction say, rewrites only what the ledger changed)
    nightly = rescan_from is None or state.built_on != day
    coverage = _coverage(tenant_id, day) if nightly else 0
    histogram = _histogram(tenant_id, period_of(day)) if nightly else 0
    state.counted_through = _as_id(newest)
    state.rescan_from = id_floor(started - OVERLAP)
    state.built_on = day
    db.session.flush()
    return {"day_villages": len(pairs), "household_months": household_months, "months": months,
            "coverage": coverage, "histogram": histogram, "rows": len(pairs) + household_months + coverage}


def _locked_state() -> FactsState:
    """The township's build state, locked: one build at a time per township (a second waits)."""
    state = db.session.execute(select(FactsState).with_for_update()).scalar_one_or_none()
    if state is None:
        db.session.add(FactsState())
        db.session.flush()
        state = db.session.execute(select(FactsState).with_for_update()).scalar_one()
    return state


def _insert_day_facts(where: str, params: dict) -> None:
    run(f"""INSERT INTO cockpit_day_facts
        (tenant_id, day, village_id, grid_node_id, item_id, {_COLUMNS})
        SELECT :tenant_id, day, village_id, grid_node_id, item_id, {_COLUMNS}
        FROM ({day_facts_sql(where)}) f
        ORDER BY village_id, day, grid_node_id, item_id""", params)


def _insert_household_months(where: str, params: dict) -> None:
    run(f"""INSERT INTO cockpit_household_months
        (tenant_id, household_id, month, village_id, grid_node_id, {_COLUMNS})
        SELECT :tenant_id, household_id, month, village_id, grid_node_id, {_COLUMNS}
        FROM ({household_months_sql(where)}) f
        ORDER BY household_id, month""", params)


def _analyze(*tables: str) -> None:
    """After a full build the facts tables hold new rows the planner has not seen (their last
    statistics may be of empty tables): without fresh ones the next statements of this build pick
    nested loops over what they take for a handful of rows (measured in bench/README.md)."""
    if _dialect() == "postgresql":
        for table in tables:
            run(f"ANALYZE {table}", {})


def _rebuild_all(tenant_id) -> tuple[set, int]:
    params = {"tenant_id": tenant_id}
    for table in ("cockpit_day_facts", "cockpit_household_months", "cockpit_month_facts"):
        run(f"DELETE FROM {table} WHERE tenant_id = :tenant_id", params)
    _insert_day_facts("", params)
    _insert_household_months("", params)
    pairs = {(d, v) for d, v in run(
        "SELECT DISTINCT day, village_id FROM cockpit_day_facts WHERE tenant_id = :tenant_id", params)}
    count = run("SELECT COUNT(*) FROM cockpit_household_months WHERE tenant_id = :tenant_id", params).scalar_one()
    return {(_as_date(d), _as_id(v)) for d, v in pairs}, count


def _rebuild_since(tenant_id, rescan_from: uuid.UUID) -> tuple[set, int]:
    """Recompute the day facts and household months touched by transactions written since
    `rescan_from`; returns the touched (day, village) pairs and the household months rewritten."""
    rows = run("""
        SELECT DISTINCT t.occurred_on, h.village_id, t.household_id
        FROM ledger_transactions t JOIN households h ON h.tenant_id = t.tenant_id AND h.id = t.household_id
        WHERE t.tenant_id = :tenant_id AND t.id >= :since""", {"tenant_id": tenant_id, "since": rescan_from}).all()
    villages_of_day: dict = defaultdict(set)
    household_months: set = set()
    for occurred_on, village_id, household_id in rows:
        occurred_on = _as_date(occurred_on)
        villages_of_day[occurred_on].add(_as_id(village_id))
        household_months.add((_as_id(household_id), occurred_on.replace(day=1)))
    for day, villages in villages_of_day.items():
        for part in _chunks(sorted(villages, key=str)):
            params = {"tenant_id": tenant_id, "day": day, "villages": part}
            run("""DELETE FROM cockpit_day_facts WHERE tenant_id = :tenant_id AND day = :day
                   AND village_id IN :villages""", params)
            _insert_day_facts("AND t.occurred_on = :day AND h.village_id IN :villages", params)
    by_month: dict = defaultdict(set)
    for household_id, month in household_months:
        by_month[month].add(household_id)
    for month, households in by_month.items():
        end = next_month(month)
        for part in _chunks(sorted(households, key=str)):
            params = {"tenant_id": tenant_id, "month": month, "end": end, "households": part,
                      "period": month.year}
            run("""DELETE FROM cockpit_household_months WHERE tenant_id = :tenant_id
                   AND month = :month AND household_id IN :households""", params)
            _insert_household_months("AND t.household_id IN :households AND t.period = :period "
                                     "AND t.occurred_on >= :month AND t.occurred_on < :end", params)
    return set((d, v) for d, vs in villages_of_day.items() for v in vs), len(household_months)


def _month_facts(tenant_id, pairs: set | None) -> int:
    """Recompute the month facts of the villages and months in `pairs` (each village's own rows
    and its grid nodes'), then the township's rows of those months from its villages' rows; every
    month of every village when `pairs` is None (a full build: one statement per scope level over
    all months, not one per month)."""
    if pairs is None:
        _rollup(tenant_id, "", {})
        return len(run("SELECT DISTINCT month FROM cockpit_month_facts WHERE tenant_id = :tenant_id",
                       {"tenant_id": tenant_id}).all())
    villages_of_month: dict = defaultdict(set)
    for day, village_id in pairs:
        villages_of_month[day.replace(day=1)].add(village_id)
    for month, villages in villages_of_month.items():
        end = next_month(month)
        for part in _chunks(sorted(villages, key=str)):
            _rollup(tenant_id, "AND {day} >= :month AND {day} < :end AND f.village_id IN :villages",
                    {"month": month, "end": end, "villages": part})
    return len(villages_of_month)


def _rollup(tenant_id, where: str, params: dict) -> None:
    """The month facts of the day facts and household months `where` admits (`{day}` is the
    table's date column): each village's rows and its grid nodes' at every level, then the
    township's rows of the months touched, from its villages' rows."""
    params = {"tenant_id": tenant_id, "village": VILLAGE, "grid": GRID, "township": TOWNSHIP, "active": "active",
              **params}
    sums = ", ".join(f"SUM(f.{m}) AS {m}" for m in MEASURES)
    # participation is a share of the households registered now (the coverage facts' count), so a
    # household that has since moved out or merged is not counted in it (its points still are)
    participants = "SUM(CASE WHEN f.entries > 0 AND h.status = :active THEN 1 ELSE 0 END)"
    day_month, own_month = month_of("f.day"), "f.month"
    scoped = where.replace("{day}", "month")
    run(f"""DELETE FROM cockpit_month_facts WHERE tenant_id = :tenant_id AND scope_kind IN (:village, :grid)
            {scoped.replace("f.village_id", "village_id")}""", params)
    scopes = [("f.village_id", ":village", "")] + [
        (f"b.grid{k}", ":grid", f"AND b.grid{k} IS NOT NULL") for k in LEVELS]
    for scope_id, kind, extra in scopes:
        # the item rows of each scope (flows without an item are only in the total), and its
        # all-flows row (item None) with the participants
        run(f"""
            WITH branch AS ({branch_sql()})
            INSERT INTO cockpit_month_facts
                (tenant_id, month, scope_kind, scope_id, village_id, item_id, participants, {_COLUMNS})
            SELECT :tenant_id, {day_month}, {kind}, {scope_id}, f.village_id, f.item_id, 0, {sums}
            FROM cockpit_day_facts f LEFT JOIN branch b ON b.node_id = f.grid_node_id
            WHERE f.tenant_id = :tenant_id AND f.item_id <> :none {where.replace("{day}", "f.day")} {extra}
            GROUP BY {day_month}, {scope_id}, f.village_id, f.item_id
            ORDER BY {scope_id}, {day_month}""", params)
        run(f"""
            WITH branch AS ({branch_sql()})
            INSERT INTO cockpit_month_facts
                (tenant_id, month, scope_kind, scope_id, village_id, item_id, participants, {_COLUMNS})
            SELECT :tenant_id, {own_month}, {kind}, {scope_id}, f.village_id, :none, {participants}, {sums}
            FROM cockpit_household_months f LEFT JOIN branch b ON b.node_id = f.grid_node_id
            JOIN households h ON h.tenant_id = f.tenant_id AND h.id = f.household_id
            WHERE f.tenant_id = :tenant_id {where.replace("{day}", "f.month")} {extra}
            GROUP BY {own_month}, {scope_id}, f.village_id
            ORDER BY {scope_id}, {own_month}""", params)
    # the township's rows are its scope id's, its villages' rows theirs: both read by the primary key
    # (by kind, a month of every grid node's rows would be scanned: a second at 1,000,000 households)
    months = "" if not where else "AND month >= :month AND month < :end"
    run(f"DELETE FROM cockpit_month_facts WHERE tenant_id = :tenant_id AND scope_id = :tenant_id {months}", params)
    run(f"""
        INSERT INTO cockpit_month_facts
            (tenant_id, month, scope_kind, scope_id, village_id, item_id, participants, {_COLUMNS})
        SELECT :tenant_id, month, :township, :tenant_id, :none, item_id, SUM(participants),
               {", ".join(f"SUM({m}) AS {m}" for m in MEASURES)}
        FROM cockpit_month_facts
        WHERE tenant_id = :tenant_id AND scope_kind = :village {months}
          AND scope_id IN (SELECT id FROM villages WHERE tenant_id = :tenant_id)
        GROUP BY month, item_id
        ORDER BY month, item_id""", params)


# --- tonight's registers -------------------------------------------------------------------------------

def _coverage(tenant_id, day: date) -> int:
    """Tonight's coverage facts per scope (township, village, grid node at each level), replacing
    tonight's; then the retention: month-ends for ever, the last `COVERAGE_NIGHTS` nights."""
    params = {"tenant_id": tenant_id, "day": day, "active": "active", "since": clock.now() - timedelta(
        days=ACTIVE_WORKER_DAYS), "village": VILLAGE, "grid": GRID, "township": TOWNSHIP}
    run("DELETE FROM cockpit_coverage_facts WHERE tenant_id = :tenant_id AND day = :day", params)
    base = f"""WITH branch AS ({branch_sql()}),
        accounts AS (
            SELECT DISTINCT s.scope_id AS household_id FROM role_scopes s
            JOIN role_assignments a ON a.tenant_id = s.tenant_id AND a.id = s.assignment_id
            JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.user_id
            WHERE s.tenant_id = :tenant_id AND a.role = 'villager' AND s.scope_kind = 'household'
              AND u.status = 'active'),
        signed AS (
            SELECT DISTINCT c.household_id FROM commitment_signatures c WHERE c.tenant_id = :tenant_id),
        hh AS (
            SELECT h.village_id, b.grid1, b.grid2, b.grid3, b.grid4,
                   CASE WHEN a.household_id IS NULL THEN 0 ELSE 1 END AS with_account,
                   CASE WHEN s.household_id IS NULL THEN 0 ELSE 1 END AS signed
            FROM households h
            LEFT JOIN branch b ON b.node_id = h.grid_node_id
            LEFT JOIN accounts a ON a.household_id = h.id
            LEFT JOIN signed s ON s.household_id = h.id
            WHERE h.tenant_id = :tenant_id AND h.status = :active)"""
    leaf = """leaf AS (SELECT village_id, grid1, grid2, grid3, grid4, COUNT(*) AS households,
                          SUM(with_account) AS with_account, SUM(signed) AS signed
                   FROM hh GROUP BY village_id, grid1, grid2, grid3, grid4)"""
    sums = "COALESCE(SUM(l.households), 0), COALESCE(SUM(l.with_account), 0), COALESCE(SUM(l.signed), 0), 0"
    run(f"""{base}, {leaf}
        INSERT INTO cockpit_coverage_facts
            (tenant_id, id, day, scope_kind, scope_id, village_id, households, with_account, signed, grid_workers)
        {_per_scope(lambda scope, kind, village: f"SELECT :tenant_id, {_new_id()}, :day, {kind}, {scope}, {village}, {sums}")}
        """, params)
    # SQLite reports no count for WITH … INSERT: counted
    written = run("SELECT COUNT(*) FROM cockpit_coverage_facts WHERE tenant_id = :tenant_id AND day = :day",
                  params).scalar_one()
    _grid_workers(params)
    _coverage_retention(tenant_id, day)
    return written


def _grid_workers(params: dict) -> None:
    """Active grid workers (recorded or verified an application in the last 30 days) of each
    scope tonight: a worker counts in every scope their grants reach into (their nodes, the
    nodes' villages, the township)."""
    workers = f"""WITH branch AS ({branch_sql()}),
        active AS (
            SELECT DISTINCT x.user_id FROM (
                SELECT submitted_by AS user_id FROM applications
                WHERE tenant_id = :tenant_id AND created_at >= :since AND submitted_by IS NOT NULL
                UNION SELECT verified_by FROM applications
                WHERE tenant_id = :tenant_id AND verified_at >= :since AND verified_by IS NOT NULL) x),
        reach AS (
            SELECT DISTINCT a.user_id, b.grid1, b.grid2, b.grid3, b.grid4, n.village_id
            FROM role_assignments a
            JOIN role_scopes s ON s.tenant_id = a.tenant_id AND s.assignment_id = a.id
            JOIN grid_nodes n ON n.tenant_id = s.tenant_id AND n.id = s.scope_id
            JOIN branch b ON b.node_id = n.id
            JOIN active ON active.user_id = a.user_id
            WHERE a.tenant_id = :tenant_id AND a.role = 'grid_worker' AND s.scope_kind = 'grid_node')"""
    counts: dict = defaultdict(set)
    for user_id, g1, g2, g3, g4, village_id in run(f"{workers} SELECT * FROM reach", params):
        for scope in (params["tenant_id"], village_id, g1, g2, g3, g4):
            if scope is not None:
                counts[_as_id(scope)].add(user_id)
    for scope_id, users in counts.items():
        run("""UPDATE cockpit_coverage_facts SET grid_workers = :n
            WHERE tenant_id = :tenant_id AND day = :day AND scope_id = :scope_id""",
                           {**params, "n": len(users), "scope_id": scope_id})


def _coverage_retention(tenant_id, day: date) -> None:
    days = [_as_date(d) for (d,) in run(
        "SELECT DISTINCT day FROM cockpit_coverage_facts WHERE tenant_id = :tenant_id", {"tenant_id": tenant_id})]
    last_of_month: dict = {}
    for d in days:
        last_of_month[(d.year, d.month)] = max(d, last_of_month.get((d.year, d.month), d))
    keep = set(last_of_month.values()) | {d for d in days if d > day - timedelta(days=COVERAGE_NIGHTS)}
    doomed = sorted(set(days) - keep)
    for part in _chunks(doomed):
        run("DELETE FROM cockpit_coverage_facts WHERE tenant_id = :tenant_id AND day IN :days",
                           {"tenant_id": tenant_id, "days": part})


def bucket_width(top: int) -> int:
    """A round bucket width so that `HISTOGRAM_BUCKETS` buckets cover 0 … `top`: 1, 2, 5 × 10^k."""
    need = max(top, 1) / HISTOGRAM_BUCKETS
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= need:
                return step * m
        step *= 10


def _histogram(tenant_id, period: int) -> int:
    """Earned points per active household in `period`, in buckets of one width for the township
    (negative totals fall in the bucket below 0), per scope."""
    params = {"tenant_id": tenant_id, "period": period, "active": "active", "village": VILLAGE, "grid": GRID,
              "township": TOWNSHIP}
    top = run("""SELECT COALESCE(MAX(earned), 0) FROM household_balances
        WHERE tenant_id = :tenant_id AND period = :period""", params).scalar_one()
    width = bucket_width(int(top))
    params["width"] = width
    run("DELETE FROM cockpit_points_histograms WHERE tenant_id = :tenant_id AND period = :period",
                       params)
    base = f"""WITH branch AS ({branch_sql()}),
        hh AS (
            SELECT h.village_id, b.grid1, b.grid2, b.grid3, b.grid4,
                   CASE WHEN COALESCE(x.earned, 0) >= 0 THEN COALESCE(x.earned, 0) / :width * :width
                        ELSE -((-x.earned + :width - 1) / :width) * :width END AS bucket
            FROM households h
            LEFT JOIN household_balances x ON x.tenant_id = h.tenant_id AND x.household_id = h.id
                                          AND x.period = :period
            LEFT JOIN branch b ON b.node_id = h.grid_node_id
            WHERE h.tenant_id = :tenant_id AND h.status = :active)"""
    leaf = """leaf AS (SELECT village_id, grid1, grid2, grid3, grid4, bucket, COUNT(*) AS households
                   FROM hh GROUP BY village_id, grid1, grid2, grid3, grid4, bucket)"""
    run(f"""{base}, {leaf}
        INSERT INTO cockpit_points_histograms (tenant_id, id, period, scope_kind, scope_id, bucket, width, households)
        {_per_scope(lambda scope, kind, _village: f"SELECT :tenant_id, {_new_id()}, :period, {kind}, {scope}, "
                                                  f"l.bucket, :width, SUM(l.households)", by="l.bucket")}
        """, params)
    return run("SELECT COUNT(*) FROM cockpit_points_histograms WHERE tenant_id = :tenant_id AND period = :period",
               params).scalar_one()


def _per_scope(select_of, by: str = "") -> str:
    """One `SELECT … UNION ALL …` over the CTE `leaf` (households already counted per village and
    branch: one pass over the households, not one per scope level) with a group per scope: the
    township, each village, each grid node at every level (with its village, None for a node above
    villages). `select_of(scope_id, kind, village)` gives each part's select list; `by` is grouped
    on as well."""
    extra = f", {by}" if by else ""
    parts = [f"{select_of(':tenant_id', ':township', 'NULL')} FROM leaf l" + (f" GROUP BY {by}" if by else ""),
             f"{select_of('l.village_id', ':village', 'l.village_id')} FROM leaf l GROUP BY l.village_id{extra}"]
    for k in LEVELS:
        parts.append(f"{select_of(f'l.grid{k}', ':grid', 'n.village_id')} FROM leaf l "
                     f"JOIN grid_nodes n ON n.tenant_id = :tenant_id AND n.id = l.grid{k} "
                     f"GROUP BY l.grid{k}, n.village_id{extra}")
    return "\nUNION ALL\n".join(parts)


# --- reads ---------------------------------------------------------------------------------------------

def household_months(household_id, period: int) -> list[dict]:
    """A household's own points, month by month of `period` (12 rows, empty months as 0): from the
    facts, plus what was written since the last build."""
    rows = {r.month: r for r in db.session.execute(
        select(HouseholdMonth).where(HouseholdMonth.household_id == household_id,
                                     HouseholdMonth.month >= date(period, 1, 1),
                                     HouseholdMonth.month < date(period + 1, 1, 1))).scalars()}
    out = []
    for m in range(1, 13):
        month = date(period, m, 1)
        row = rows.get(month)
        out.append({"month": month, **{k: getattr(row, k) if row else 0 for k in MEASURES}})
    live = live_household_months(household_id, period)
    for item in out:
        for k in MEASURES:
            item[k] += live.get(item["month"], {}).get(k, 0)
    return out


def counted_through() -> uuid.UUID | None:
    return db.session.execute(select(FactsState.counted_through)).scalar()


def _live_where(through) -> tuple[str, dict]:
    if through is None:
        return "", {}
    return "AND t.id > :through", {"through": through}


def live_household_months(household_id, period: int) -> dict:
    """{month: measures} of the household's transactions written after the last build."""
    where, params = _live_where(counted_through())
    rows = run(household_months_sql(
        f"AND t.household_id = :household_id AND t.period = :period {where}"),
        {"tenant_id": current_tenant_id(), "household_id": household_id, "period": period, **params}).mappings()
    return {_as_date(r["month"]): {k: int(r[k] or 0) for k in MEASURES} for r in rows}


def live_day_facts(where: str = "", params: dict | None = None, through=...) -> list[dict]:
    """Day-fact rows of the transactions written after the last build (today's postings, and any
    late entry of an earlier day), narrowed by `where` (on t and h). `through` is the build's
    `counted_through` when the caller has read it already."""
    extra, live = _live_where(counted_through() if through is ... else through)
    rows = run(day_facts_sql(f"{extra} {where}"),
                              {"tenant_id": current_tenant_id(), **live, **(params or {})}).mappings()
    return [dict(r) | {"day": _as_date(r["day"]), "village_id": _as_id(r["village_id"]),
                       "grid_node_id": _as_id(r["grid_node_id"]), "item_id": _as_id(r["item_id"])} for r in rows]


# --- small helpers ----------------------------------------------------------------------------------

def _chunks(items: list) -> list[list]:
    items = list(items)
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _as_date(value) -> date:
    """A raw select's date (SQLite answers text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_id(value) -> uuid.UUID | None:
    """A raw select's id (SQLite answers text); None stays None."""
    return parse_uuid(value)
