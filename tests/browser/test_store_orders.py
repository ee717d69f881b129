"""Store orders on phones, in a real Chromium: a villager orders on the phone, the storekeeper hands
the goods over at the desk; the storekeeper prints household QR cards and serves the other household
at the counter by its typed card code; the passbook shows the redemption.

Seeded by `python -m tests.browser.seed_store_orders` (the same services the other tests use).
Assertions are on data (ids, numbers, states, URLs), not on translated text."""
from __future__ import annotations

import re

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in, signed_in, submit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanorders"
T = f"/t/{SLUG}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _seed(server_env) -> None:
    run_seed(server_env, "tests.browser.seed_store_orders", SLUG, timeout=180)


def _signed_in(browser, live_server, username: str):
    ctx, page = signed_in(browser, live_server, SLUG, username, PASSWORD)
    return ctx, page


def _qty(page, name: str):
    return page.locator(f"li.or-item[data-item='{name}'] input.or-qty")


def _villager_orders(browser, live_server, shot) -> str:
    ctx, page = _signed_in(browser, live_server, "villager")
    try:
        page.locator(f'#next-steps a[href="{T}/orders/shop"]').click()  # from the villager's home
        page.wait_for_url(f"**{T}/orders/shop")
        assert page.locator("#available").inner_text().strip() == "100"
        assert _qty(page, "洗衣粉").is_disabled()  # out of stock
        _qty(page, "牙膏").fill("2")
        _qty(page, "毛巾").fill("1")
        no_horizontal_scroll(page)
        shot(page, "orders-01-villager-shop")
        with page.expect_navigation() as nav:
            page.locator("#review").click()
        ok(nav.value, page)
        assert page.locator("#total").inner_text().strip() == "28"
        assert (page.locator("#before").inner_text(), page.locator("#after").inner_text()) == ("100", "72")
        no_horizontal_scroll(page)
        shot(page, "orders-02-villager-review")
        with page.expect_navigation() as nav:
            page.locator("#confirm").click()
        ok(nav.value, page)
        m = re.fullmatch(rf".*{T}/orders/({UUID})\?done=1", page.url)
        assert m, page.url
        assert page.locator("#state").inner_text().strip() and page.locator("#done").count() == 1
        assert page.locator("#after").inner_text().strip() == "72"
        no_horizontal_scroll(page)
        shot(page, "orders-03-villager-ordered")
        return m.group(1), page.locator("#pickup-code").inner_text().strip()
    finally:
        ctx.close()


def _keeper_hands_over(browser, live_server, order_id, pickup, shot):
    ctx, page = _signed_in(browser, live_server, "keeper")
    try:
        page.locator(f'ul.tiles a[href="{T}/orders/desk"]').click()
        page.wait_for_url(f"**{T}/orders/desk")
        row = page.locator("#waiting li.or-row")
        assert row.count() == 1 and row.get_attribute("data-state") == "open"
        assert "张三伟" in row.inner_text()
        no_horizontal_scroll(page)
        shot(page, "orders-04-keeper-desk")
        row.locator("input[name=pickup_code]").fill(pickup)  # the code the villager shows, typed in the row
        with page.expect_navigation() as nav:
            row.locator("form.or-hand button").click()
        ok(nav.value, page)
        assert page.locator("#waiting li").count() == 0
        assert page.locator("#today li.or-row").get_attribute("data-state") == "handed_over"
        ok(page.goto(f"{T}/orders/{order_id}"), page)
        assert page.locator("#state").inner_text().strip()
        assert page.locator("#hand-over").count() == 0
        ok(page.goto(f"{T}/orders/low-stock"), page)
        assert page.locator("#low li[data-item='毛巾']").count() == 1
        no_horizontal_scroll(page)
        shot(page, "orders-05-low-stock")
    finally:
        ctx.close()


