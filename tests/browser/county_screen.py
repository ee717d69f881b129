"""The county 大屏 (data screen) at 1920×1080, over the demo: how docs/screenshots/cockpit-county-screen.png
was taken.

    JIFEN_DATABASE_URL=sqlite:///…/jifen.db jifen db upgrade && jifen demo
    JIFEN_DATABASE_URL=… python -m tests.browser.county_screen seed      # two more townships of 紫金县
    JIFEN_DATABASE_URL=… jifen run --port 5391 &
    python -m tests.browser.county_screen shot http://127.0.0.1:5391 out.png [zh_CN|en]

The demo has one township (龙窝镇); a county screen compares townships, so `seed` onboards two
more of Zijin's (九和镇, 上义镇) with generated households and a year of activity points (through
the ledger, as the facts tests do), and builds every township's facts on the last night of each
past month (the month-end coverage a year of nightly runs would have kept) and tonight.
"""
from __future__ import annotations

import random
import sys
import uuid
from datetime import date, time, timedelta

PASSWORD = "Longwo-demo-2026"
TOWNS = [("jiuhe", "九和镇", ["彭坊村", "嶂下村", "新建村", "上坝村"], 260, 0.35),
         ("shangyi", "上义镇", ["上义村", "岩前村", "下坝村"], 180, 0.22)]
SURNAMES = "王李赵刘陈杨黄吴周徐孙马朱胡郭何林罗高钟曾邱温叶赖廖邓"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def seed() -> None:
    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform import clock
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships import service as townships
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.cockpit import facts
    from jifen.tenants.households.models import Household
    from jifen.tenants.points import ledger
    from jifen.tenants.villages import service as villages
    from jifen.tenants.villages.models import GridNode

    app = create_app()
    rng = random.Random(13)
    with app.app_context():
        op = actor_for(db.session.execute(select(Operator).where(Operator.username == "operator")).scalar_one())
        today = clock.today()
        for slug, name, village_names, per_village, rate in TOWNS:
            if db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none():
                continue
            tenant, admin, _secret = townships.onboard(op, {"slug": slug, "name": name, "timezone": "Asia/Shanghai",
                                                            "admin_username": "admin", "admin_display_name": "管理员"})
            with tenant_scope(tenant):
                households = []
                for i, village_name in enumerate(village_names):
                    village = villages.create_village(actor_for(admin), {"name": village_name, "code": f"{slug}-{i}"})
                    node = GridNode(level=1, name=f"{village_name}网格", village_id=village.id, path="/")
                    db.session.add(node)
                    db.session.flush()
                    node.path = f"/{node.id}/"
                    for n in range(per_village):
                        head = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
                        h = Household(village_id=village.id, grid_node_id=node.id, door_plate=f"{n + 1}号",
                                      head_name=head)
                        db.session.add(h)
                        households.append(h)
                db.session.flush()
                for month in range(1, today.month + 1):
                    last = today.day if month == today.month else 28
                    for h in households:
                        if rng.random() < rate * (0.7 + month / 20):
                            day = date(today.year, month, rng.randint(1, last))
                            with clock.at(clock.local_moment(day, time(10, 0), tenant)):
                                points = rng.choice([2, 3, 3, 5, 5, 8, -2, -5])
                                ledger.earn(household_id=h.id, points=points, occurred_on=day,
                                            source_kind="activity", source_id=uuid.uuid4(), memo="活动")
                db.session.commit()
        for tenant in db.session.execute(select(Tenant)).scalars().all():
            with tenant_scope(tenant):
                nights = [date(today.year, m + 1, 1) - timedelta(days=1) for m in range(1, today.month)]
                for night in nights + [today]:
                    with clock.at(clock.local_moment(night, time(2, 30), tenant)):
                        facts.build(night, full=night == (nights or [today])[0])
            db.session.commit()
    print("seeded")


def shot(base: str, out: str, locale: str | None = None) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(base + "/county/login")
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("main form button")
        page.goto(base + "/county/cockpit/screen")
        if locale:
            with page.expect_navigation():
                page.click(f"footer button[value={locale}]")
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed()
    else:
        shot(*sys.argv[2:])
