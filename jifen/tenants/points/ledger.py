"""The points ledger: append-only, double-entry, with cached balances per household and period.

Every change of points goes through `_entry` (below), which locks the household's balance row for
the period (`SELECT … FOR UPDATE`), writes a transaction with legs that sum to zero over accounts,
and moves the cached balance in the same database transaction. Nothing here updates or deletes a
ledger row. Rules:

* earned points move only with what a household earns (awards, deductions, corrections of them);
  spending lowers available points, never earned ones;
* available points never go below zero (a CHECK in the database as well): a deduction or a
  correction takes available points down to zero at most, while the full amount still counts
  against earned points (ranking and dividends must see it); what it could not take is written
  off (the household is never in debt);
* a correction (`correct`) moves earned points by the difference to the new amount. Available
  points follow the entry, read from its postings (the original's and its earlier corrections'),
  never from its nominal amount: taking more is clipped at zero like a fresh deduction; giving
  back first cancels what the entry wrote off, so the household gets back exactly what the entry
  took, and only a raise above that is new. So for each entry with its corrections, available
  moved = earned moved + written off, and correcting an entry to its own amount changes nothing
  (refused, 422 naming `points`). The township's side reverses the entry's own accounts first
  (DEDUCTED gives back what it took, ISSUED takes back what it issued), then the rest is fresh;
* a source (an application, an order, a correction request) posts at most once, enforced by the
  unique key (tenant, source_kind, source_id);
* lock order, everywhere: application rows, then balance rows (ascending household), then the
  audit chain head (taken by the first audit entry): so write audit entries after the ledger;
  a store order takes its order row(s) and stock level rows before the balance row;
* a store order is two-phase, like a pending transfer: `reserve` moves the points from the
  household's available points to the township's RESERVED account (source "order"); `settle`
  closes the reservation exactly once (source "order_close", unique like every source): spent
  (RESERVED -> REDEEMED, no household leg) or released (RESERVED -> the household's available);
* an item's cap per household and month/year is enforced here, under the same lock, so racing
  postings cannot exceed it; what the cap holds back is returned to the caller to report.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.tenancy import current_tenant_id, insert_new, update_known
from jifen.tenants.points.models import (
    CORRECTION,
    DEDUCTED,
    HOUSEHOLD,
    ISSUED,
    REDEEMED,
    REDEMPTION,
    RESERVED,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
)


def period_of(day: date) -> int:
    """Periods are calendar years (the township's accounting year)."""
    return day.year


def _ensure_balances(keys) -> None:
    """Insert the missing balance rows of (household, period) `keys` (a racing first posting may
    insert one first: nothing happens then). Raw insert: the tenant is bound explicitly (reviewed)."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(HouseholdBalance)
    rows = [{"tenant_id": current_tenant_id(), "id": new_id(), "household_id": h, "period": p, "earned": 0,
             "available": 0} for h, p in keys]
    db.session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "household_id", "period"]))


@dataclass
class BalanceRow:
    """A locked balance row as plain values (the posting job moves hundreds per chunk: no ORM
    object each); `write_balances` stores them."""

    id: uuid.UUID
    household_id: uuid.UUID
    period: int
    earned: int
    available: int


def _lock(keys, plain: bool) -> dict:
    keys = sorted(set(keys), key=lambda k: (str(k[0]), k[1]))
    if not keys:
        return {}
    households = sorted({h for h, _p in keys}, key=str)
    periods = {p for _h, p in keys}
    B = HouseholdBalance

    def locked():
        stmt = (select(B.id, B.household_id, B.period, B.earned, B.available) if plain
                else select(B).execution_options(populate_existing=True))
        rows = db.session.execute(stmt.where(B.household_id.in_(households), B.period.in_(periods))
                                  .order_by(B.household_id, B.period).with_for_update())
        return {(b.household_id, b.period): b for b in ((BalanceRow(*r) for r in rows) if plain else rows.scalars())}

    found = locked()
    missing = [k for k in keys if k not in found]
    if missing:
        _ensure_balances(missing)
        found = locked()
    return found


def lock_balances(keys) -> dict:
    """Lock the balance rows of (household, period) `keys`, creating missing ones, in ascending
    household order (every caller does, and locks the tenant's audit chain head only after its
    balance rows, at its first audit entry: so two transactions cannot deadlock).
    Returns {(household_id, period): HouseholdBalance}, held until commit."""
    return _lock(keys, plain=False)


def lock_balance_rows(keys) -> dict:
    """`lock_balances` (same locks, same order) as {(household_id, period): BalanceRow}; the
    caller stores what it changed with `write_balances`."""
    return _lock(keys, plain=True)


def write_balances(rows) -> None:
    """Store balance rows locked by `lock_balance_rows`, in one executemany."""
    now = clock.now()
    update_known(HouseholdBalance, [{"id": b.id, "earned": b.earned, "available": b.available, "updated_at": now}
                                    for b in rows])


def lock_balance(household_id, period: int) -> HouseholdBalance:
    """The household's balance row for `period`, created if missing, locked until commit."""
    return lock_balances([(household_id, period)])[(household_id, period)]


def balance(household_id, period: int) -> HouseholdBalance | None:
    return db.session.execute(select(HouseholdBalance).where(
        HouseholdBalance.household_id == household_id, HouseholdBalance.period == period)).scalar_one_or_none()


@dataclass(frozen=True)
class Posted:
    transaction: LedgerTransaction
    capped: int  # points the cap held back (same sign as the request), 0 if none


class Batch:
    """Ledger rows being written by one database transaction: transactions first, then their legs,
    in two multi-row inserts however many postings there are (`insert_new`: the rows are never in
    the session, and ledger rows are never changed after)."""

    def __init__(self):
        self.transactions: list[LedgerTransaction] = []
        self.postings: list[dict] = []

    def write(self) -> None:
        insert_new(LedgerTransaction, self.transactions)
        insert_new(LedgerPosting, self.postings)
        self.transactions, self.postings = [], []


def _entry(batch: Batch, bal: HouseholdBalance | BalanceRow, *, earned: int, available: int, counter: str | dict,
           **fields) -> LedgerTransaction:
    """One transaction and its legs: the household's and the township's `counter` account (or
    {account: available} when the township's side is split, as a correction's may be; their
    `available` sums to zero), moving the locked cached balance by the same amounts."""
    counters = {counter: -available} if isinstance(counter, str) else counter
    assert sum(counters.values()) == -available, counters
    tx = LedgerTransaction(id=new_id(), household_id=bal.household_id, period=bal.period, points=earned,
                           created_at=clock.now(), **fields)
    batch.transactions.append(tx)
    batch.postings.append({"id": new_id(), "transaction_id": tx.id, "account": HOUSEHOLD,
                           "household_id": bal.household_id, "period": bal.period, "available": available,
                           "earned": earned})
    for account, amount in counters.items():
        batch.postings.append({"id": new_id(), "transaction_id": tx.id, "account": account, "household_id": None,
                               "period": bal.period, "available": amount, "earned": 0})
    bal.earned += earned
    bal.available += available
    return tx


def _available_change(bal: HouseholdBalance | BalanceRow, earned: int) -> int:
    """Earning adds to available points in full; losing points takes them down to zero at most."""
    return earned if earned >= 0 else -min(-earned, bal.available)


def _write_one(bal: HouseholdBalance, **kw) -> LedgerTransaction:
    batch = Batch()
    tx = _entry(batch, bal, **kw)
    batch.write()
    return tx


def _cap_window(day: date, cap_period: str) -> tuple[date, date]:
    if cap_period == "month":
        start = day.replace(day=1)
        end = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    else:
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    return start, end


def cap_key(household_id, item, day: date) -> tuple | None:
    """What a cap counts over: the household, the item's code (the same rule across rulebook
    versions) and the month or year of the day; None when the item has no cap."""
    if item is None or not item.cap_points:
        return None
    return (household_id, item.code, *_cap_window(day, item.cap_period or "year"))


def cap_used(key: tuple) -> int:
    """Points (magnitude) already earned under cap `key`, corrections included."""
    household_id, code, start, end = key
    total = db.session.execute(
        select(func.coalesce(func.sum(LedgerTransaction.points), 0))
        .where(LedgerTransaction.household_id == household_id, LedgerTransaction.item_code == code,
               LedgerTransaction.occurred_on >= start, LedgerTransaction.occurred_on < end)
    ).scalar_one()
    return abs(int(total))


def _earn(batch: Batch, bal: HouseholdBalance | BalanceRow, used: dict, *, points: int, occurred_on: date, item=None,
          **fields) -> Posted:
    """The posting rule: hold back what exceeds the item's cap (`used` holds the points already
    counted under each cap key and is updated), take a deduction's available points down to zero
    at most, and write the entry."""
    capped = 0
    key = cap_key(bal.household_id, item, occurred_on)
    if key is not None:
        if key not in used:
            used[key] = cap_used(key)
        room = max(item.cap_points - used[key], 0)
        if abs(points) > room:
            capped = points - (room if points > 0 else -room)
            points -= capped
        used[key] += abs(points)
    tx = _entry(batch, bal, earned=points, available=_available_change(bal, points), counter=ISSUED if points >= 0 else DEDUCTED,
                occurred_on=occurred_on, item_id=getattr(item, "id", None), item_code=getattr(item, "code", None),
                **fields)
    return Posted(tx, capped)


@dataclass
class Earning:
    """One posting of earned points for `earn_many`."""

    household_id: uuid.UUID
    points: int
    occurred_on: date
    source_kind: str
    source_id: uuid.UUID
    item: object = None
    version_id: uuid.UUID | None = None
    memo: str = ""
    certified_by: str = ""
    created_by: uuid.UUID | None = None
    created_by_name: str = ""


def earn_many(earnings: list[Earning]) -> list[Posted]:
    """Post several earnings in the caller's transaction: lock every balance row they touch (in
    order), apply caps as they accumulate, write all entries in two inserts."""
    bals = lock_balance_rows((e.household_id, period_of(e.occurred_on)) for e in earnings)
    used: dict = {}
    for key in {cap_key(e.household_id, e.item, e.occurred_on) for e in earnings} - {None}:
        used[key] = cap_used(key)  # before anything of this batch is pending
    batch = Batch()
    out = [_earn(batch, bals[(e.household_id, period_of(e.occurred_on))], used, points=e.points,
                 occurred_on=e.occurred_on, item=e.item, source_kind=e.source_kind, source_id=e.source_id,
                 version_id=e.version_id, memo=e.memo[:300], certified_by=e.certified_by[:300],
                 created_by=e.created_by, created_by_name=e.created_by_name) for e in earnings]
    batch.write()
    write_balances(bals.values())
    return out


def earn(*, household_id, points: int, occurred_on: date, source_kind: str, source_id, item=None,
         version_id=None, memo: str = "", certified_by: str = "", created_by=None, created_by_name: str = "",
         reason: str = "") -> Posted:
    """Post earned points (an award > 0 or a deduction < 0) for the period of `occurred_on`,
    within the item's cap. Raises IntegrityError (unique source) if the source posted before."""
    bal = lock_balance(household_id, period_of(occurred_on))
    batch = Batch()
    posted = _earn(batch, bal, {}, points=points, occurred_on=occurred_on, item=item, source_kind=source_kind,
                   source_id=source_id, version_id=version_id, memo=memo[:300], certified_by=certified_by[:300],
                   created_by=created_by, created_by_name=created_by_name, reason=reason)
    batch.write()
    return posted


def effective_points(tx: LedgerTransaction) -> int:
    """A posting's points after every correction of it."""
    corrections = db.session.execute(select(func.coalesce(func.sum(LedgerTransaction.points), 0))
                                     .where(LedgerTransaction.reverses_id == tx.id)).scalar_one()
    return tx.points + int(corrections)


def moved(original: LedgerTransaction) -> dict:
    """What `original` and its corrections have moved so far, read from their postings:
    {account: (earned, available)}."""
    rows = db.session.execute(
        select(LedgerPosting.account, func.sum(LedgerPosting.earned), func.sum(LedgerPosting.available))
        .select_from(LedgerPosting).join(LedgerTransaction, (LedgerTransaction.id == LedgerPosting.transaction_id)
              & (LedgerTransaction.tenant_id == LedgerPosting.tenant_id))
        .where((LedgerTransaction.id == original.id) | (LedgerTransaction.reverses_id == original.id))
        .group_by(LedgerPosting.account))
    return {account: (int(e), int(a)) for account, e, a in rows}


def _correction(moved_: dict, delta: int, bal: HouseholdBalance) -> tuple[int, dict]:
    """(the household's available change, the township's legs) of a correction moving the
    entry's earned points by `delta` (the rule in the module docstring)."""
    earned, available = moved_.get(HOUSEHOLD, (0, 0))
    if delta > 0:
        written_off = max(available - earned, 0)
        change = max(delta - written_off, 0)
        back = min(change, max(moved_.get(DEDUCTED, (0, 0))[1], 0))  # what the entry took, returned
        legs = {DEDUCTED: -back, ISSUED: -(change - back)}
    else:
        change = _available_change(bal, delta)
        back = min(-change, max(-moved_.get(ISSUED, (0, 0))[1], 0))  # what the entry issued, taken back
        legs = {ISSUED: back, DEDUCTED: -change - back}
    legs = {a: n for a, n in legs.items() if n} or {ISSUED if delta > 0 else DEDUCTED: 0}
    return change, legs


def correct(original: LedgerTransaction, *, new_points: int, reason: str, request_id, created_by=None,
            created_by_name: str = "") -> LedgerTransaction:
    """A reversing transaction that brings `original` to `new_points` (0: undo it entirely),
    giving back exactly what the entry took (see the module docstring).

    `request_id` is the correction's source id: the same request corrects once."""
    if original.source_kind == CORRECTION:
        raise InputConflict.field("transaction", _("Correct the original entry, not a correction."))
    if original.source_kind in (ORDER, ORDER_CLOSE, REDEMPTION):  # spending earned nothing to correct
        raise InputConflict.field("transaction", _("A store order is cancelled at the store, not corrected here."))
    bal = lock_balance(original.household_id, original.period)
    moved_ = moved(original)
    delta = new_points - moved_.get(HOUSEHOLD, (0, 0))[0]
    if delta == 0:
        raise InputConflict.field("points", _("The entry already has these points."))
    change, legs = _correction(moved_, delta, bal)
    return _write_one(bal, earned=delta, available=change, counter=legs,
                  source_kind=CORRECTION, source_id=request_id, item_id=original.item_id,
                  item_code=original.item_code, version_id=original.version_id, occurred_on=original.occurred_on,
                  memo=original.memo, reverses_id=original.id, reason=reason, created_by=created_by,
                  created_by_name=created_by_name)


def spend(*, household_id, points: int, period: int, source_kind: str, source_id, memo: str = "",
          created_by=None, created_by_name: str = "", on: date) -> LedgerTransaction:
    """Spend available points (a store redemption). Earned points stay as they are."""
    if points <= 0:
        raise Invalid.field("points", _("Points must be a whole number above zero."))
    bal = lock_balance(household_id, period)
    if bal.available < points:
        raise Invalid.field("points", _("Only %(n)s points are available.", n=bal.available))
    return _write_one(bal, earned=0, available=-points, counter=REDEEMED, source_kind=source_kind, source_id=source_id,
                  occurred_on=on, memo=memo, created_by=created_by, created_by_name=created_by_name)


ORDER, ORDER_CLOSE = "order", "order_close"  # source kinds of a store order's two transactions


def _system_leg(tx: LedgerTransaction, account: str, available: int) -> dict:
    return {"id": new_id(), "transaction_id": tx.id, "account": account, "household_id": None, "period": tx.period,
            "available": available, "earned": 0}


def _household_leg(tx: LedgerTransaction, available: int) -> dict:
    return {"id": new_id(), "transaction_id": tx.id, "account": HOUSEHOLD, "household_id": tx.household_id,
            "period": tx.period, "available": available, "earned": 0}


def reserve(*, household_id, points: int, period: int, order_id, on: date, memo: str = "", created_by=None,
            created_by_name: str = "") -> LedgerTransaction:
    """Reserve `points` of the household's available points for store order `order_id`: the
    household's leg -points, RESERVED +points. Locks the balance row (callers have locked their
    order and stock rows first); refuses (field `points`) what is not available."""
    if points <= 0:
        raise Invalid.field("points", _("Points must be a whole number above zero."))
    bal = lock_balance(household_id, period)
    if bal.available < points:
        raise Invalid.field("points", _("Only %(n)s points are available; this order needs %(m)s.",
                                        n=bal.available, m=points))
    tx = LedgerTransaction(id=new_id(), source_kind=ORDER, source_id=order_id, household_id=household_id,
                           period=period, points=0, occurred_on=on, memo=memo[:300], created_by=created_by,
                           created_by_name=created_by_name[:100], created_at=clock.now())
    batch = Batch()
    batch.transactions.append(tx)
    batch.postings += [_household_leg(tx, -points), _system_leg(tx, RESERVED, points)]
    bal.available -= points
    batch.write()
    return tx


def reserved_for(order_id) -> int:
    """What order `order_id` holds in the RESERVED account now (0 once it is settled)."""
    total = db.session.execute(
        select(func.coalesce(func.sum(LedgerPosting.available), 0))
        .select_from(LedgerPosting).join(LedgerTransaction, (LedgerTransaction.id == LedgerPosting.transaction_id)
              & (LedgerTransaction.tenant_id == LedgerPosting.tenant_id))
        .where(LedgerPosting.account == RESERVED, LedgerTransaction.source_id == order_id,
               LedgerTransaction.source_kind.in_((ORDER, ORDER_CLOSE)))).scalar_one()
    return int(total)


def settle(*, household_id, points: int, period: int, order_id, spend: bool, on: date, memo: str = "",
           created_by=None, created_by_name: str = "") -> LedgerTransaction:
    """Close the reservation of order `order_id` once, in the period it was reserved in: spent
    (RESERVED -points, REDEEMED +points; the household's balance does not move again) or released
    (RESERVED -points, the household's available +points, under its balance lock). A second
    close of the same order is refused by the unique source (IntegrityError)."""
    if reserved_for(order_id) != points:
        raise Invalid.field("points", _("The order's reserved points do not match; nothing was changed."))
    tx = LedgerTransaction(id=new_id(), source_kind=ORDER_CLOSE, source_id=order_id, household_id=household_id,
                           period=period, points=0, occurred_on=on, memo=memo[:300], created_by=created_by,
                           created_by_name=created_by_name[:100], created_at=clock.now())
    batch = Batch()
    batch.transactions.append(tx)
    if spend:
        batch.postings += [_system_leg(tx, RESERVED, -points), _system_leg(tx, REDEEMED, points)]
    else:
        bal = lock_balance(household_id, period)
        batch.postings += [_system_leg(tx, RESERVED, -points), _household_leg(tx, points)]
        bal.available += points
    batch.write()
    return tx


def _reservation_problems() -> tuple[list, int]:
    """(source ids of orders whose RESERVED legs are wrong, points held in RESERVED now).

    Each order's reservation puts a positive amount in; its close, if any, takes exactly that out;
    nothing else touches the account."""
    rows = db.session.execute(
        select(LedgerTransaction.source_kind, LedgerTransaction.source_id, func.sum(LedgerPosting.available))
        .select_from(LedgerPosting).join(LedgerTransaction, (LedgerTransaction.id == LedgerPosting.transaction_id)
              & (LedgerTransaction.tenant_id == LedgerPosting.tenant_id))
        .where(LedgerPosting.account == RESERVED)
        .group_by(LedgerTransaction.source_kind, LedgerTransaction.source_id)).all()
    per_order: dict = {}
    wrong = set()
    for kind, source_id, amount in rows:
        if kind not in (ORDER, ORDER_CLOSE):
            wrong.add(source_id)
            continue
        per_order.setdefault(source_id, {})[kind] = int(amount)
    for source_id, legs in per_order.items():
        held = legs.get(ORDER, 0)
        if held <= 0 or (ORDER_CLOSE in legs and held + legs[ORDER_CLOSE] != 0):
            wrong.add(source_id)
    held_now = sum(sum(legs.values()) for legs in per_order.values())
    return sorted(wrong, key=str), held_now


@dataclass(frozen=True)
class Difference:
    household_id: uuid.UUID
    period: int
    cached_earned: int
    cached_available: int
    earned: int
    available: int


def recompute(fix: bool = False) -> dict:
    """Sum every household's postings per period and compare with the cached balances.

    Returns {"balances": n, "differences": [...], "unbalanced": [transaction ids whose legs do not
    sum to zero], "reservations": [store order ids whose RESERVED legs are wrong], "reserved":
    points held in RESERVED now}. With `fix`, cached balances are set to the sums (the ledger is
    the truth); reservations are reported, never repaired here."""
    sums = {(h, p): (int(e), int(a)) for h, p, e, a in db.session.execute(
        select(LedgerPosting.household_id, LedgerPosting.period, func.sum(LedgerPosting.earned),
               func.sum(LedgerPosting.available))
        .where(LedgerPosting.account == HOUSEHOLD)
        .group_by(LedgerPosting.household_id, LedgerPosting.period))}
    cached = {(b.household_id, b.period): b for b in db.session.execute(select(HouseholdBalance)).scalars()}
    differences = []
    for key in sorted(set(sums) | set(cached), key=lambda k: (str(k[0]), k[1])):
        earned, available = sums.get(key, (0, 0))
        b = cached.get(key)
        ce, ca = (b.earned, b.available) if b else (0, 0)
        if (ce, ca) != (earned, available):
            differences.append(Difference(key[0], key[1], ce, ca, earned, available))
            if fix:
                b = lock_balance(key[0], key[1])
                b.earned, b.available = earned, available
    unbalanced = db.session.execute(
        select(LedgerPosting.transaction_id).group_by(LedgerPosting.transaction_id)
        .having(func.sum(LedgerPosting.available) != 0)).scalars().all()
    reservations, reserved = _reservation_problems()
    return {"balances": len(cached), "differences": differences, "unbalanced": list(unbalanced),
            "reservations": reservations, "reserved": reserved}
