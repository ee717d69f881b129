"""Offline capture for grid workers (issue 14), in Chromium at 390 px with the network switched off
and on (Playwright's offline mode): three records captured without signal arrive exactly once when
the network returns; a sync whose first answer is lost, with the page closed and opened again, still
makes exactly three; a refused record shows its reason by field, is fixed and goes through.
"""
from __future__ import annotations

import sqlite3

import pytest

from tests.browser.steps import in_type_size, no_horizontal_scroll, ok, run_seed, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinkouoffline"


def _count(server_env, prefix: str, slug: str) -> int:
    with sqlite3.connect(server_env["JIFEN_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT count(*) FROM applications a JOIN tenants t ON t.id = a.tenant_id "
                            "WHERE t.slug = ? AND a.description LIKE ?", (slug, prefix + "%")).fetchone()[0]


def _open(ctx, slug: str = SLUG):
    page = ctx.new_page()
    ok(page.goto(f"/t/{slug}/field/"), page)
    page.wait_for_selector("#field-app[data-ready]")
    return page


def _capture(page, description: str, points: str = "", household: str = "张三伟 1号", item: str = "测试项S1"):
    page.select_option("#fd-household", label=household)
    value = page.locator("#fd-item option", has_text=item).get_attribute("value")
    page.select_option("#fd-item", value)
    if page.is_visible("#fd-points"):
        page.fill("#fd-points", points)
    page.fill("#fd-description", description)
    page.click("#fd-save")


def _shown(page, state: str, n: int):
    page.wait_for_function("([s, n]) => document.getElementById('fd-n-' + s).textContent === String(n)",
                           arg=[state, n], timeout=20_000)


def _grid_worker_phone(browser, live_server, server_env, slug: str, large: bool):
    """A township of its own, its grid worker signed in on a phone with the field app open and its
    households loaded: (context, page)."""
    run_seed(server_env, "tests.browser.seed_points", slug, timeout=120)
    ctx, first = signed_in(browser, live_server, slug, "gridder", PASSWORD, large=large)
    first.close()
    page = _open(ctx, slug)
    in_type_size(page, large)
    page.wait_for_function("() => document.querySelectorAll('#fd-household option').length > 1")
    return ctx, page


def test_three_records_captured_offline_arrive_exactly_once(browser, live_server, server_env, type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG)
    ctx, page = _grid_worker_phone(browser, live_server, server_env, slug, large)
    try:
        assert page.locator("#fd-household option").count() == 3  # 李四 2号, 张三伟 1号 and "choose"
        assert page.locator("#fd-household option").nth(1).inner_text() == "李四 2号"  # pinyin order
        # the service worker controls the app and keeps its shell and files for a visit without signal
        # (wait_for_function does not await a promise: the app marks the shell kept once its cache holds it)
        page.wait_for_selector("#field-app[data-offline-ready]", state="attached")
        assert page.evaluate("() => caches.open('jifen-field-v1').then(c => c.keys()).then(k => k.length)") >= 3
        page.wait_for_function("() => !!navigator.serviceWorker.controller")

        ctx.set_offline(True)
        ok(page.reload(), page)  # the shell comes from the service worker's cache
        page.wait_for_selector("#field-app[data-ready]")
        assert "没有信号" in page.locator("#fd-net").inner_text()
        for n in (1, 2, 3):
            _capture(page, f"离线记录{n}", points="4")
        _shown(page, "waiting", 3)
        assert _count(server_env, "离线记录", slug) == 0
        no_horizontal_scroll(page)
        shot(page, "offline-capture-01-three-waiting")

        ctx.set_offline(False)
        _shown(page, "sent", 3)
        _shown(page, "waiting", 0)
        assert _count(server_env, "离线记录", slug) == 3
        shot(page, "offline-capture-02-three-sent")

        # a sync killed mid-way: the first request reaches the server, its answer never comes back,
        # the page is closed; opened again, it sends what waits with the same keys
        ctx.set_offline(True)
        for n in (1, 2, 3):
            _capture(page, f"中断同步{n}", points="3")
        _shown(page, "waiting", 3)
        sent = []

        def lose_the_answer(route):
            route.fetch()  # the server does the work and commits
            route.abort()  # ... and the answer is lost with the page
            sent.append(route.request.headers.get("idempotency-key"))

        page.route("**/field/records", lose_the_answer)
        ctx.set_offline(False)
        for _ in range(100):
            if sent:
                break
            page.wait_for_timeout(100)
        assert len(sent) == 1, sent
        page.close()
        assert _count(server_env, "中断同步", slug) == 1
        resent = []

        def watch(route):
            resent.append(route.request.headers.get("idempotency-key"))
            route.continue_()

        ctx.route("**/field/records", watch)
        page = _open(ctx, slug)
        _shown(page, "sent", 6)
        _shown(page, "waiting", 0)
        assert _count(server_env, "中断同步", slug) == 3  # still exactly three
        assert len(resent) == 3 and resent[0] == sent[0]  # the lost answer's record went again, same key
        page.close()
        page = _open(ctx, slug)  # and opening it again sends nothing more
        _shown(page, "sent", 6)
        assert _count(server_env, "中断同步", slug) == 3 and _count(server_env, "离线记录", slug) == 3
    finally:
        ctx.close()


KEPT_PHOTOS = """() => new Promise(resolve => { const req = indexedDB.open("jifen-field");
  req.onsuccess = () => { const get = req.result.transaction("queue").objectStore("queue").getAll();
    get.onsuccess = () => { resolve(get.result.filter(r => r.state === "waiting")
      .flatMap(r => r.photos.map(p => p.size))); req.result.close(); }; }; })"""


def _photo(path):
    from PIL import Image

    Image.effect_noise((4000, 3000), 50).convert("RGB").save(path, "JPEG", quality=92)  # a phone photo
    return path


def test_a_refused_record_shows_why_and_is_fixed_and_sent(browser, live_server, server_env, tmp_path,
                                                          type_size):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG + "r")
    ctx, page = _grid_worker_phone(browser, live_server, server_env, slug, large)
    try:
        ctx.set_offline(True)
        _capture(page, "分值太高", points="99")  # S1 gives 2 to 8 points
        _shown(page, "waiting", 1)
        ctx.set_offline(False)
        _shown(page, "refused", 1)
        reason = page.locator(".fd-refused .fd-reasons").inner_text()
        assert reason.startswith("分值") and "2 到 8" in reason, reason  # the field, then why
        no_horizontal_scroll(page)
        shot(page, "offline-capture-03-refused-with-reason")
        page.locator(".fd-refused button", has_text="修改").click()
        assert page.input_value("#fd-points") == "99"
        page.fill("#fd-points", "6")
        page.click("#fd-save")
        _shown(page, "sent", 1)
        _shown(page, "refused", 0)
        assert _count(server_env, "分值太高", slug) == 1
        shot(page, "offline-capture-04-fixed-and-sent")

        # a proxy application with its photo, kept on the phone as a Blob until the network returns
        ctx.set_offline(True)
        page.check("input[name=kind][value=proxy]")
        page.set_input_files("#fd-photos", str(_photo(tmp_path / "p.jpg")))
        _capture(page, "代为申请带照片", household="李四 2号", item="测试项A1")
        _shown(page, "waiting", 1)
        kept = page.evaluate(KEPT_PHOTOS)  # shrunk on the phone before it is kept: at most 1280 px
        assert len(kept) == 1 and kept[0] < 600_000 < (tmp_path / "p.jpg").stat().st_size, kept
        ctx.set_offline(False)
        _shown(page, "sent", 2)
        assert _count(server_env, "代为申请带照片", slug) == 1
        with sqlite3.connect(server_env["JIFEN_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
            assert conn.execute("SELECT count(*) FROM application_photos p JOIN applications a "
                                "ON a.id = p.application_id JOIN tenants t ON t.id = a.tenant_id "
                                "WHERE a.description = '代为申请带照片' AND a.origin = 'proxy' AND t.slug = ?",
                                (slug,)).fetchone()[0] == 1

        # signing out with a record not sent asks first: cancelled, the record stays and so does the session
        ctx.set_offline(True)
        page.check("input[name=kind][value=record]")
        _capture(page, "退出前未发送", points="99")
        ctx.set_offline(False)
        _shown(page, "refused", 1)
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.locator("header form button", has_text="退出登录").click()
        page.wait_for_timeout(500)
        assert asked and asked[0].startswith("1 条") and "/field/" in page.url, asked
        _shown(page, "refused", 1)
        page.once("dialog", lambda d: d.accept())

        # signing out leaves nothing of this person on the phone
        with page.expect_navigation():
            page.locator("header form button", has_text="退出登录").click()
        assert page.evaluate("() => indexedDB.databases().then(d => d.map(x => x.name))") == []
        assert page.evaluate("() => caches.keys()") == []
    finally:
        ctx.close()


def test_signing_out_elsewhere_asks_nothing_and_leaves_no_database(browser, live_server, server_env):
    """On a phone that never ran the field app, the sign-out's check of unsent records finds none,
    asks nothing and creates no database."""
    run_seed(server_env, "tests.browser.seed_points", SLUG + "o", timeout=120)
    ctx, page = signed_in(browser, live_server, SLUG + "o", "gridder", PASSWORD)
    try:
        asked = []
        page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        with page.expect_navigation():
            page.locator("header form button", has_text="退出登录").click()
        assert "/login" in page.url and not asked
        assert page.evaluate("() => indexedDB.databases().then(d => d.map(x => x.name))") == []
    finally:
        ctx.close()
