"""Closing a period (年度结转): at the end of a year, every household's available points carry over
into the next year or expire, per the township's policy, through ledger entries; earned points stay
with their year (rankings, stars, honours and dividends of that year keep their basis).

One transaction per household (`_close_entry`, a ledger primitive beside those of `ledger.py`):

* expire: household leg (year Y) −X, the township's EXPIRED account (Y) +X;
* carry over: household leg (Y) −X, household leg (Y+1) +X, both with earned 0 (sum zero); with a
  carry-over limit L, X = C + E where C = min(X, L) goes to Y+1 and E to EXPIRED (three legs).

The cached balances of both years move in the same database transaction, under the ledger's lock
order (balance rows ascending household, then period; the audit chain head last). A close works in
chunks of `CHUNK` households, each its own transaction; the source key (`period_close`, uuid5 of
household and year) is unique, so a rerun or a resumed crash posts nothing twice, and a household
whose available points are already 0 gets no entry. Points that reach a closed year later (an
application of December posted in January, a store order of the year cancelled after the close)
are swept by the daily job the same way, with source key uuid5(household, year, n) for the n-th
entry of the household in that year. Reserved points of open store orders are not touched: they
stay with their order.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Callable

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, Invalid
from jifen.platform.input import Period
from jifen.platform.input import value as checked
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import current_tenant, current_tenant_id
from jifen.tenants.notifications.service import notify, register_messages
from jifen.tenants.points import ledger
from jifen.tenants.points.applications import settings
from jifen.tenants.points.models import (
    CARRY_OVER,
    EXPIRE,
    EXPIRED,
    HOUSEHOLD,
    PERIOD_CLOSE,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
    PeriodClose,
)

CHUNK = 500
RUN_TASK = "jifen.period_close_run"  # the worker task that runs a close asked for by hand
_NAMESPACE = uuid.UUID("6b1f4a52-3c2e-5d0a-9a7e-5f1c0de0c105")  # fixed: source ids must never change

register_messages({
    "points_carried_over": lambda p: (
        _("Year-end close: %(points)s unspent points of %(year)s were carried over into %(next)s; %(expired)s "
          "points over the carry-over limit expired.", **p) if p.get("expired")
        else _("Year-end close: your %(points)s unspent points of %(year)s were carried over into %(next)s.", **p)),
    "points_expired": lambda p: _("Year-end close: your %(points)s unspent points of %(year)s expired. The points "
                                  "earned in %(year)s still count for that year.", **p),
})


def source_id(household_id, period: int, n: int = 0) -> uuid.UUID:
    """The source key of the household's n-th close entry of `period` (0: the year-end close)."""
    name = f"{household_id}:{period}" if n == 0 else f"{household_id}:{period}:{n}"
    return uuid.uuid5(_NAMESPACE, name)


def split(available: int, policy: str, limit: int | None) -> tuple[int, int]:
    """(carried, expired) of a household's available points under the policy."""
    if policy == EXPIRE:
        return 0, available
    carried = available if limit is None else min(available, limit)
    return carried, available - carried


def _close_entry(batch: ledger.Batch, bal: HouseholdBalance, nxt: HouseholdBalance | None, *, carried: int,
                 expired: int, **fields) -> LedgerTransaction:
    """Ledger primitive (the pattern of `ledger._entry`): one transaction taking `carried + expired`
    available points out of the locked balance `bal`: `carried` into the household's locked balance
    `nxt` of the next period, `expired` to the township's EXPIRED account. Earned points do not move;
    the legs' available sum to zero."""
    out = carried + expired
    tx = LedgerTransaction(id=new_id(), household_id=bal.household_id, period=bal.period, points=0,
                           created_at=clock.now(), **fields)
    batch.transactions.append(tx)
    batch.postings.append({"id": new_id(), "transaction_id": tx.id, "account": HOUSEHOLD,
                           "household_id": bal.household_id, "period": bal.period, "available": -out, "earned": 0})
    if carried:
        batch.postings.append({"id": new_id(), "transaction_id": tx.id, "account": HOUSEHOLD,
                               "household_id": nxt.household_id, "period": nxt.period, "available": carried,
                               "earned": 0})
        nxt.available += carried
    if expired:
        batch.postings.append({"id": new_id(), "transaction_id": tx.id, "account": EXPIRED, "household_id": None,
                               "period": bal.period, "available": expired, "earned": 0})
    bal.available -= out
    return tx


