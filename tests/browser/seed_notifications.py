"""Seed a township for the notification walk-through: `python -m tests.browser.seed_notifications <slug>`.

The points world (tests/points_world), then what waits for staff (an application to verify, one to
certify) and this morning's staff digest, and one SMS delivery that a failing gateway (a local fake,
NOTIFY_MAX_ATTEMPTS=1) left dead, for the admin's delivery page. All through the service functions."""
from __future__ import annotations

import sys
from types import SimpleNamespace

from sqlalchemy import select

from jifen import create_app
from jifen.platform import clock
from jifen.platform.accounts.models import Operator, User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import build_township
from tests.fake_provider import FakeProvider
from tests.points_world import setup_points


def main(slug: str) -> None:
    gateway = FakeProvider().start()
    app = create_app({"SMS_URL": gateway.url("/sms"), "NOTIFY_MAX_ATTEMPTS": 1})
    with app.app_context():
        from jifen.tenants.notifications import delivery, digest, preferences
        from jifen.tenants.points import applications as apps

        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴口镇", ["琴口村", "琴南村"])
        db.session.commit()
        pw = setup_points(SimpleNamespace(a=township))
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
        with tenant_scope(tenant):
            def who(name):
                return actor_for(db.session.execute(select(User).where(User.username == name)).scalar_one())

            today = clock.today().isoformat()
            apps.self_apply(who("villager"), pw.household, {"item_code": "A2", "occurred_on": today,
                                                            "description": "打扫卫生"})
            second = apps.self_apply(who("villager2"), pw.household2, {"item_code": "A2", "occurred_on": today,
                                                                       "description": "清理河道"})
            apps.verify(who("gridder"), second.id)
            db.session.commit()
            digest.run(tenant, clock.today())
            preferences.update_preferences(who("admin"), pw.household2, {"channel": "sms"})
            gateway.fail(10, "500")
            delivery.deliver_all(tenant.id)
    gateway.stop()
    print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
