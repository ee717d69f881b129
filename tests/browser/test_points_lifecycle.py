"""One application's whole life on phones (issue 4's walk-through): a villager applies for item A1
with a photo, the grid worker verifies it from the work queue, two panel members approve it, a
panel member publishes the village's notice, anyone reads it through its public link (and its A4
print), a second villager objects, a third panel member dismisses the objection, the nightly job
closes the notice and posts the points, and the villager finds them in the passbook.

The township is seeded in the live server's database by `python -m tests.browser.seed_points`
(the same services the other tests use). Every person has their own browser context. Elements are
found by name/id/href/class and assertions are on data (names, numbers, states, URLs, status
codes), not on translated text, so the test holds while the Chinese catalog catches up.
"""
from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, signed_in, submit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinkoupts"
T = f"/t/{SLUG}"
VILLAGE = "琴口村"
HEAD, HEAD_MASKED = "张三伟", "张*伟"
ITEM = "测试项A1"  # award, default 2 points, photo required
POINTS = 2
DESCRIPTION = "清理村道垃圾两小时"
OBJECTION = "那天没看到他清理村道"
DISMISSAL = "网格员有照片为证"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the township's timezone
TODAY = datetime.now(SHANGHAI).date()  # the township's day


def _seed(server_env) -> None:
    run_seed(server_env, "tests.browser.seed_points", SLUG, timeout=120)


def _notice_ended_yesterday(server_env, closes_on: date) -> None:
    """Shift the open notice's dates back so that its last day was yesterday in the township."""
    shift = closes_on - (datetime.now(SHANGHAI).date() - timedelta(days=1))
    with sqlite3.connect(server_env["JIFEN_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT id, opens_on, closes_on FROM notices WHERE status = 'open' AND tenant_id = "
                            "(SELECT id FROM tenants WHERE slug = ?)", (SLUG,)).fetchall()  # other walk-throughs share the server
        assert len(rows) == 1, rows
        for notice_id, opens_on, ends in rows:
            conn.execute("UPDATE notices SET opens_on = ?, closes_on = ? WHERE id = ?",
                         ((date.fromisoformat(opens_on) - shift).isoformat(),
                          (date.fromisoformat(ends) - shift).isoformat(), notice_id))


def _signed_in(browser, live_server, username: str):
    """A phone of its own for `username`, signed in on the township's login page."""
    ctx, page = signed_in(browser, live_server, SLUG, username, PASSWORD)
    assert page.url == f"{live_server}{T}/", page.url
    return ctx, page


def _state(page) -> str:
    return page.locator(".pt-state").first.get_attribute("data-state")


def _photo(path: Path) -> Path:
    img = Image.new("RGB", (640, 480), (70, 140, 90))
    for x in range(200, 440):  # a stripe, so it is not a flat colour
        for y in range(200, 260):
            img.putpixel((x, y), (230, 200, 40))
    img.save(path, "JPEG", quality=80)
    return path


def _apply(browser, live_server, tmp_path, shot) -> str:
    """The villager: home → My points → apply → A1 with a photo → the application page."""
    ctx, page = _signed_in(browser, live_server, "villager")
    try:
        page.goto(f"{T}/ledger/me")  # the household page; the villager's home: test_villager_home
        page.wait_for_url(re.compile(rf".*{T}/ledger/households/{UUID}$"))
        assert page.locator("main h1").inner_text().strip() == HEAD
        assert int(page.locator("#earned .lg-num").inner_text()) == 0
        no_horizontal_scroll(page)
        shot(page, "points-01-villager-home")

        page.locator("a.lg-apply").click()
        page.wait_for_url(f"**{T}/points/apply")
        option = page.locator("select[name=item_id] option", has_text=ITEM)
        assert option.count() == 1
        page.select_option("select[name=item_id]", option.get_attribute("value"))
        page.fill("input[name=occurred_on]", TODAY.isoformat())
        page.fill("textarea[name=description]", DESCRIPTION)
        page.set_input_files("input[name=photos]", str(_photo(tmp_path / "cleanup.jpg")))
        no_horizontal_scroll(page)
        shot(page, "points-02-apply-form")

        resp = submit(page, "form#apply-form")
        ok(resp, page)
        m = re.fullmatch(rf".*{T}/points/applications/({UUID})\?done=1", page.url)
        assert m, page.url
        assert page.locator("#done").count() == 1
        assert _state(page) == "submitted"
        assert page.locator("main h1").inner_text().startswith(ITEM)
        assert page.locator("#points").inner_text().strip() == str(POINTS)
        assert page.locator(".pt-desc").inner_text().strip() == DESCRIPTION
        stamp = re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.locator("ul.pt-history li").first.inner_text())
        shown = datetime.strptime(stamp.group(0), "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)
        assert abs(datetime.now(SHANGHAI) - shown) < timedelta(minutes=5), "history times are the township's time"
        img = page.locator("ul.pt-photos img")
        assert img.count() == 1
        img.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=img.element_handle())  # the thumbnail
        no_horizontal_scroll(page)
        shot(page, "points-03-application-submitted")
        return m.group(1)
    finally:
        ctx.close()