def _memo(period: int, carried: int, expired: int) -> str:
    """What the entry says, in the township's language (the passbook page words it itself)."""
    tenant = current_tenant()
    with force_locale(getattr(tenant, "default_locale", None) or "zh_CN"):
        if carried and expired:
            text = _("Year-end close of %(year)s: %(carried)s points carried over to %(next)s, %(expired)s expired",
                     year=period, next=period + 1, carried=carried, expired=expired)
        elif carried:
            text = _("Year-end close of %(year)s: %(points)s points carried over to %(next)s", year=period,
                     next=period + 1, points=carried)
        else:
            text = _("Year-end close of %(year)s: %(points)s unspent points expired", year=period, points=expired)
    return text[:300]


# --- running a close ---------------------------------------------------------------------------

@dataclass
class Run:
    """What one run of a close did (a rerun of a finished close does nothing: all zero)."""

    close: PeriodClose
    households: int = 0
    carried: int = 0
    expired: int = 0
    chunks: int = 0


def get_close(period: int) -> PeriodClose | None:
    return db.session.execute(select(PeriodClose).where(PeriodClose.period == period)).scalar_one_or_none()


def _claim(actor: Actor, period: int) -> PeriodClose:
    """The period's close row, created (with the township's policy as it is now) if missing, in
    the caller's transaction. A racing second claim waits for the first and finds its row."""
    pc = get_close(period)
    if pc is not None:
        return pc
    policy = settings()
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PeriodClose)
    new = new_id()
    # raw insert: the tenant is bound explicitly (reviewed)
    inserted = db.session.execute(insert.values(
        tenant_id=current_tenant_id(), id=new, period=period, status=PeriodClose.RUNNING, policy=policy.period_end,
        carry_over_limit=policy.carry_over_limit if policy.period_end == CARRY_OVER else None, households=0,
        carried=0, expired=0, started_by=actor.id, started_by_name=actor.name[:100], started_at=clock.now(),
        updated_at=clock.now()).on_conflict_do_nothing(index_elements=["tenant_id", "period"])
        .returning(PeriodClose.id)).first()
    if inserted is not None:
        record(actor, "period.close", object_type="period_closes", object_id=new, before=None,
               after={"period": period, "policy": policy.period_end, "carry_over_limit": policy.carry_over_limit})
    return get_close(period)


def _chunk(actor: Actor, pc: PeriodClose, limit: int) -> tuple[int, int, int] | None:
    """Close up to `limit` households with available points in one transaction; None when none
    is left. Returns (households, carried, expired)."""
    period = pc.period
    ids = db.session.execute(select(HouseholdBalance.household_id).where(
        HouseholdBalance.period == period, HouseholdBalance.available > 0)
        .order_by(HouseholdBalance.household_id).limit(limit)).scalars().all()
    if not ids:
        db.session.rollback()
        return None
    carrying = pc.policy == CARRY_OVER
    bals = ledger.lock_balances([(h, period) for h in ids] + ([(h, period + 1) for h in ids] if carrying else []))
    earlier = dict(db.session.execute(
        select(LedgerTransaction.household_id, func.count()).where(
            LedgerTransaction.source_kind == PERIOD_CLOSE, LedgerTransaction.period == period,
            LedgerTransaction.household_id.in_(ids)).group_by(LedgerTransaction.household_id)).all())
    batch, done = ledger.Batch(), []
    for h in ids:
        bal = bals[(h, period)]
        if bal.available <= 0:  # another run closed it while this one waited for the lock
            continue
        carried, expired = split(bal.available, pc.policy, pc.carry_over_limit)
        tx = _close_entry(batch, bal, bals.get((h, period + 1)), carried=carried, expired=expired,
                          source_kind=PERIOD_CLOSE, source_id=source_id(h, period, earlier.get(h, 0)),
                          occurred_on=date(period, 12, 31), memo=_memo(period, carried, expired),
                          created_by=pc.started_by, created_by_name=pc.started_by_name)
        done.append((h, tx, carried, expired))
    batch.write()
    for h, tx, carried, expired in done:
        if carried:
            notify(h, "points_carried_over", f"period_close:{tx.source_id}",
                   link=f"ledger/households/{h}/passbook?period={period + 1}", points=carried, expired=expired,
                   year=period, next=period + 1)
        else:
            notify(h, "points_expired", f"period_close:{tx.source_id}",
                   link=f"ledger/households/{h}/passbook?period={period}", points=expired, year=period)
    households, carried, expired = len(done), sum(d[2] for d in done), sum(d[3] for d in done)
    db.session.execute(update(PeriodClose).where(PeriodClose.id == pc.id).values(
        households=PeriodClose.households + households, carried=PeriodClose.carried + carried,
        expired=PeriodClose.expired + expired, updated_at=clock.now()))
    if done:
        record(actor, "period.close_chunk", object_type="period_closes", object_id=pc.id,
               after={"period": period, "households": households, "carried": carried, "expired": expired})
    db.session.commit()
    return households, carried, expired


