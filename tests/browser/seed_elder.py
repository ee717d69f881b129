"""Seed a township for the elder-friendly walk-through (issue 14): `python -m tests.browser.seed_elder <slug>`.

The judgment township (tests/browser/seed_judgment: the points world, a public notice of 琴南村 with
an item of the villager's household) plus two entries in that household's passbook."""
from __future__ import annotations

import sys
import uuid

from sqlalchemy import select

from jifen import create_app
from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from tests.browser import seed_judgment


def main(slug: str) -> None:
    seed_judgment.main(slug)
    app = create_app()
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        with tenant_scope(tenant):
            household = db.session.execute(select(Household).where(Household.head_name == "张三伟")).scalar_one()
            for points, memo in ((5, "清理村道垃圾"), (3, "参加村民代表大会")):
                ledger.earn(household_id=household.id, points=points, occurred_on=clock.today(),
                            source_kind="application", source_id=uuid.uuid4(), memo=memo)
            db.session.commit()
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