def _verify(browser, live_server, app_id, shot):
    ctx, page = _signed_in(browser, live_server, "gridder")
    try:
        ok(page.goto(f"{T}/points/queue"), page)
        row = page.locator(f"#to-verify #q-{app_id}")
        assert row.count() == 1
        assert HEAD in row.locator(".pt-row-head").inner_text()
        assert ITEM in row.locator(".pt-row-head").inner_text()
        no_horizontal_scroll(page)
        shot(page, "points-04-gridder-queue")
        resp = submit(page, f'#q-{app_id} form[action="{T}/points/applications/{app_id}/verify"]')
        ok(resp, page)
        assert page.url == f"{live_server}{T}/points/queue"
        assert page.locator(f"#q-{app_id}").count() == 0, "the verified row leaves the queue"
        ok(page.goto(f"{T}/points/applications/{app_id}"), page)
        assert _state(page) == "verified"
    finally:
        ctx.close()


def _approve(browser, live_server, app_id, username, shot, name):
    ctx, page = _signed_in(browser, live_server, username)
    try:
        page.locator(f'ul.tiles a[href="{T}/points/panel"]').click()
        page.wait_for_url(f"**{T}/points/panel")
        row = page.locator(f"#to-certify #q-{app_id}")
        assert row.count() == 1
        no_horizontal_scroll(page)
        shot(page, name)
        with page.expect_navigation() as nav:
            row.locator('button[name=decision][value=approve]').click()
        ok(nav.value, page)
        assert page.url == f"{live_server}{T}/points/panel"
        assert page.locator(f"#q-{app_id}").count() == 0
        ok(page.goto(f"{T}/points/applications/{app_id}"), page)
        assert page.locator(f"#votes li.pt-vote-approve:has-text('{username}')").count() == 1
        return _state(page)
    finally:
        ctx.close()


def _publish(browser, live_server, app_id, shot) -> tuple[str, date]:
    """panel1 publishes the village's notice; the public link and the day it closes."""
    ctx, page = _signed_in(browser, live_server, "panel1")
    try:
        page.locator(f'ul.tiles a[href="{T}/notices/"]').click()
        page.wait_for_url(f"**{T}/notices/")
        village = page.locator("li.nt-village", has_text=VILLAGE)
        assert village.count() == 1
        no_horizontal_scroll(page)
        shot(page, "points-07-notices-waiting")
        with page.expect_navigation() as nav:
            village.locator("button").click()
        ok(nav.value, page)
        assert re.fullmatch(rf".*{T}/notices/{UUID}", page.url), page.url
        item = page.locator(f"li.nt-item#a-{app_id}")
        assert item.get_attribute("data-state") == "on_notice"
        assert HEAD in item.inner_text() and DESCRIPTION in item.inner_text()
        days = re.findall(r"\d{4}-\d{2}-\d{2}", page.locator("main .card dl dd").first.inner_text())
        opens_on, closes_on = (date.fromisoformat(d) for d in days)
        assert opens_on == TODAY
        assert closes_on >= TODAY
        link = page.locator(f'main .card a[href^="{T}/notices/public/"]').first.get_attribute("href")
        assert re.fullmatch(rf"{T}/notices/public/[^/]+", link), link
        no_horizontal_scroll(page)
        shot(page, "points-08-notice-published")
        return link, closes_on
    finally:
        ctx.close()


def _read_public(browser, live_server, link, app_id, shot):
    """Anyone with the link, not signed in: the phone page, then the A4 print."""
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(link), page)
        row = page.locator(f"tr.nt-row[data-application='{app_id}']")
        assert row.count() == 1
        cells = row.inner_text()
        assert HEAD_MASKED in cells and HEAD not in cells, "the public page masks the name"
        assert ITEM in cells
        assert row.locator(".nt-points").inner_text().strip() == f"+{POINTS}"
        assert row.locator("a.nt-object").count() == 0, "no object button without signing in"
        assert VILLAGE in page.locator(".nt-title").inner_text()
        no_horizontal_scroll(page)
        shot(page, "points-09-public-notice")
    finally:
        ctx.close()

    a4 = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN", base_url=live_server)
    try:
        page = a4.new_page()
        ok(page.goto(f"{link}/print"), page)
        row = page.locator(f"tr.nt-row[data-application='{app_id}']")
        assert row.count() == 1 and HEAD_MASKED in row.inner_text()
        assert page.locator("body.nt-print").count() == 1
        no_horizontal_scroll(page)
        shot(page, "points-10-public-notice-print")
    finally:
        a4.close()


def _object(browser, live_server, link, app_id, shot):
    ctx, page = _signed_in(browser, live_server, "villager2")
    try:
        ok(page.goto(link), page)
        button = page.locator(f"tr.nt-row[data-application='{app_id}'] a.nt-object")
        assert button.count() == 1
        no_horizontal_scroll(page)
        shot(page, "points-11-public-notice-signed-in")
        button.click()
        page.wait_for_url(f"**{link}/items/{app_id}/object")
        assert HEAD_MASKED in page.locator("main .card").inner_text()
        page.fill("textarea[name=reason]", OBJECTION)
        no_horizontal_scroll(page)
        shot(page, "points-12-objection-form")
        ok(submit(page, "main form.nt-object-form"), page)
        assert page.url == f"{live_server}{link}?objected={app_id}", page.url
        assert page.locator(".nt-public p.ok").count() == 1
        no_horizontal_scroll(page)
        shot(page, "points-13-objection-sent")
    finally:
        ctx.close()


