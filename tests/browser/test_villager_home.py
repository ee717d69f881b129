"""The villager's own home on a phone (issue 14), at 390 px in Chromium: after signing in the
villager lands on their household (balance, rank with its trend said in words, what to do next,
the village's open notice, this village's rules each with "apply for this", the honour wall), every
link answers 200 without a redirect, "apply for this" opens the form with the item chosen, and no
rule code is shown; staff still land on their tiles.

The township is seeded by `python -m tests.browser.seed_villager_home`. Assertions are on ids,
classes, URLs and data."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.steps import in_type_size, no_horizontal_scroll, run_seed, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanhome"


def test_the_villager_lands_on_their_own_home(browser, live_server, server_env, type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG)
    T = f"/t/{slug}"
    run_seed(server_env, "tests.browser.seed_villager_home", slug, timeout=180)
    ctx, page = signed_in(browser, live_server, slug, "villager", PASSWORD, large=large)
    try:
        assert page.url == f"{live_server}{T}/", page.url  # straight home after signing in
        assert page.locator("ul.tiles").count() == 0, "no staff tiles"
        assert int(page.locator("#earned .lg-num").inner_text()) > 0
        assert page.locator("#next-steps a.button").count() >= 4
        assert page.locator("main a[href$='/orders/shop']").count() == 1, "the store is offered once"
        assert page.locator("#ranking-panel #rank-village .rk-big").inner_text().strip() == "1"
        same = page.locator("#ranking-panel .rk-move.same").first
        assert same.inner_text().strip() == "持平" and same.bounding_box()["width"] > 20  # said, not a tiny dash
        assert page.locator("#notice-panel a[data-notice]").count() == 1  # the village's open notice
        assert page.locator("#honour-wall").count() == 1
        assert page.locator("#trend-panel svg").count() >= 1
        rules = page.locator("#rules li.vh-rule")
        assert rules.count() == 3
        for button in page.locator("#next-steps a.button, #rules a.vh-apply").all():
            assert button.bounding_box()["height"] >= 44, button.inner_text()
        text = page.locator("main").inner_text()
        assert not re.search(r"\b(A1|A2|V1|S1|D1)\b", text), "no rule codes"
        assert "草稿" not in text
        no_horizontal_scroll(page)
        shot(page, "villager-home-01-home")
        page.locator("#rules").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"villager-home-02-rules-view{'-large' if large else ''}.png"))  # the rules, as the phone shows them

        links = [a.get_attribute("href") for a in page.locator("main a[href^='/t/']").all()]
        assert links
        for href in dict.fromkeys(links):  # each link lands on its page: no redirect on the way
            resp = page.request.get(href, max_redirects=0)
            assert resp.status == 200, (href, resp.status)

        first = page.locator("#rules li.vh-rule").first
        with page.expect_navigation():
            first.locator("a.vh-apply").click()
        item = re.search(r"item_id=([0-9a-f-]{36})", page.url).group(1)
        assert page.locator("#f-item_id").input_value() == item
        in_type_size(page, large)
        no_horizontal_scroll(page)
        shot(page, "villager-home-03-apply-for-this")
    finally:
        ctx.close()

    ctx, page = signed_in(browser, live_server, slug, "admin", PASSWORD, large=large)
    try:
        assert page.locator("ul.tiles li").count() > 5 and page.locator("#next-steps").count() == 0
    finally:
        ctx.close()
