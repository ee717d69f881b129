"""A dividend on a phone, in real Chromium: the township admin sets up a village pool, simulates it,
approves it, puts the list on public notice, downloads the bank payment sheet and marks it paid;
anyone reads the public notice (names masked) and its A4 print.

The township is seeded in the live server's database by `python -m tests.browser.test_dividends
<slug>` (this module: the same setup the service tests use, tests/test_dividends.setup_dividends).
Assertions are on data (ids, amounts, states, URLs), not on translated text.
"""
from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "fenhong"
T = f"/t/{SLUG}"


def _seed(server_env) -> None:
    run_seed(server_env, "tests.browser.test_dividends", SLUG, timeout=180)


def _click(page, selector: str):
    with page.expect_navigation() as nav:
        page.click(selector)
    ok(nav.value, page)


def test_township_admin_simulates_approves_publishes_and_pays_a_dividend(browser, live_server, server_env, shot,
                                                                         tmp_path):
    _seed(server_env)
    ctx = phone_context(browser, live_server)
    page = ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "approve these amounts?"
    ok(page.goto(f"{T}/login"), page)
    ok(sign_in(page, "admin", PASSWORD), page)
    _click(page, f"a[href='{T}/dividends/']")  # the home tile
    _click(page, "#new-pool")
    page.fill("#f-title", "2026年度琴南村积分分红")
    page.select_option("#f-village_id", label="琴南村")  # the village setup_dividends gave points
    page.fill("#f-amount", "20000.00")
    page.select_option("#f-source", "collective_income")
    page.fill("#f-base_percent", "30")
    page.fill("#f-min_points", "0")
    page.check("input[name=veto_codes][value=D1]")
    no_horizontal_scroll(page)
    shot(page, "dividends-01-new-pool")
    _click(page, "#save-pool")
    assert "/dividends/" in page.url and page.locator("[data-state=none]").count() == 1

    _click(page, "#simulate")
    assert page.locator(".bar [data-state]").get_attribute("data-state") == "simulated"
    assert page.inner_text("#households") == "7" and page.inner_text("#total") == "20,000.00"
    assert page.locator("tr.dv-row").count() == 7
    no_horizontal_scroll(page)
    shot(page, "dividends-02-simulated")

    _click(page, "#approve")
    assert page.locator(".bar [data-state]").get_attribute("data-state") == "approved"
    _click(page, "#publish")
    assert page.locator(".bar [data-state]").get_attribute("data-state") == "published"
    public_url = page.get_attribute("#public-link", "href")
    assert "/dividends/public/" in public_url

    with page.expect_download() as download:
        page.click("#sheet")
    sheet = tmp_path / "sheet.xlsx"
    download.value.save_as(sheet)
    from openpyxl import load_workbook
    rows = list(load_workbook(sheet).active.iter_rows(values_only=True))
    assert len(rows) == 2 + 7 + 1  # title, header, households, total
    assert sum(Decimal(str(r[5])) for r in rows[2:-1]) == Decimal("20000.00") == Decimal(str(rows[-1][5]))

    page.fill("#f-payment_reference", "琴南农商行代发 2026-12-01")
    _click(page, "#pay")
    assert page.locator(".bar [data-state]").get_attribute("data-state") == "paid"
    assert page.locator("#paid").count() == 1 and page.locator("#pay").count() == 0
    no_horizontal_scroll(page)
    shot(page, "dividends-03-paid")
    ok(page.goto(f"{T}/dividends/"), page)
    assert page.locator("#pools [data-state]").get_attribute("data-state") == "paid"
    no_horizontal_scroll(page)
    shot(page, "dividends-00-index")

    anyone = phone_context(browser, live_server)  # not signed in
    notice = anyone.new_page()
    ok(notice.goto(public_url), notice)
    names = notice.locator("td.nt-name").all_inner_texts()
    assert len(names) == 7 and "张*伟" in names and "张三伟" not in notice.content()
    no_horizontal_scroll(notice)
    shot(notice, "dividends-04-public-notice")
    a4 = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN", base_url=live_server)
    printed = a4.new_page()
    ok(printed.goto(public_url + "/print"), printed)
    assert printed.locator(".dv-sign span").count() == 3 and "张*伟" in printed.content()
    shot(printed, "dividends-05-print")
    for c in (ctx, anyone, a4):
        c.close()


def main(slug: str) -> None:
    """Seed: a township with two villages, the points rulebook, and households with this year's
    points in the first village (tests/test_dividends.setup_dividends)."""
    from types import SimpleNamespace

    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from tests.conftest import build_township
    from tests.points_world import setup_points
    from tests.test_dividends import setup_dividends

    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "琴南镇", ["琴南村", "光明村"])
        db.session.commit()
        world = SimpleNamespace(a=township)
        pw = setup_points(world)
        with tenant_scope(db.session.get(Tenant, township.tenant_id)):
            setup_dividends(world, pw)
        print("seeded", slug)


if __name__ == "__main__":
    main(sys.argv[1])