def run_close(actor: Actor, period: int, *, chunk: int = CHUNK,
              after_chunk: Callable[[int], None] | None = None) -> Run:
    """Close `period` (or resume a close that stopped halfway, or sweep points that reached the
    closed period since): chunk after chunk until no household of the period has available points,
    then mark it done. Running it again does nothing twice. `after_chunk(n)` is called after the
    n-th chunk has committed (tests stop a close there)."""
    pc = _claim(actor, period)
    db.session.commit()  # the chunk runner's first chunk: the claim
    run = Run(pc)
    empty = 0
    while True:
        got = _chunk(actor, pc, chunk)
        if got is None:
            break
        run.chunks += 1
        run.households, run.carried, run.expired = (run.households + got[0], run.carried + got[1],
                                                    run.expired + got[2])
        empty = empty + 1 if got[0] == 0 else 0
        if empty >= 3:  # the rest is being closed by a concurrent run
            break
        if after_chunk is not None:
            after_chunk(run.chunks)
    finished = db.session.execute(update(PeriodClose).where(
        PeriodClose.id == pc.id, PeriodClose.status == PeriodClose.RUNNING)
        .values(status=PeriodClose.DONE, finished_at=clock.now(), updated_at=clock.now())
        .returning(PeriodClose.households, PeriodClose.carried, PeriodClose.expired)).first()
    if finished is not None:  # this run finished it (a racing run may have)
        record(actor, "period.close_done", object_type="period_closes", object_id=pc.id,
               after={"period": period, "households": finished[0], "carried": finished[1], "expired": finished[2]})
    db.session.commit()
    run.close = get_close(period)
    return run


def _past_period(value, today: date) -> int:
    """The period named in input: a year, and a past one (the current year cannot be closed)."""
    period = checked(Period(), value, "period")
    if period is None:
        raise Invalid.field("period", _("Enter a year, e.g. %(year)s.", year=today.year - 1))
    if period >= ledger.period_of(today):
        raise Conflict(_("Only a past year can be closed; %(year)s is not over yet.", year=period),
                       {"period": [_("%(year)s is not over yet.", year=period)]})
    return period


@action("period.close")
def request_close(actor: Actor, data: dict, today: date | None = None) -> PeriodClose:
    """A township admin closes a past year by hand (e.g. before the daily job has run): the close
    row is written now and the work runs in a worker (inline where tasks run eagerly). A year that
    is closed already is a 409 naming `period`; one whose close stopped halfway is resumed."""
    from jifen.platform.jobs.queue import enqueue

    period = _past_period((data or {}).get("period"), today or clock.today())
    pc = get_close(period)
    if pc is not None and pc.status == PeriodClose.DONE:
        raise Conflict(_("%(year)s is closed already.", year=period),
                       {"period": [_("%(year)s is closed already.", year=period)]})
    _claim(actor, period)
    enqueue(RUN_TASK, tenant_id=str(current_tenant_id()), period=period)
    return db.session.execute(select(PeriodClose).where(PeriodClose.period == period)
                              .execution_options(populate_existing=True)).scalar_one()  # an inline run changed it


def close_by_cli(period: int, name: str = "close-period") -> Run:
    """`jifen points close-period`: close (or resume, or sweep) a past period inline."""
    tenant = current_tenant()
    period = _past_period(period, clock.today())
    return run_close(Actor.system(name, tenant.id), period)


def nightly(actor: Actor, today: date | None = None) -> dict:
    """The daily job: from the first day of a new year on, close every past year not closed yet
    (a township whose job did not run on January 1 closes on the 2nd), and sweep the points that
    reached a closed year since (late postings, released store orders). Running it again the same
    day changes nothing."""
    today = today or clock.today()
    current = ledger.period_of(today)
    stats = db.session.execute(
        select(HouseholdBalance.period, func.sum(case((HouseholdBalance.available > 0, 1), else_=0)))
        .where(HouseholdBalance.period < current).group_by(HouseholdBalance.period)).all()
    done = set(db.session.execute(select(PeriodClose.period).where(PeriodClose.status == PeriodClose.DONE)).scalars())
    running = set(db.session.execute(select(PeriodClose.period).where(
        PeriodClose.status == PeriodClose.RUNNING, PeriodClose.period < current)).scalars())
    todo = {p for p, waiting in stats if p not in done or waiting} | running
    db.session.rollback()
    result = {"periods": [], "households": 0, "carried": 0, "expired": 0}
    while todo:
        period = min(todo)
        todo.discard(period)
        run = run_close(actor, period)
        if run.households or period not in done:
            result["periods"].append(period)
        for key in ("households", "carried", "expired"):
            result[key] += getattr(run, key)
        if run.carried and period + 1 < current:  # carried into a closed year: sweep that one too
            todo.add(period + 1)
    return result


