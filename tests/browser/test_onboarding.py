"""End to end in real Chromium at phone size: a county operator onboards a township, its admin
sets a password from the one-time link and signs in; suspend, reactivate; switch to English.

Elements are found by href/name/id, not by text, so this holds while the catalogs change.
"""
from __future__ import annotations

import re

import pytest

from tests.browser.steps import no_horizontal_scroll, sign_in, submit

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "Hills&Rice-Fields-2024"  # must not contain the username "admin"


def test_onboard_township_end_to_end(phone, live_server, shot, server_log, operator):
    page = phone

    # 1. county sign-in (Chinese is the default language)
    resp = page.goto("/county/login")
    assert resp.status == 200
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    no_horizontal_scroll(page)
    shot(page, "01-county-login")
    resp = sign_in(page, operator["username"], operator["password"])
    assert resp.status == 200, server_log.read_text()
    assert page.url == f"{live_server}/county/"
    # other browser tests share this server and may have onboarded townships of their own
    before = page.locator("ul.list li").count()
    assert page.locator('a[href="/county/townships/longwo"]').count() == 0

    # 2. onboarding form, first with a bad address: error next to the field, nothing created
    page.locator('a[href="/county/townships/new"]').click()
    page.wait_for_url("**/county/townships/new")
    page.fill("input[name=name]", "龙窝镇")
    page.fill("input[name=slug]", "Bad Slug!")
    assert page.input_value("input[name=timezone]") == "Asia/Shanghai"
    page.fill("input[name=admin_display_name]", "龙窝镇管理员")
    page.fill("input[name=admin_username]", "admin")
    resp = submit(page)
    assert resp.status == 422
    slug_field = page.locator(".field.has-error:has(input[name=slug])")
    assert slug_field.count() == 1
    assert slug_field.locator("p.error").count() == 1
    assert slug_field.locator("p.error").inner_text().strip()
    assert page.locator(".field.has-error").count() == 1, "only the address should be marked"
    gap = slug_field.locator("p.error").bounding_box()["y"] - (
        slug_field.locator("input").bounding_box()["y"] + slug_field.locator("input").bounding_box()["height"])
    assert 0 <= gap < 100, f"the error sits {gap}px below the field"
    # the hint's "/t/<address>/" is text, not an HTML <address> element swallowing the error
    assert "/t/<" in slug_field.locator(".hint").inner_text()
    assert page.locator("main address").count() == 0
    # what was typed is kept
    assert page.input_value("input[name=name]") == "龙窝镇"
    assert page.input_value("input[name=slug]") == "Bad Slug!"
    assert page.input_value("input[name=admin_username]") == "admin"
    no_horizontal_scroll(page)
    slug_field.scroll_into_view_if_needed()
    shot(page, "02-onboard-form-error")

    # ...then the good address
    page.fill("input[name=slug]", "longwo")
    resp = submit(page)
    assert resp.status == 200, server_log.read_text()
    link = page.input_value("#setup-link")
    assert re.fullmatch(re.escape(live_server) + r"/t/longwo/setup/\S+", link), link
    no_horizontal_scroll(page)
    shot(page, "03-setup-link")

    page.goto("/county/")
    rows = page.locator("ul.list li")
    assert rows.count() == before + 1, "the rejected submission must not have created anything"
    row = page.locator('ul.list li:has(a[href="/county/townships/longwo"])')
    assert row.count() == 1 and "龙窝镇" in row.inner_text()

    # 3. the admin opens the one-time link in their own browser and sets a password
    admin = page.context.browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                             is_mobile=True, has_touch=True, locale="zh-CN")
    admin.set_default_timeout(15_000)
    try:
        apage = admin.new_page()
        resp = apage.goto(link)
        assert resp.status == 200
        assert "admin" in apage.locator("main").inner_text()
        apage.fill("input[name=password]", ADMIN_PASSWORD)
        apage.fill("input[name=confirm]", ADMIN_PASSWORD)
        no_horizontal_scroll(apage)
        shot(apage, "04-set-password")
        resp = submit(apage)
        assert resp.status == 200, apage.locator("main").inner_text()
        assert apage.url.startswith(f"{live_server}/t/longwo/login"), apage.url
        assert apage.locator("p.ok").count() == 1

        # the link works once only
        resp = apage.goto(link)
        assert resp.status == 409  # a used link, as every repeated action
        assert apage.locator("input[name=password]").count() == 0
        shot(apage, "04b-used-link")

        apage.goto("/t/longwo/login".join([live_server, ""]))
        resp = sign_in(apage, "admin", ADMIN_PASSWORD)
        assert resp.status == 200, server_log.read_text()
        assert apage.url == f"{live_server}/t/longwo/"
        assert apage.locator("main h1").inner_text().strip() == "龙窝镇"
        assert "龙窝镇" in apage.locator("header.top .brand").inner_text()
        no_horizontal_scroll(apage)
        shot(apage, "05-township-home")

        # 4. the operator suspends the township: its pages show the suspension notice
        page.goto("/county/townships/longwo")
        page.fill("input[name=reason]", "欠费")
        resp = submit(page, 'form[action="/county/townships/longwo/suspend"]')
        assert resp.status == 200
        assert page.locator(".badge.suspended").count() == 1
        assert page.locator('form[action="/county/townships/longwo/reactivate"]').count() == 1

        resp = apage.goto(f"{live_server}/t/longwo/")
        assert resp.status == 403
        assert apage.locator(".card.notice.warn h1").count() == 1
        no_horizontal_scroll(apage)
        shot(apage, "06-suspended")
        # the sign-in page is suspended too
        assert apage.goto(f"{live_server}/t/longwo/login").status == 403

        # reactivate: the admin's home works again (sessions survive a suspension)
        resp = submit(page, 'form[action="/county/townships/longwo/reactivate"]')
        assert resp.status == 200
        assert page.locator(".badge.suspended").count() == 0
        resp = apage.goto(f"{live_server}/t/longwo/")
        assert resp.status == 200
        if "/login" in apage.url:  # in case suspension ended the sessions
            sign_in(apage, "admin", ADMIN_PASSWORD)
        assert apage.url == f"{live_server}/t/longwo/"
        assert apage.locator("main h1").inner_text().strip() == "龙窝镇"
    finally:
        admin.close()

    # 5. the header language switch turns the console English
    page.goto("/county/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    with page.expect_navigation():
        page.locator('form.lang button[name=locale][value=en]').click()
    assert page.url == f"{live_server}/county/"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("main h1").inner_text().strip() == "Townships"
    assert page.locator('a[href="/county/townships/new"]').inner_text().strip() == "Onboard a township"
    assert page.locator("form.lang button[name=locale][value=zh_CN]").count() == 1
    no_horizontal_scroll(page)
    shot(page, "07-english")
    page.goto("/county/townships/new")
    assert "/t/<address>/" in page.locator(".field:has(input[name=slug]) .hint").inner_text()

    assert "Traceback" not in server_log.read_text(), server_log.read_text()
