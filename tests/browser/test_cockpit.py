"""The dashboard in a real browser: the township admin's dashboard at 1366×768 draws its ECharts
charts under the Content-Security-Policy, a click on a village in the ranking opens that village's
dashboard with the filters in the URL; the 大屏 at 1920×1080; a village admin lands on their own
village. The township is seeded in the live server's database by running this module
(`python -m tests.browser.test_cockpit <slug>`): rankings' hand-built township with six months of
postings, the facts built through the job's body.
Assertions are on data (numbers, element ids), not on translated text."""
from __future__ import annotations

import sys

import pytest

from tests.browser.steps import ok, run_seed, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "cockpitwalk"
T = f"/t/{SLUG}"


def seed(slug: str) -> dict:
    from datetime import date
    from types import SimpleNamespace

    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform import clock
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.cockpit import facts
    from tests.conftest import build_township
    from tests.test_rankings import build, earn

    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "龙窝镇", ["官田村", "礼坑村", "梅园村"])
        db.session.commit()
        t = build(SimpleNamespace(a=township))
        year = clock.today().year
        with tenant_scope(db.session.get(Tenant, t.tenant_id)):
            for month in range(1, 7):
                for n, key in enumerate(sorted(t.hh)):
                    if (n + month) % 3:
                        earn(t.hh[key], (n * 7 + month * 3) % 12 - 2 or 4, date(year, month, 1 + n % 27))
            facts.build(clock.today())
            db.session.commit()
        return {"village": str(t.villages["A"]), "year": str(year)}


def test_the_admin_reads_the_dashboard_and_opens_a_village(browser, live_server, server_env, shot):
    done = run_seed(server_env, "tests.browser.test_cockpit", SLUG, timeout=180)
    village, year = done.split()[-2:]
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", base_url=live_server)
    ctx.set_default_timeout(20_000)
    try:
        page = ctx.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{T}/login")
        sign_in(page, "admin", PASSWORD)
        ok(page.goto(f"{T}/cockpit/?month={year}-06"), page)
        page.wait_for_selector("#points-by-month-box canvas")
        page.wait_for_selector("#participation-by-place-box canvas")
        assert int(page.inner_text("#ck-issued")) > 0
        assert page.locator("#ck-ranking tbody tr").count() == 3  # the three villages, ranked
        assert not [p for p in problems if "404" not in p], problems
        page.wait_for_timeout(1200)  # ECharts' animation
        shot(page, "cockpit-01-admin-1366")
        with page.expect_navigation():
            page.locator("#ck-ranking tbody a", has_text="官田村").click()
        assert f"village={village}" in page.url and f"month={year}-06" in page.url
        page.wait_for_selector("#points-by-month-box canvas")
        shot(page, "cockpit-02-village-1366")
        ok(page.goto(f"{T}/cockpit/ranking?month={year}-06"), page)  # the whole ranking: every village
        assert page.locator("#ck-ranking tbody tr").count() == 3
        with page.expect_navigation():
            page.locator("#ck-back").click()
        assert page.url.endswith(f"/cockpit/?period={year}&month={year}-06")

        page.set_viewport_size({"width": 1920, "height": 1080})
        ok(page.goto(f"{T}/cockpit/screen?month={year}-06"), page)
        page.wait_for_selector("#points-by-month-box canvas")
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "60"
        page.wait_for_timeout(1200)
        page.screenshot(path=str(_path("cockpit-03-screen-1920")))  # the screen as it is, not the full page
    finally:
        ctx.close()


def _path(name: str):
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


if __name__ == "__main__":
    found = seed(sys.argv[1])
    print("seeded", found["village"], found["year"])
