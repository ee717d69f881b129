"""Nothing lost, on a phone at 390 px: a villager attaches a full-size photo, the form is refused
(no description), the photo is still attached (kept, shown as its thumbnail), the villager fills
in the description and sends it again: one application with one photo. The photo went up shrunk
on the phone (at most 1280 px), not at full size.
"""
from __future__ import annotations

import io
import re
import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests.browser.steps import in_type_size, no_horizontal_scroll, ok, run_seed, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinkoukept"
ITEM = "测试项A1"  # photo required
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _big_photo(path):
    """A 4000 x 3000 phone photo (noise, so it does not compress to nothing): a few MB."""
    Image.effect_noise((4000, 3000), 50).convert("RGB").save(path, "JPEG", quality=92)
    return path


# records the bytes of the files the page's script sends (Playwright does not see an XHR's blob body)
SPY = """() => { const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    let n = 0; for (const [, v] of body.entries()) if (v instanceof Blob) n += v.size;
    window.photoBytes = n; return send.call(this, body); }; }"""


# every value the upload's progress bar shows, as (value, max), and whether it was shown
PROGRESS_WATCH = """() => { const bar = document.querySelector("progress.pt-progress"); window.progressSeen = [];
  new MutationObserver(() => window.progressSeen.push([bar.hidden, bar.getAttribute("value"), bar.max]))
    .observe(bar, {attributes: true}); }"""


def _db(server_env, sql):
    with sqlite3.connect(server_env["JIFEN_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
        return conn.execute(sql).fetchall()


def test_a_refused_form_keeps_its_photo_and_sends_it_once(browser, live_server, server_env, tmp_path,
                                                          type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG)
    T = f"/t/{slug}"
    run_seed(server_env, "tests.browser.seed_points", slug, timeout=120)
    photo = _big_photo(tmp_path / "phone.jpg")
    ctx, page = signed_in(browser, live_server, slug, "villager", PASSWORD, large=large)
    try:
        ok(page.goto(f"{T}/points/apply"), page)
        in_type_size(page, large)
        page.evaluate(SPY)
        page.evaluate(PROGRESS_WATCH)
        cdp = ctx.new_cdp_session(page)  # a slow uplink (300 KB/s), so the upload takes a while to watch
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 50, "downloadThroughput": 1_000_000,
                                                       "uploadThroughput": 300_000})
        assert page.locator("input[name=photos][capture]").count() == 0  # the gallery can be chosen
        option = page.locator("select[name=item_id] option", has_text=ITEM)
        page.select_option("select[name=item_id]", option.get_attribute("value"))
        page.fill("input[name=occurred_on]", TODAY.isoformat())
        page.set_input_files("input[name=photos]", str(photo))
        page.locator("form#apply-form button.primary").click()  # no description: refused

        kept = page.locator("input[name=staged_photos]")
        kept.first.wait_for()
        assert kept.count() == 1 and kept.first.is_checked()
        assert page.locator("#e-description").count() == 1
        thumb = page.locator("ul.pt-kept img")
        page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=thumb.element_handle())
        assert re.search(rf"{T}/files/[0-9a-f-]+/thumb$", thumb.get_attribute("src"))
        no_horizontal_scroll(page)
        shot(page, "kept-photos-01-refused-photo-kept")
        # shrunk on the phone: the original is over the 8 MB limit the server would refuse
        sent = page.evaluate("window.photoBytes")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                       "uploadThroughput": -1})
        assert 10_000 < sent < 1_000_000 and photo.stat().st_size > 8 * 1024 * 1024, (sent, photo.stat().st_size)
        print(f"\n[kept photos] original {photo.stat().st_size} bytes, sent {sent} bytes")
        # the bar was shown (at once, while shrinking), moved part-way through the upload and ended full
        seen = page.evaluate("window.progressSeen")
        shown = [(int(v), m) for hidden, v, m in seen if not hidden and v is not None]
        assert seen and seen[0][0] is False, seen
        assert any(0 < v < m for v, m in shown), seen
        assert shown[-1][0] == shown[-1][1] >= sent, seen  # the whole body, the photo in it
        partial = [v for v, m in shown if 0 < v < m]
        print(f"[kept photos] progress bar: {len(partial)} partial values of {seen[-1][2]} bytes")

        page.fill("textarea[name=description]", "清理村道垃圾两小时")
        with page.expect_navigation(url=re.compile(rf".*{T}/points/applications/[0-9a-f-]+\?done=1")):
            page.locator("form#apply-form button.primary").click()
        assert page.locator("ul.pt-photos img").count() == 1
        page.wait_for_function("img => img.complete && img.naturalWidth === 320",
                               arg=page.locator("ul.pt-photos img").element_handle())
        shot(page, "kept-photos-02-sent-with-the-photo")
    finally:
        ctx.close()
    apps = _db(server_env, f"SELECT a.id FROM applications a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = '{slug}'")
    assert len(apps) == 1
    photos = _db(server_env, "SELECT f.data, f.staged_at FROM application_photos p JOIN stored_files f "
                             f"ON f.tenant_id = p.tenant_id AND f.id = p.file_id WHERE p.application_id = '{apps[0][0]}'")
    assert len(photos) == 1 and photos[0][1] is None  # attached, no longer waiting
    assert max(Image.open(io.BytesIO(photos[0][0])).size) == 1280


def test_a_form_sent_after_the_session_expired_is_sent_after_sign_in(browser, live_server, server_env,
                                                                      type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG + "s")
    t = f"/t/{slug}"
    run_seed(server_env, "tests.browser.seed_points", slug, timeout=120)
    ctx, page = signed_in(browser, live_server, slug, "villager", PASSWORD, large=large)
    try:
        ok(page.goto(f"{t}/points/apply"), page)
        option = page.locator("select[name=item_id] option", has_text="测试项A2")
        page.select_option("select[name=item_id]", option.get_attribute("value"))
        page.fill("input[name=occurred_on]", TODAY.isoformat())
        page.fill("textarea[name=description]", "帮邻居修屋顶")
        with sqlite3.connect(server_env["JIFEN_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
            conn.execute("UPDATE user_sessions SET expires_at = '2000-01-01 00:00:00.000000' "
                         "WHERE tenant_id = (SELECT id FROM tenants WHERE slug = ?)", (slug,))
        with page.expect_navigation() as nav:
            page.locator("form#apply-form button.primary").click()
        assert nav.value.status == 401 and page.locator("#resume-why").is_visible()
        in_type_size(page, large)  # the phone's choice holds on the sign-in page too
        assert page.input_value("input[name='resume:description']") == "帮邻居修屋顶"
        no_horizontal_scroll(page)
        shot(page, "kept-photos-03-sign-in-keeps-the-form")
        page.fill("input[name=username]", "villager")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation(url=re.compile(rf".*{t}/points/applications/[0-9a-f-]+\?done=1")):
            page.locator("form#resume-login button").click()  # signed in, then the form goes by itself
        assert page.locator(".pt-desc").inner_text().strip() == "帮邻居修屋顶"
        in_type_size(page, large)
        shot(page, "kept-photos-04-sent-after-sign-in")
    finally:
        ctx.close()
    assert len(_db(server_env, f"SELECT a.id FROM applications a JOIN tenants t ON t.id = a.tenant_id "
                               f"WHERE t.slug = '{slug}'")) == 1
