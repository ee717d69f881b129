"""Seed a township for the period-close walk-through in the live server's database:
`python -m tests.browser.seed_periods <slug>`: the points township of seed_points, with points
earned (and some spent) last year by its two households, and a few this year, through the real
ledger."""
from __future__ import annotations

import sys
from datetime import date
from types import SimpleNamespace

from sqlalchemy import select

from jifen import create_app
from jifen.platform import clock
from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db, new_id
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import ledger
from jifen.tenants.points.models import REDEMPTION
from tests.conftest import build_township
from tests.points_world import setup_points


def main(slug: str) -> None:
    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴口镇", ["琴口村", "琴南村"])
        db.session.commit()
        pw = setup_points(SimpleNamespace(a=township))
        with tenant_scope(db.session.get(Tenant, township.tenant_id)):
            year = clock.today().year
            last = year - 1
            for household, memo, points, day in (
                    (pw.household, "测试项A1：清理村道垃圾", 12, date(last, 3, 2)),
                    (pw.household, "测试项S1：环境卫生检查优秀", 8, date(last, 9, 18)),
                    (pw.household2, "测试项V1：参加村民大会", 5, date(last, 6, 1)),
                    (pw.household, "测试项V1：参加村民大会", 1, date(year, 1, 20))):
                ledger.earn(household_id=household, points=points, occurred_on=day, source_kind="application",
                            source_id=new_id(), memo=memo, certified_by="panel1、panel2")
            ledger.spend(household_id=pw.household, points=6, period=last, source_kind=REDEMPTION,
                         source_id=new_id(), on=date(last, 11, 5), memo="积分超市：洗衣粉")
            db.session.commit()
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
