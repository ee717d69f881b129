"""The grid worker's and the panel's judgment on a phone (issue 14), at 390 px in Chromium: the
work queue shows the evidence (thumbnails, the item's photo-needed mark) and offers no approve
button on the proxy entry its reader filed; a villager reaches the village's notice from the
public link (signing in on the way) and from home, objects, and the row says so; the form says who
sees the name and the public page never shows it.

The township is seeded by `python -m tests.browser.seed_judgment`. Assertions are on ids, classes,
URLs and data; the Chinese words the tests of the pages check are checked here only where they are
the point (需附照片, the note on who sees the name)."""
from __future__ import annotations

import re

import pytest

from tests.browser.steps import (
    in_type_size,
    no_horizontal_scroll,
    ok,
    phone_context,
    run_seed,
    sign_in,
    signed_in,
    submit,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanjdg"
OBJECTOR = "villager2"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _queue(browser, live_server, shot, slug: str, large: bool):
    ctx, page = signed_in(browser, live_server, slug, "gridder", PASSWORD, large=large)
    T = f"/t/{slug}"
    try:
        ok(page.goto(f"{T}/points/queue"), page)
        in_type_size(page, large)
        rows = page.locator("#to-verify li.pt-qrow")
        assert rows.count() == 2
        own = page.locator("#to-verify li.pt-qrow:has(.pt-evidence img)")
        assert own.count() == 1, "the villager's application shows its photo"
        img = own.locator(".pt-evidence img")
        assert img.get_attribute("loading") == "lazy" and img.get_attribute("width") == "64"
        img.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        box = img.bounding_box()
        assert 60 <= box["width"] <= 68 and 60 <= box["height"] <= 68, box
        assert "需附照片" in own.locator("[data-evidence-required]").inner_text()
        assert own.locator('form[action$="/verify"] button').count() == 1
        proxy = page.locator("#to-verify li.pt-qrow:has(.pt-filed-by-me)")
        assert proxy.count() == 1
        assert proxy.locator('form[action$="/verify"]').count() == 0, "no approve for one's own proxy entry"
        assert proxy.locator('form[action$="/reject"]').count() == 1
        for row in (own, proxy):  # tap targets on a phone
            for button in row.locator("button").all():
                assert button.bounding_box()["height"] >= 40, button.inner_text()
        no_horizontal_scroll(page)
        shot(page, "judgment-01-queue-evidence-and-own-proxy")
    finally:
        ctx.close()


def _object(browser, live_server, shot, slug: str, large: bool) -> tuple[str, str]:
    """The public link, not signed in: a sign-in link that comes back; object; the row says so."""
    ctx = phone_context(browser, live_server)
    T = f"/t/{slug}"
    try:
        page = ctx.new_page()
        # the link a notice board's QR code or a neighbour's message carries: staff copy it from the notice
        staff, staff_page = signed_in(browser, live_server, slug, "panel1", PASSWORD, large=large)
        ok(staff_page.goto(f"{T}/notices/"), staff_page)
        ok(staff_page.goto(staff_page.locator(f'main li a[href^="{T}/notices/"]').first.get_attribute("href")),
           staff_page)
        link = staff_page.locator(f'main a[href^="{T}/notices/public/"]').first.get_attribute("href")
        staff.close()
        ok(page.goto(link), page)
        if large:  # the elder chooses large type on the public page, before signing in
            with page.expect_navigation():
                page.locator("form.type-size button").click()
        in_type_size(page, large)
        assert page.locator("a.nt-object").count() == 0
        signin = page.locator("#notice-signin a")
        assert signin.count() == 1
        no_horizontal_scroll(page)
        shot(page, "judgment-02-public-notice-sign-in-link")
        signin.click()
        page.wait_for_url(re.compile(rf".*{T}/login\?next=.*"))
        ok(sign_in(page, OBJECTOR, PASSWORD), page)
        assert page.url == f"{live_server}{link}", page.url
        button = page.locator("a.nt-object")
        assert button.count() == 1
        app_id = re.search(rf"/items/({UUID})/object", button.get_attribute("href")).group(1)
        button.click()
        page.wait_for_url(f"**{link}/items/{app_id}/object")
        who_sees = page.locator("#who-sees")
        assert "认定监督工作组" in who_sees.inner_text() and "不会显示" in who_sees.inner_text()
        page.fill("textarea[name=reason]", "那天没看到他参加志愿服务")
        in_type_size(page, large)
        no_horizontal_scroll(page)
        shot(page, "judgment-03-objection-form")
        ok(submit(page, "main form.nt-object-form"), page)
        row = page.locator(f"tr.nt-row[data-application='{app_id}']")
        assert row.locator("[data-objected]").count() == 1 and row.locator("a.nt-object").count() == 0
        no_horizontal_scroll(page)
        shot(page, "judgment-04-objected-row")
        name = page.locator("header a[href$='/account']").first.inner_text().strip()
        assert name not in page.locator("main").inner_text()

        ok(page.goto(f"{T}/ledger/me"), page)
        panel = page.locator("#notice-panel")
        assert panel.count() == 1 and panel.locator(f'a[href="{link}"]').count() == 1
        assert panel.locator(".ok").count() == 1, "home says this person objected"
        in_type_size(page, large)
        no_horizontal_scroll(page)
        shot(page, "judgment-05-home-notice-panel")
        return link, name
    finally:
        ctx.close()


def test_queue_shows_evidence_and_objections_reach_the_panel_only(browser, live_server, server_env, type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG)
    run_seed(server_env, "tests.browser.seed_judgment", slug, timeout=120)
    _queue(browser, live_server, shot, slug, large)
    link, name = _object(browser, live_server, shot, slug, large)
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(link), page)
        assert name and name not in page.locator("body").inner_text(), "the public never sees who objected"
        assert page.locator("[data-objected]").count() == 0
    finally:
        ctx.close()