def _dismiss(browser, live_server, app_id, shot):
    ctx, page = _signed_in(browser, live_server, "panel3")
    try:
        ok(page.goto(f"{T}/points/panel"), page)
        row = page.locator(f'#to-decide li.pt-qrow:has(a[href="{T}/points/applications/{app_id}"])')
        assert row.count() == 1
        assert OBJECTION in row.locator(".pt-objection-text").inner_text()
        assert "villager2" in row.locator(".pt-objection-text").inner_text()
        ok(page.goto(f"{T}/points/applications/{app_id}"), page)
        assert _state(page) == "objected"
        ok(page.goto(f"{T}/points/panel"), page)
        row.locator("input[name=reason]").fill(DISMISSAL)
        no_horizontal_scroll(page)
        shot(page, "points-14-objection-queue")
        with page.expect_navigation() as nav:
            row.locator("button[name=decision][value=dismiss]").click()
        ok(nav.value, page)
        assert page.locator(f'#to-decide a[href="{T}/points/applications/{app_id}"]').count() == 0
        ok(page.goto(f"{T}/points/applications/{app_id}"), page)
        assert _state(page) == "on_notice"
        objection = page.locator("#objections li.pt-objection")
        assert objection.count() == 1
        assert OBJECTION in objection.inner_text() and DISMISSAL in objection.inner_text()
        assert objection.locator("form").count() == 0, "a decided objection has no buttons"
        no_horizontal_scroll(page)
        shot(page, "points-15-objection-dismissed")
    finally:
        ctx.close()


def _passbook(browser, live_server, app_id, shot):
    ctx, page = _signed_in(browser, live_server, "villager")
    try:
        page.goto(f"{T}/ledger/me")  # the household page; the villager's home: test_villager_home
        page.wait_for_url(re.compile(rf".*{T}/ledger/households/{UUID}$"))
        household_id = page.url.rsplit("/", 1)[1]
        assert int(page.locator("#earned .lg-num").inner_text()) == POINTS
        assert int(page.locator("#available .lg-num").inner_text()) == POINTS
        assert page.locator(f'.lg-pending a[href$="/{app_id}"]').count() == 0, "no longer on the way"
        latest = page.locator("ul.lg-latest li").first
        assert ITEM in latest.inner_text() and f"+{POINTS}" in latest.inner_text()
        no_horizontal_scroll(page)
        shot(page, "points-16-villager-home-earned")

        page.locator(f'a[href="{T}/ledger/households/{household_id}/passbook"]').click()
        page.wait_for_url(f"**{T}/ledger/households/{household_id}/passbook")
        entries = page.locator("tr.lg-entry")
        assert entries.count() == 1
        entry = entries.first
        assert entry.get_attribute("data-points") == str(POINTS)
        assert ITEM in entry.inner_text()
        assert entry.locator(".lg-run").inner_text().strip() == str(POINTS)
        assert TODAY.isoformat() in entry.inner_text()
        assert page.locator("#earned").inner_text().strip() == str(POINTS)
        no_horizontal_scroll(page)
        shot(page, "points-17-passbook")

        ok(page.goto(f"{T}/points/applications/{app_id}"), page)
        assert _state(page) == "posted"
        shot(page, "points-18-application-posted")
    finally:
        ctx.close()


def test_points_application_from_apply_to_passbook(browser, live_server, server_env, jifen_cli, shot, tmp_path):
    _seed(server_env)

    # 1. the villager applies for A1 with a photo
    app_id = _apply(browser, live_server, tmp_path, shot)

    # 2. the grid worker verifies it from the work queue, one tap
    _verify(browser, live_server, app_id, shot)

    # 3. two of the three panel members approve it: certified
    assert _approve(browser, live_server, app_id, "panel1", shot, "points-05-panel-queue") == "verified"
    assert _approve(browser, live_server, app_id, "panel2", shot, "points-06-panel-queue-second") == "certified"

    # 4. panel1 publishes the village's notice; anyone with the link reads it, on a phone or on A4
    link, closes_on = _publish(browser, live_server, app_id, shot)
    _read_public(browser, live_server, link, app_id, shot)

    # 5. another villager of the village objects to the item
    _object(browser, live_server, link, app_id, shot)

    # 6. the third panel member dismisses the objection with a reason
    _dismiss(browser, live_server, app_id, shot)

    # 7. the night after the notice closes, the job closes it and posts the item: the notice's week
    #    is moved back so that it ended yesterday (the job refuses a date after today, issue 12)
    _notice_ended_yesterday(server_env, closes_on)
    out = jifen_cli("run-job", "jifen.points_notices", "--tenant", SLUG, "--force")
    assert "'closed': 1" in out, out

    # 8. the villager finds the points on the home page and in the passbook
    _passbook(browser, live_server, app_id, shot)
