"""Seed a township for the villager's-home walk-through (issue 14): `python -m tests.browser.seed_villager_home <slug>`.

The judgment township (tests/browser/seed_judgment: an adopted rulebook, the villager's own
application on the way, a record on the village's open public notice), plus earned points for both
households, two nightly ranking snapshots (so the rank has a trend and "unchanged" is said) and the
village's honour wall link."""
from __future__ import annotations

import sys
import uuid
from datetime import time, timedelta

from sqlalchemy import select

from jifen import create_app
from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.honours import wall
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.rankings import service as rankings
from tests.browser import seed_judgment


def main(slug: str) -> None:
    seed_judgment.main(slug)
    app = create_app()
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        with tenant_scope(tenant):
            homes = db.session.execute(select(Household).order_by(Household.door_plate)).scalars().all()
            today = clock.today()
            for day_back, snap_back in ((20, 2), (10, 1)):
                day = today - timedelta(days=day_back)
                for n, h in enumerate(homes):
                    ledger.earn(household_id=h.id, points=12 - 3 * n, occurred_on=day, source_kind="activity",
                                source_id=uuid.uuid4(), memo="志愿服务")
                snap = today - timedelta(days=snap_back)
                with clock.at(clock.local_moment(snap, time(23, 0))):
                    rankings.take_snapshot(snap)
            admin = actor_for(db.session.execute(select(User).where(User.tenant_id == tenant.id, User.username == "admin")).scalar_one())
            wall.create_link(admin, homes[0].village_id)
            db.session.commit()
    print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