def _cards_and_counter(browser, live_server, shot):
    ctx, page = _signed_in(browser, live_server, "keeper")
    try:
        ok(page.goto(f"{T}/orders/cards"), page)
        page.locator("ul.or-nodes a").first.click()
        page.wait_for_url(re.compile(rf".*{T}/orders/cards/{UUID}$"))
        resp = submit(page, "#missing form")
        ok(resp, page)
        card = page.locator(".hcard", has_text="李四")
        assert card.count() == 1 and card.locator("svg").count() == 1
        code = card.get_attribute("data-code")
        link = card.get_attribute("data-link")
        assert link.endswith(f"{T}/orders/counter?card={code}")
        shot(page, "orders-06-cards-sheet-phone")
        page.set_viewport_size({"width": 900, "height": 1200})
        shot(page, "orders-07-cards-sheet-wide")
        page.emulate_media(media="print")
        assert page.locator(".bar").is_hidden()
        page.emulate_media(media="screen")
        page.set_viewport_size({"width": 390, "height": 844})

        ok(page.goto(f"{T}/orders/counter"), page)
        page.fill("#f-q", f"{code[:4].lower()} {code[4:].lower()}")  # typed from the card, sloppily
        with page.expect_navigation() as nav:
            page.locator("form.or-find button").click()
        ok(nav.value, page)
        assert "李四" in page.locator("#household h2").inner_text()
        assert page.locator("#available").inner_text().strip() == "20"
        _qty(page, "毛巾").fill("2")
        no_horizontal_scroll(page)
        shot(page, "orders-08-counter")
        with page.expect_navigation() as nav:
            page.locator("#review").click()
        ok(nav.value, page)
        assert (page.locator("#before").inner_text(), page.locator("#after").inner_text()) == ("20", "4")
        with page.expect_navigation() as nav:
            page.locator("#confirm").click()
        ok(nav.value, page)
        assert re.fullmatch(rf".*{T}/orders/{UUID}\?done=1", page.url), page.url
        assert (page.locator("#before").inner_text(), page.locator("#after").inner_text()) == ("20", "4")
        no_horizontal_scroll(page)
        shot(page, "orders-09-counter-handed-over")
        # the scanned QR link opens the same household
        ok(page.goto(link), page)
        assert page.locator("#available").inner_text().strip() == "4"
    finally:
        ctx.close()
    # scanned on a phone that is not signed in yet: sign in first, then straight to the household
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(link), page)
        assert "/login" in page.url
        ok(sign_in(page, "keeper", PASSWORD), page)
        assert page.url.endswith(f"{T}/orders/counter?card={code}"), page.url
        assert "李四" in page.locator("#household h2").inner_text()
    finally:
        ctx.close()


def _passbook(browser, live_server, shot):
    ctx, page = _signed_in(browser, live_server, "villager")
    try:
        page.goto(f"{T}/ledger/me")  # the household page; the villager's home: test_villager_home
        page.wait_for_url(re.compile(rf".*{T}/ledger/households/{UUID}$"))
        assert page.locator("#available .lg-num").inner_text().strip() == "72"
        shot(page, "orders-10-villager-home")
        page.goto(page.url + "/passbook")
        rows = page.locator("tr.lg-order")
        assert rows.count() == 2
        assert {rows.nth(i).get_attribute("data-available") for i in range(2)} == {"-28", "0"}
        no_horizontal_scroll(page)
        shot(page, "orders-11-passbook")
        ok(page.goto(f"{T}/orders/"), page)
        assert page.locator("li.or-row").count() == 1
        assert page.locator("li.or-row").get_attribute("data-state") == "handed_over"
    finally:
        ctx.close()


def test_villager_orders_storekeeper_hands_over_and_serves_the_counter(browser, live_server, server_env, shot):
    _seed(server_env)
    order_id, pickup = _villager_orders(browser, live_server, shot)
    _keeper_hands_over(browser, live_server, order_id, pickup, shot)
    _cards_and_counter(browser, live_server, shot)
    _passbook(browser, live_server, shot)
