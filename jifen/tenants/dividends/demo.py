"""Demo data: a settled (paid) dividend of 官田村 for this year, and a township pool simulated and
waiting for the township admin's approval. Through the service functions; loading again adds
nothing (pools are found by title, and each run is taken on from the state it is in)."""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.tenants.dividends import pools, settlement
from jifen.tenants.dividends.models import APPROVED, COMPUTING, PAID, PUBLISHED, SIMULATED, DividendPool

VILLAGE = "官田村"


def _pool(admin_actor, title: str, data: dict) -> DividendPool:
    found = db.session.execute(select(DividendPool).where(DividendPool.title == title)).scalar_one_or_none()
    return found or pools.create_pool(admin_actor, data | {"title": title})


def _simulated(admin_actor, pool: DividendPool):
    """The pool's run, simulated (computed here if no worker took it: `work` is safe alongside workers)."""
    run = settlement.current_run(pool.id)
    if run is None or run.state not in (COMPUTING, SIMULATED, APPROVED, PUBLISHED, PAID):
        run = settlement.simulate(admin_actor, pool.id)
        db.session.commit()  # the demo loader owns its transaction; the job outbox sends the run's job now
        db.session.refresh(run)
    if run.state == COMPUTING:
        settlement.work(run.id)
        db.session.refresh(run)
    return run


def load_demo(admin_actor, villages: dict) -> str | None:
    """Add this area's demo data for Longwo (idempotent); returns one line for the demo's summary."""
    if VILLAGE not in villages:
        return None
    year = clock.today().year
    village = _pool(admin_actor, f"{year}年度{VILLAGE}积分分红", {
        "village_id": villages[VILLAGE].id, "amount": "20000.00", "source": "collective_income", "period": year,
        "base_percent": 30, "min_points": 1, "veto_codes": [c for c in ("ZF04", "WM07")
                                                            if c in dict(pools.deduction_codes())],
        "note": "村集体经济收入（光伏电站、商铺租金）提取两万元，按积分分红。"})
    run = _simulated(admin_actor, village)
    if run.state == SIMULATED:
        run = settlement.approve(admin_actor, run.id)
    if run.state == APPROVED:
        run = settlement.publish(admin_actor, run.id)
    if run.state == PUBLISHED:
        run = settlement.mark_paid(admin_actor, run.id, {"payment_reference": f"紫金农商银行代发批次 {year}-12-01"})
    township = _pool(admin_actor, f"{year}年度龙窝镇积分分红（镇级）", {
        "village_id": None, "amount": "50000.00", "source": "government_subsidy", "period": year,
        "base_percent": 20, "min_points": 5, "veto_codes": [],
        "note": "镇乡村振兴专项补助，全镇按积分统一分红；待镇党委会审定。"})
    township_run = _simulated(admin_actor, township)
    db.session.commit()
    return (f"Dividends: {VILLAGE} {year} ¥{pools.yuan(village.amount_fen)} {run.state} to {run.households} "
            f"households; township pool ¥{pools.yuan(township.amount_fen)} {township_run.state} for "
            f"{township_run.households} households, waiting for approval (admin).")