# --- reading -----------------------------------------------------------------------------------

@dataclass
class PeriodSummary:
    period: int
    status: str  # open (the current year), unclosed (past, not closed yet), running, done
    households: int  # households that earned points in the year
    earned: int  # points earned in the year (what ranking and dividends of the year count)
    available: int  # available points still in the year (0 once closed, unless new points came in)
    close: PeriodClose | None


OPEN, UNCLOSED = "open", "unclosed"


@action("period.view")
def summaries(actor: Actor, today: date | None = None) -> list[PeriodSummary]:
    """Every year of the township, newest first, with its totals and its close."""
    current = ledger.period_of(today or clock.today())
    stats = {p: (int(n or 0), int(e or 0), int(a or 0)) for p, n, e, a in db.session.execute(
        select(HouseholdBalance.period, func.sum(case((HouseholdBalance.earned != 0, 1), else_=0)),
               func.sum(HouseholdBalance.earned), func.sum(HouseholdBalance.available))
        .group_by(HouseholdBalance.period))}
    closes = {c.period: c for c in db.session.execute(select(PeriodClose)).scalars()}
    out = []
    for period in sorted(set(stats) | set(closes) | {current}, reverse=True):
        close = closes.get(period)
        status = close.status if close else (OPEN if period >= current else UNCLOSED)
        households, earned, available = stats.get(period, (0, 0, 0))
        out.append(PeriodSummary(period, status, households, earned, available, close))
    return out


@dataclass
class Preview:
    period: int
    policy: str
    carry_over_limit: int | None
    households: int  # households with available points
    available: int
    carried: int
    expired: int
    close: PeriodClose | None


@action("period.close")
def preview(actor: Actor, period, today: date | None = None) -> Preview:
    """What closing `period` would do now, under the township's policy (or the policy the close
    began with, when it is resumed)."""
    period = _past_period(period, today or clock.today())
    pc = get_close(period)
    policy, limit = (pc.policy, pc.carry_over_limit) if pc else (settings().period_end, settings().carry_over_limit)
    limit = limit if policy == CARRY_OVER else None
    carried_sql = (HouseholdBalance.available if limit is None
                   else case((HouseholdBalance.available > limit, limit), else_=HouseholdBalance.available))
    n, available, carried = db.session.execute(
        select(func.count(), func.coalesce(func.sum(HouseholdBalance.available), 0),
               func.coalesce(func.sum(carried_sql), 0))
        .where(HouseholdBalance.period == period, HouseholdBalance.available > 0)).one()
    carried = int(carried) if policy == CARRY_OVER else 0
    return Preview(period, policy, limit, int(n), int(available), carried, int(available) - carried, pc)


@dataclass(frozen=True)
class CloseLine:
    """How a close entry reads in a household's passbook of `shown` year."""

    incoming: bool  # carried in from the previous year (else: out of this year)
    carried: int
    expired: int
    from_period: int
    to_period: int
    available: int  # the change to the household's available points in the shown year


def passbook_lines(household_id, txs, shown: int | None) -> dict:
    """{transaction id: CloseLine} for the close entries among `txs` (one query)."""
    ids = [tx.id for tx in txs if tx.source_kind == PERIOD_CLOSE]
    if not ids:
        return {}
    legs: dict = {}
    for tx_id, account, hh, period, available in db.session.execute(
            select(LedgerPosting.transaction_id, LedgerPosting.account, LedgerPosting.household_id,
                   LedgerPosting.period, LedgerPosting.available).where(LedgerPosting.transaction_id.in_(ids))):
        legs.setdefault(tx_id, []).append((account, hh, period, available))
    out = {}
    for tx in txs:
        if tx.id not in legs:
            continue
        carried = sum(a for acc, hh, p, a in legs[tx.id] if acc == HOUSEHOLD and p != tx.period)
        expired = sum(a for acc, _hh, _p, a in legs[tx.id] if acc == EXPIRED)
        year = tx.period if shown is None else shown
        change = sum(a for acc, hh, p, a in legs[tx.id] if acc == HOUSEHOLD and hh == household_id and p == year)
        out[tx.id] = CloseLine(shown is not None and tx.period != shown, carried, expired, tx.period, tx.period + 1,
                               change)
    return out
