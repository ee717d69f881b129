"""The villager's own trend on a phone (390 px): the points-by-month bars and the rank line drawn
by the server as SVG (no script needed), the numbers' table folded under each, the workbook link.

The township is seeded in the live server's database by running this module
(`python -m tests.browser.test_trend <slug>`): a village of eight households with postings in
every month of this year so far, month-end ranking snapshots and the facts built last night.
"""
from __future__ import annotations

import sys

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "trendwalk"
T = f"/t/{SLUG}"
NEIGHBOURS = ["李建国", "王秀英", "赵志强", "刘桂兰", "陈德明", "杨春花", "黄国栋"]


def seed(slug: str) -> dict:
    import uuid
    from datetime import date, time, timedelta

    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform import clock
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.cockpit import facts
    from jifen.tenants.households.models import Household
    from jifen.tenants.points import ledger
    from jifen.tenants.rankings import service as rankings
    from tests.conftest import build_township

    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        t = build_township(actor_for(op), slug, "龙窝镇", ["官田村", "礼坑村"])
        db.session.commit()
        with tenant_scope(db.session.get(Tenant, t.tenant_id)):
            homes = [t.household]
            for n, name in enumerate(NEIGHBOURS):
                h = Household(village_id=t.villages[0], grid_node_id=t.grid[-1], door_plate=f"{n + 2}号",
                              head_name=name)
                db.session.add(h)
                db.session.flush()
                homes.append(h.id)
            today = clock.today()
            for m in range(1, today.month + 1):
                first = date(today.year, m, 1)
                end = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                for i, h in enumerate(homes):
                    day = first + timedelta(days=min(4 + i, max(today.day - 1, 0) if m == today.month else 27))
                    points = 3 + (m * 7 + i * 5) % 11 if i else 4 + (m * 5) % 9  # the villager's: up and down
                    with clock.at(clock.local_moment(day, time(10, 0))):
                        tx = ledger.earn(household_id=h, points=points, occurred_on=day, source_kind="activity",
                                         source_id=uuid.uuid4(), memo="志愿服务").transaction
                        if i == 0 and m % 3 == 2:
                            ledger.earn(household_id=h, points=-2, occurred_on=day, source_kind="activity",
                                        source_id=uuid.uuid4(), memo="环境卫生扣分")
                        if i == 0 and m % 2 == 1:
                            ledger.spend(household_id=h, points=3, period=today.year, source_kind="redemption",
                                         source_id=uuid.uuid4(), on=day)
                        if i == 0 and m == 2:
                            ledger.correct(tx, new_points=points - 1, reason="核实更正", request_id=uuid.uuid4())
                snap = end if end < today else today - timedelta(days=1)
                if snap.month == m:
                    with clock.at(clock.local_moment(snap, time(23, 0))):
                        rankings.take_snapshot(snap)
            with clock.at(clock.local_moment(today, time(2, 30))):
                facts.build(today - timedelta(days=1))
            db.session.commit()
        return {"household": str(t.household), "months": today.month}


def test_the_villager_sees_their_points_and_rank_by_month_on_a_phone(browser, live_server, server_env, shot):
    done = run_seed(server_env, "tests.browser.test_trend", SLUG, timeout=180)
    household, months = done.split()[-2:]
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        page.goto(f"{T}/login")
        sign_in(page, "villager", PASSWORD)
        ok(page.goto(f"{T}/ledger/households/{household}"), page)
        panel = page.locator("#trend-panel")
        assert panel.locator("h2").inner_text() == "我的积分走势"
        bars = panel.locator("#points-trend-svg")
        assert bars.is_visible() and bars.get_attribute("role") == "img"
        assert bars.bounding_box()["width"] <= 360
        assert panel.locator("#rank-trend-svg").is_visible()
        table = panel.locator("#chart-points-trend table")
        assert not table.is_visible()  # folded: the chart first
        panel.screenshot(path=str(SCREENSHOTS / "trend-02-panel.png"))
        panel.locator("#chart-points-trend summary").click()
        assert table.is_visible() and table.locator("tbody tr").count() == int(months)
        assert panel.locator("#chart-points-trend .chart-download a").is_visible()
        assert page.evaluate("typeof window.echarts") == "undefined"  # no chart library on a phone page
        no_horizontal_scroll(page)
        panel.scroll_into_view_if_needed()
        shot(page, "trend-01-villager-home")
    finally:
        ctx.close()


if __name__ == "__main__":
    found = seed(sys.argv[1])
    print("seeded", found["household"], found["months"])
