"""A township admin at phone size: villages (pinyin order), inviting a village admin with a scoped
role, what that village admin may see, disabling them (their session ends at once), and English
stored on the account.

The township is onboarded from the console (`jifen onboard-township`), so this test does not
depend on test_onboarding.py. Elements are found by href/name/id, not by text, except where the
text is what is being checked.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.browser.steps import no_horizontal_scroll, phone_context, sign_in, submit

pytestmark = pytest.mark.browser

SLUG = "jiuhe"
TOWNSHIP = "九和镇"
ADMIN = {"username": "jhadmin", "name": "九和镇管理员", "password": "Nine-Rivers&Tea-2024"}
LIWEI = {"username": "liwei", "name": "李伟", "password": "Bamboo-Path#Village-77"}
VILLAGES = ["竹径村", "礼坑村", "官田村"]  # added in this order...
PINYIN_ORDER = ["官田村", "礼坑村", "竹径村"]  # ...listed in this one (guan, li, zhu)


def _set_password(page, link: str, password: str):
    resp = page.goto(link)
    assert resp.status == 200, page.content()
    page.fill("input[name=password]", password)
    page.fill("input[name=confirm]", password)
    resp = submit(page)
    assert resp.status == 200, page.locator("main").inner_text()
    assert "/t/%s/login" % SLUG in page.url, page.url


def _list_names(page) -> list[str]:
    return [s.strip() for s in page.locator("main ul.list li strong").all_inner_texts()]


def test_township_admin_villages_staff_language(browser, phone, live_server, jifen_cli, shot, server_log,
                                                 operator):
    page = phone
    t = f"/t/{SLUG}"

    # 0. onboard the township from the console; its admin sets a password from the printed link
    out = jifen_cli("onboard-township", "--operator", operator["username"], "--slug", SLUG, "--name", TOWNSHIP,
                    "--admin-username", ADMIN["username"], "--admin-name", ADMIN["name"],
                    "--base-url", live_server)
    m = re.search(r"(" + re.escape(live_server) + rf"/t/{SLUG}/setup/\S+)", out)
    assert m, out
    _set_password(page, m.group(1), ADMIN["password"])
    resp = sign_in(page, ADMIN["username"], ADMIN["password"])
    assert resp.status == 200, server_log.read_text()
    assert page.url == f"{live_server}{t}/"
    assert page.locator("main h1").inner_text().strip() == TOWNSHIP
    assert page.locator(f'ul.tiles a[href="{t}/staff/"]').count() == 1

    # 1. villages: an empty name is refused next to the field, then three villages in pinyin order
    page.locator(f'ul.tiles a[href="{t}/villages/"]').click()
    page.wait_for_url(f"**{t}/villages/")
    assert page.locator("main ul.list li").count() == 0
    page.locator(f'a[href="{t}/villages/new"]').click()
    page.wait_for_url(f"**{t}/villages/new")
    resp = submit(page)
    assert resp.status == 422
    name_field = page.locator(".field.has-error:has(input[name=name])")
    assert name_field.count() == 1
    assert name_field.locator("p.error").inner_text().strip()
    gap = name_field.locator("p.error").bounding_box()["y"] - (
        name_field.locator("input").bounding_box()["y"] + name_field.locator("input").bounding_box()["height"])
    assert 0 <= gap < 100, f"the error sits {gap}px below the field"
    assert page.locator("main ul.list").count() == 0  # still on the form

    for i, name in enumerate(VILLAGES, start=1):
        page.goto(f"{t}/villages/new")
        page.fill("input[name=name]", name)
        page.fill("input[name=code]", f"JH{i:02d}")
        resp = submit(page)
        assert resp.status == 200, page.locator("main").inner_text()
        assert page.url == f"{live_server}{t}/villages/"
    assert _list_names(page) == PINYIN_ORDER
    no_horizontal_scroll(page)
    shot(page, "10-villages-pinyin")

    # 2. staff: invite 李伟 as village admin of 官田村; first without a role
    page.goto(f"{t}/")
    page.locator(f'ul.tiles a[href="{t}/staff/"]').click()
    page.wait_for_url(f"**{t}/staff/")
    page.locator(f'a[href="{t}/staff/new"]').click()
    page.wait_for_url(f"**{t}/staff/new")
    page.fill("input[name=display_name]", LIWEI["name"])
    page.fill("input[name=username]", LIWEI["username"])
    resp = submit(page)
    assert resp.status == 422
    roles = page.locator("fieldset.has-error")
    assert roles.count() == 1
    assert roles.locator("input[name=role]").count() > 0, "the roles fieldset is the one marked"
    assert roles.locator("p.error").count() >= 1
    assert roles.locator("p.error").first.inner_text().strip()
    assert page.input_value("input[name=display_name]") == LIWEI["name"]
    assert page.input_value("input[name=username]") == LIWEI["username"]
    no_horizontal_scroll(page)
    roles.scroll_into_view_if_needed()
    shot(page, "11-invite-roles-error")

    # the village picker offers the villages in pinyin order
    picker = page.locator("select[name=scope_village_admin]")
    options = [o.strip() for o in picker.locator("option").all_inner_texts() if o.strip() != "—"]
    assert options == PINYIN_ORDER
    page.check('input[name=role][value="village_admin"]')
    picker.select_option(label="官田村")
    resp = submit(page)
    assert resp.status == 200, page.locator("main").inner_text()
    link = page.input_value("#setup-link")
    assert re.fullmatch(re.escape(live_server) + rf"{t}/setup/\S+", link), link
    no_horizontal_scroll(page)
    shot(page, "12-invite-link")
    # the whole link is visible on the phone: it wraps inside its box, nothing scrolls out of view
    cut = page.locator("#setup-link").evaluate(
        "el => [el.scrollWidth - el.clientWidth, el.scrollHeight - el.clientHeight]")
    assert max(cut) <= 1, f"the setup link is cut off by {cut}px (width, height)"

    page.goto(f"{t}/staff/")
    rows = page.locator("main ul.list li")
    assert rows.count() == 2
    liwei_row = page.locator("main ul.list li", has_text=LIWEI["username"])
    assert liwei_row.count() == 1
    assert LIWEI["name"] in liwei_row.inner_text()
    detail_href = liwei_row.locator("a").get_attribute("href")
    assert re.fullmatch(rf"{t}/staff/[0-9a-f-]{{36}}", detail_href), detail_href
    no_horizontal_scroll(page)
    shot(page, "13-staff-list")

    # 3. 李伟 sets a password in his own browser and signs in: no staff tile, no staff page
    liwei_ctx = phone_context(browser, live_server)
    try:
        lpage = liwei_ctx.new_page()
        _set_password(lpage, link, LIWEI["password"])
        assert "/login" in lpage.url
        resp = sign_in(lpage, LIWEI["username"], LIWEI["password"])
        assert resp.status == 200, server_log.read_text()
        assert lpage.url == f"{live_server}{t}/"
        assert lpage.locator("main h1").inner_text().strip() == TOWNSHIP
        assert lpage.locator(f'a[href="{t}/staff/"]').count() == 0
        assert lpage.locator(f'ul.tiles a[href="{t}/villages/"]').count() == 1
        no_horizontal_scroll(lpage)
        shot(lpage, "14-village-admin-home")
        resp = lpage.goto(f"{t}/staff/")
        assert resp.status == 403
        assert lpage.locator("main .card.notice h1").count() == 1
        back = lpage.locator("main a[data-back]")  # goes back by script (CSP: no javascript: links)
        assert back.count() == 1
        # links take the site's link colour, not the browser's default blue
        assert back.evaluate("el => getComputedStyle(el).color") != "rgb(0, 0, 238)"
        assert lpage.locator("header.top a.brand").get_attribute("href") == f"{t}/"
        no_horizontal_scroll(lpage)
        shot(lpage, "14b-village-admin-403")
        resp = lpage.goto(f"{t}/villages/")
        assert resp.status == 200
        assert _list_names(lpage) == PINYIN_ORDER
        assert lpage.locator(f'a[href="{t}/villages/new"]').count() == 0  # only admins add villages

        # 4. the admin disables 李伟 from his detail page: his open session ends
        page.goto(f"{t}/staff/")
        page.locator(f'main ul.list a[href="{detail_href}"]').click()
        page.wait_for_url(f"**{detail_href}")
        assert page.locator('select[name=scope_village_admin] option:checked').inner_text().strip() == "官田村"
        resp = submit(page, f'form[action="{detail_href}/disable"]')
        assert resp.status == 200
        assert page.url == f"{live_server}{detail_href}"
        assert page.locator("main h1 .badge.suspended").count() == 1
        assert page.locator(f'form[action="{detail_href}/enable"]').count() == 1
        assert page.locator(f'form[action="{detail_href}/disable"]').count() == 0

        resp = lpage.reload()
        assert f"{t}/login" in lpage.url, lpage.url
        assert lpage.locator("input[name=password]").count() == 1
        assert lpage.goto(f"{t}/villages/").url.startswith(f"{live_server}{t}/login")
        # and he cannot sign in again
        lpage.goto(f"{t}/login")
        sign_in(lpage, LIWEI["username"], LIWEI["password"])
        assert "/login" in lpage.url
        assert lpage.locator("main .error").count() >= 1
    finally:
        liwei_ctx.close()

    # 5. English, chosen on a township page, sticks to the admin's account
    page.goto(f"{t}/staff/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    with page.expect_navigation():
        page.locator("form.lang button[name=locale][value=en]").click()
    assert page.url == f"{live_server}{t}/staff/"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("main h1").inner_text().strip() == "Staff and roles"
    assert page.locator(f'a[href="{t}/staff/new"]').inner_text().strip() == "Invite"
    no_horizontal_scroll(page)
    shot(page, "15-english-staff")

    # sign out and in again in the same browser...
    with page.expect_navigation():
        page.locator(f'header form[action="{t}/logout"] button').click()
    assert f"{t}/login" in page.url
    sign_in(page, ADMIN["username"], ADMIN["password"])
    assert page.url == f"{live_server}{t}/"
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(f"{t}/staff/")
    assert page.locator("main h1").inner_text().strip() == "Staff and roles"

    # ...and in a fresh Chinese-language browser: the choice is on the account, not in a cookie
    fresh = phone_context(browser, live_server)
    try:
        fpage = fresh.new_page()
        fpage.goto(f"{t}/login")
        assert fpage.locator("html").get_attribute("lang") == "zh-CN"
        sign_in(fpage, ADMIN["username"], ADMIN["password"])
        assert fpage.url == f"{live_server}{t}/"
        assert fpage.locator("html").get_attribute("lang") == "en"
        assert fpage.locator(f'ul.tiles a[href="{t}/staff/"]').inner_text().strip() == "Staff and roles"
    finally:
        fresh.close()

    # 6. suspended by the county (from the CLI: another process, so the server sees it once its
    #    5-second township cache expires): the notice names the township
    jifen_cli("suspend-township", "--operator", operator["username"], "--reason", "test", SLUG)
    deadline = time.monotonic() + 8
    while (resp := page.goto(f"{t}/")).status != 403 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert resp.status == 403
    notice = page.locator("main .card.notice.warn")
    assert notice.locator(".kicker").inner_text().strip() == TOWNSHIP
    assert TOWNSHIP in page.locator("header.top .brand").inner_text()
    assert TOWNSHIP in page.title()
    no_horizontal_scroll(page)
    shot(page, "16-suspended-named")

    assert "Traceback" not in server_log.read_text(), server_log.read_text()
