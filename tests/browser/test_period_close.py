"""Closing last year on phones: the township admin chooses the year-end policy, opens the periods
page, confirms the close of last year, sees its summary; the villager's passbook reads the close in
both years. Assertions are on data (ids, numbers, states), not on translated text."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, run_seed, signed_in, submit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinkoupc"
T = f"/t/{SLUG}"
YEAR = datetime.now(ZoneInfo("Asia/Shanghai")).year
LAST = YEAR - 1


def _seed(server_env) -> None:
    run_seed(server_env, "tests.browser.seed_periods", SLUG, timeout=120)


def _signed_in(browser, live_server, username: str):
    ctx, page = signed_in(browser, live_server, SLUG, username, PASSWORD)
    return ctx, page


def test_admin_closes_last_year_and_the_villager_reads_it(browser, live_server, server_env, shot):
    _seed(server_env)
    ctx, page = _signed_in(browser, live_server, "admin")
    try:
        # the year-end policy: carry over, at most 10 per household
        ok(page.goto(f"{T}/ledger/settings"), page)
        assert page.locator("input[name=period_end][value=carry_over]").is_checked()
        page.fill("input[name=carry_over_limit]", "10")
        no_horizontal_scroll(page)
        shot(page, "periods-01-settings")
        ok(submit(page, "main form"), page)
        assert page.locator("input[name=carry_over_limit]").input_value() == "10"

        page.goto(f"{T}/")
        page.locator(f'ul.tiles a[href="{T}/periods/"]').click()
        page.wait_for_url(f"**{T}/periods/")
        last = page.locator(f"#p-{LAST}")
        assert last.get_attribute("data-status") == "unclosed"
        assert page.locator(f"#p-{YEAR}").get_attribute("data-status") == "open"
        assert last.locator(".pc-earned").inner_text() == "25"
        assert last.locator(".pc-waiting").inner_text() == "19"
        no_horizontal_scroll(page)
        shot(page, "periods-02-before-close")

        last.locator("a.pc-close").click()
        page.wait_for_url(f"**{T}/periods/close?period={LAST}")
        assert page.locator("#pv-households").inner_text() == "2"
        assert page.locator("#pv-carried").inner_text() == "15"  # 10 (limit) + 5
        assert page.locator("#pv-expired").inner_text() == "4"
        no_horizontal_scroll(page)
        shot(page, "periods-03-confirm")
        ok(submit(page, "form.pc-confirm"), page)
        assert page.url.endswith(f"{T}/periods/?closed={LAST}#p-{LAST}"), page.url
        last = page.locator(f"#p-{LAST}")
        assert last.get_attribute("data-status") == "done"
        assert (last.locator(".pc-carried").inner_text(), last.locator(".pc-expired").inner_text()) == ("15", "4")
        assert last.locator(".pc-earned").inner_text() == "25"  # earned points of the year stay
        assert last.locator("a.pc-rankings").get_attribute("href").endswith(f"/rankings/?period={LAST}")
        assert page.locator("a.pc-close").count() == 0
        no_horizontal_scroll(page)
        shot(page, "periods-04-closed")
    finally:
        ctx.close()

    ctx, page = _signed_in(browser, live_server, "villager")
    try:
        page.goto(f"{T}/ledger/me")
        page.locator("ul.lg-links a", has_text="").first.click()
        page.wait_for_url("**/passbook")
        row = page.locator("tr.lg-carried-in")
        assert row.get_attribute("data-available") == "10"
        assert page.locator("#available").inner_text() == "11"  # 10 carried in + 1 earned this year
        no_horizontal_scroll(page)
        shot(page, "periods-05-passbook-this-year")
        page.select_option("select[name=period]", str(LAST))
        page.wait_for_url(f"**/passbook?period={LAST}")
        row = page.locator("tr.lg-close")
        assert row.get_attribute("data-available") == "-14"
        assert page.locator("#earned").inner_text() == "20" and page.locator("#available").inner_text() == "0"
        no_horizontal_scroll(page)
        shot(page, "periods-06-passbook-last-year")
    finally:
        ctx.close()
