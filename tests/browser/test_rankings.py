"""Rankings in a real browser on a phone: a villager's household home with its rank panel and their
village's ranking (other names masked, their own row highlighted, arrows); the township admin's
village, grid and township rankings with full names and paging.

The township is seeded in the live server's database by running this module
(`python -m tests.browser.test_rankings <slug>`): the hand-built township of tests/test_rankings.py
plus 60 more households in 官田村, two nightly snapshots through the job's body.
Assertions are on data (names, ranks, element ids), not on translated text.
"""
from __future__ import annotations

import sys

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "rankwalk"
T = f"/t/{SLUG}"
SURNAMES = "王李赵刘陈杨黄吴周徐孙马朱胡郭何林罗高钟曾邱温叶赖廖邓"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def seed(slug: str) -> dict:
    from types import SimpleNamespace

    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household
    from jifen.tenants.rankings import service
    from tests.conftest import build_township
    from tests.test_rankings import DAY1, DAY2, build, earn

    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "龙窝镇", ["官田村", "礼坑村", "梅园村"])
        db.session.commit()
        t = build(SimpleNamespace(a=township))
        with tenant_scope(db.session.get(Tenant, t.tenant_id)):
            for n in range(60):
                name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)] + GIVEN[(n * 11) % len(GIVEN)]
                h = Household(village_id=t.villages["A"], grid_node_id=t.nodes[("UA1", "UA2", "UA3")[n % 3]].id,
                              door_plate=f"{n + 10}号", head_name=name)
                db.session.add(h)
                db.session.flush()
                earn(h.id, 3 + (n * 37) % 60)
            service.take_snapshot(DAY1)
            earn(t.hh["h0"], 80, DAY2)  # the villager's household climbs to the top (90)
            earn(t.hh["hA3"], -5, DAY2)
            service.take_snapshot(DAY2)
            db.session.commit()
        return {"village": str(t.villages["A"]), "household": str(t.hh["h0"]), "node": str(t.nodes["SA"].id)}


def _seed(server_env) -> dict:
    done = run_seed(server_env, "tests.browser.test_rankings", SLUG, timeout=180)
    village, household, node = done.split()[-3:]
    return {"village": village, "household": household, "node": node}


def test_villager_and_admin_read_the_rankings_on_a_phone(browser, live_server, server_env, shot):
    ids = _seed(server_env)

    # 1. the villager (张三伟's household): the rank panel at home, then the village ranking
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        page.goto(f"{T}/login")
        sign_in(page, "villager", PASSWORD)
        ok(page.goto(f"{T}/ledger/households/{ids['household']}"), page)
        panel = page.locator("#ranking-panel")
        assert panel.locator("#rank-village .rk-big").inner_text() == "1"  # 90 points now: first in 官田村
        assert "↑" in panel.locator("#rank-village").inner_text()
        no_horizontal_scroll(page)
        shot(page, "rankings-01-household-panel")
        ok(page.goto(f"{T}/rankings/"), page)  # a villager lands on their village's ranking
        assert page.url.endswith(f"/rankings/villages/{ids['village']}")
        own = page.locator("li.rk-own")
        assert own.count() == 1 and "张三伟" in own.inner_text() and "↑" in own.inner_text()
        rows = page.locator("ol.rk-list li.rk-row")
        assert rows.count() == 50  # a page of 50 of 65
        second = rows.nth(1).inner_text()
        assert "*" in second, "other households' names are masked"
        no_horizontal_scroll(page)
        shot(page, "rankings-02-villager-village")
    finally:
        ctx.close()

    # 2. the township admin: full names, paging, a grid node, the township
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        page.goto(f"{T}/login")
        sign_in(page, "admin", PASSWORD)
        ok(page.goto(f"{T}/rankings/villages/{ids['village']}"), page)
        assert "李建国" in page.locator("ol.rk-list").inner_text()
        assert page.locator("ul.rk-grid li").count() >= 4  # the village's grid rankings
        no_horizontal_scroll(page)
        shot(page, "rankings-03-admin-village")
        with page.expect_navigation():
            page.click("a[rel=next]")
        assert page.locator("ol.rk-list li.rk-row").count() == 15
        ok(page.goto(f"{T}/rankings/grid/{ids['node']}"), page)
        assert page.locator("ol.rk-list li.rk-row").first.locator(".rk-rank").inner_text() == "1"
        no_horizontal_scroll(page)
        ok(page.goto(f"{T}/rankings/township"), page)
        assert page.locator("ol.rk-list li.rk-row").count() == 50
        no_horizontal_scroll(page)
        shot(page, "rankings-04-admin-township")
        ok(page.goto(f"{T}/rankings/"), page)
        assert page.locator("#township-ranking").count() == 1
        no_horizontal_scroll(page)
    finally:
        ctx.close()


if __name__ == "__main__":
    found = seed(sys.argv[1])
    print("seeded", found["village"], found["household"], found["node"])
