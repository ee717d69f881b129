"""Demo data: Longwo's store funding over the past months, and tonight's coverage.

The amounts are worked out from the demo's own points so that the picture is always the same
whatever the generated history holds: the township's row and every village with a store are
covered (150-180 % or more, with money in hand), except one village (梅园村 when it has points outstanding, else the first
village with a store that has) at 60 %, below the default 100 % threshold, so the page shows a red
row and the admins' digest says it. Each village's money is its store's budget early in the year,
collective income three months ago and a donation last month; the township's is a budget for its
own store. The point value is left to be derived from the catalog.

Idempotent: no record is added once the township has any, and tonight's coverage is computed only
when it is missing (through the job's own body, `coverage.take_snapshot`).
"""
from __future__ import annotations

from datetime import timedelta
from math import ceil

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.tenants.funds import coverage, service
from jifen.tenants.funds.models import FundCoverage, FundRecord
from jifen.tenants.store.models import Store

BELOW_FIRST = ("梅园村", "礼坑村", "官田村")  # which village is short of money, in this order of preference
TARGETS = {"below": 60, "village": 180, "township": 150}  # coverage aimed at, percent
PARTS = (("budget", 0.5, 150, "年度积分超市运营预算"), ("collective_income", 0.3, 90, "村集体经济收入划拨"),
         ("donation", 0.2, 30, "爱心企业捐赠"))  # kind, share, days before today, note


def _needed(row: FundCoverage, target: int, short: bool = False) -> int:
    """Fen to receive so that the row's coverage is `target` percent. A covered scope also keeps
    money in hand (funds left at least half of what it owes, and 100 yuan); the short one gets only
    what the target says (its store bought more than it was given: its funds left are negative
    whenever its stock alone is worth more than the target)."""
    liability = row.liability_fen or 0
    for_target = ceil(liability * target / 100) - row.cover_fen
    if short:
        return max(for_target, 100)
    return max(for_target, row.spent_fen + ceil(liability / 2), 10_000)


def _add(admin_actor, total_fen: int, store_id, parts=PARTS) -> None:
    today = clock.today()
    left = total_fen
    for n, (kind, share, days_ago, note) in enumerate(parts):
        fen = left if n == len(parts) - 1 else int(total_fen * share)
        left -= fen
        service.add_record(admin_actor, {"kind": kind, "amount": f"{fen // 100}.{fen % 100:02d}",
                                         "received_on": (today - timedelta(days=days_ago)).isoformat(),
                                         "store_id": str(store_id) if store_id else None, "note": note})


def _fund(admin_actor, villages: dict) -> None:
    today = clock.today()
    rows = {r.village_id: r for r in coverage.compute(today)}  # before any money: what is owed and stocked
    by_id = {v.id: name for name, v in villages.items()}
    owing = [by_id[v] for v, r in rows.items() if v is not None and r.liability_fen and v in by_id]
    short = next((name for name in BELOW_FIRST if name in owing), owing[0] if owing else None)
    stores = db.session.execute(select(Store).order_by(Store.name)).scalars().all()
    added = 0
    for village_id, row in rows.items():
        if village_id is None:
            continue
        store = next(s for s in stores if s.village_id == village_id)
        is_short = by_id.get(village_id) == short
        need = _needed(row, TARGETS["below" if is_short else "village"], is_short)
        _add(admin_actor, need, store.id)
        added += need
    township = rows[None]
    township_store = next((s for s in stores if s.village_id is None), None)
    need = max(_needed(township, TARGETS["township"]) - added, 10_000)
    _add(admin_actor, need, township_store.id if township_store else None, parts=PARTS[:1])


def load_demo(admin_actor, villages: dict) -> str | None:
    """Add this area's demo data for Longwo (idempotent); returns one line for the demo's summary."""
    if db.session.execute(select(FundRecord.id).limit(1)).first() is None:
        _fund(admin_actor, villages)
        db.session.flush()
    today = clock.today()
    if db.session.execute(select(FundCoverage.id).where(FundCoverage.taken_on == today).limit(1)).first() is None:
        coverage.take_snapshot(today)
    db.session.commit()
    rows = db.session.execute(select(FundCoverage).where(FundCoverage.taken_on == today)).scalars().all()
    by_id = {v.id: name for name, v in villages.items()}
    below = [by_id.get(r.village_id, "") for r in rows if r.below]
    return (f"Fund coverage: {len(rows)} scopes on {today.isoformat()}, below the threshold: "
            f"{'、'.join(below) or 'none'}: /t/longwo/funds/")
