"""The points ledger: append-only, double-entry, with cached balances per household and period.

Every change of points goes through `_write` (below), which locks the household's balance row for
the period (`SELECT … FOR UPDATE`), writes a transaction with legs that sum to zero over accounts,
and moves the cached balance in the same database transaction. Nothing here updates or deletes a
ledger row. Rules:

* earned points move only with what a household earns (awards, deductions, corrections of them);
  spending lowers available points, never earned ones;
* available points never go below zero (a CHECK in the database as well): a deduction or a
  correction takes available points down to zero at most, while the full amount still counts
  against earned points (ranking and dividends must see it);
* a source (an application, an order, a correction request) posts at most once, enforced by the
  unique key (tenant, source_kind, source_id);
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

from jifen.platform.db import db, new_id
from jifen.platform.errors import Invalid, NotFound
from jifen.platform.tenancy import current_tenant_id, tenant_get
from jifen.tenants.points.models import (
    CORRECTION,
    DEDUCTED,
    HOUSEHOLD,
    ISSUED,
    REDEEMED,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
)


def period_of(day: date) -> int:
    """Periods are calendar years (the township's accounting year)."""
    return day.year


def lock_balance(household_id, period: int) -> HouseholdBalance:
    """The household's balance row for `period`, created if missing, locked until commit.

    Callers that lock several households lock them in ascending id order (no deadlocks).
    The row usually exists: lock it in one statement; only a missing row costs the insert."""
    query = (select(HouseholdBalance).where(HouseholdBalance.household_id == household_id,
                                            HouseholdBalance.period == period)
             .with_for_update().execution_options(populate_existing=True))
    found = db.session.execute(query).scalar_one_or_none()
    if found is not None:
        return found
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(HouseholdBalance)
    # raw insert-if-missing (a racing first posting may insert it first): the tenant is bound
    # explicitly (reviewed)
    db.session.execute(insert.values(tenant_id=current_tenant_id(), id=new_id(), household_id=household_id,
                                     period=period, earned=0, available=0)
                       .on_conflict_do_nothing(index_elements=["tenant_id", "household_id", "period"]))
    return db.session.execute(query).scalar_one()


def balance(household_id, period: int) -> HouseholdBalance | None:
    return db.session.execute(select(HouseholdBalance).where(
        HouseholdBalance.household_id == household_id, HouseholdBalance.period == period)).scalar_one_or_none()


@dataclass(frozen=True)
class Posted:
    transaction: LedgerTransaction
    capped: int  # points the cap held back (same sign as the request), 0 if none


def _write(bal: HouseholdBalance, *, earned: int, available: int, counter: str, **fields) -> LedgerTransaction:
    tx = LedgerTransaction(id=new_id(), household_id=bal.household_id, period=bal.period, points=earned, **fields)
    db.session.add(tx)
    db.session.flush()  # the legs reference it (no ORM relationship orders the inserts)
    db.session.add(LedgerPosting(transaction_id=tx.id, account=HOUSEHOLD, household_id=bal.household_id,
                                 period=bal.period, available=available, earned=earned))
    db.session.add(LedgerPosting(transaction_id=tx.id, account=counter, household_id=None, period=bal.period,
                                 available=-available, earned=0))
    bal.earned += earned
    bal.available += available
    return tx


def _cap_window(day: date, cap_period: str) -> tuple[date, date]:
    if cap_period == "month":
        start = day.replace(day=1)
        end = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    else:
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    return start, end


def cap_used(household_id, item_code: str, day: date, cap_period: str) -> int:
    """Points (magnitude) of `item_code` already earned by the household in the cap window."""
    start, end = _cap_window(day, cap_period)
    total = db.session.execute(
        select(func.coalesce(func.sum(LedgerTransaction.points), 0))
        .where(LedgerTransaction.household_id == household_id, LedgerTransaction.item_code == item_code,
               LedgerTransaction.occurred_on >= start, LedgerTransaction.occurred_on < end)
    ).scalar_one()
    return abs(int(total))


def earn(*, household_id, points: int, occurred_on: date, source_kind: str, source_id, item=None,
         version_id=None, memo: str = "", certified_by: str = "", created_by=None, created_by_name: str = "",
         reason: str = "") -> Posted:
    """Post earned points (an award > 0 or a deduction < 0) for the period of `occurred_on`,
    within the item's cap. Raises IntegrityError (unique source) if the source posted before."""
    bal = lock_balance(household_id, period_of(occurred_on))
    capped = 0
    if item is not None and item.cap_points:
        room = max(item.cap_points - cap_used(household_id, item.code, occurred_on, item.cap_period or "year"), 0)
        if abs(points) > room:
            capped = points - (room if points > 0 else -room)
            points = points - capped
    available = points if points >= 0 else -min(-points, bal.available)
    tx = _write(bal, earned=points, available=available, counter=ISSUED if points >= 0 else DEDUCTED,
                source_kind=source_kind, source_id=source_id, item_id=getattr(item, "id", None),
                item_code=getattr(item, "code", None), version_id=version_id, occurred_on=occurred_on,
                memo=memo[:300], certified_by=certified_by[:300], created_by=created_by,
                created_by_name=created_by_name, reason=reason)
    return Posted(tx, capped)


def effective_points(tx: LedgerTransaction) -> int:
    """A posting's points after every correction of it."""
    corrections = db.session.execute(select(func.coalesce(func.sum(LedgerTransaction.points), 0))
                                     .where(LedgerTransaction.reverses_id == tx.id)).scalar_one()
    return tx.points + int(corrections)


def correct(original: LedgerTransaction, *, new_points: int, reason: str, request_id, created_by=None,
            created_by_name: str = "") -> LedgerTransaction:
    """A reversing transaction that brings `original` to `new_points` (0: undo it entirely).

    `request_id` is the correction's source id: the same request corrects once."""
    if original.source_kind == CORRECTION:
        raise Invalid.field("transaction", _("Correct the original entry, not a correction."))
    bal = lock_balance(original.household_id, original.period)
    delta = new_points - effective_points(original)
    if delta == 0:
        raise Invalid.field("points", _("The entry already has these points."))
    available = delta if delta > 0 else -min(-delta, bal.available)
    return _write(bal, earned=delta, available=available, counter=ISSUED if delta > 0 else DEDUCTED,
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
    return _write(bal, earned=0, available=-points, counter=REDEEMED, source_kind=source_kind, source_id=source_id,
                  occurred_on=on, memo=memo, created_by=created_by, created_by_name=created_by_name)


def get_transaction(tx_id) -> LedgerTransaction:
    tx = tenant_get(LedgerTransaction, tx_id)
    if tx is None:
        raise NotFound(_("Not found."))
    return tx


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
    sum to zero]}. With `fix`, cached balances are set to the sums (the ledger is the truth)."""
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
    return {"balances": len(cached), "differences": differences, "unbalanced": list(unbalanced)}
