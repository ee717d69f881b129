"""Elder-friendly pages on a phone at 390 px (issue 14), with large type off and on: every visible
link and button of the villager's pages (home, passbook, notice, messages, store) is at least 44 px
tall, sign-out stands apart from the name, the passbook and the public notice are cards (no table
scrolling sideways), large type switched on once holds on every page and on the next sign-in, and
the read-aloud button hands the page's text (not its navigation) to speechSynthesis in the page's
language."""
from __future__ import annotations

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, run_seed, sign_in, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanelder"
T = f"/t/{SLUG}"
MIN_TAP = 44

# every visible link and button (and select, summary) with its box
TARGETS = """() => [...document.querySelectorAll("a[href], button, select, summary, input[type=submit]")]
  .filter(e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                 return r.width > 0 && r.height > 0 && s.visibility !== "hidden"; })
  .map(e => { const r = e.getBoundingClientRect();
              return {text: (e.innerText || e.value || e.getAttribute("aria-label") || "").trim().slice(0, 40),
                      height: Math.round(r.height * 10) / 10, top: r.top, left: r.left, right: r.right}; })"""

# a speechSynthesis that records what it is asked to say
SPEECH_STUB = """
window.__spoken = [];
const fake = { speaking: false, cancel() { this.speaking = false; },
               speak(u) { window.__spoken.push({text: u.text, lang: u.lang}); } };
Object.defineProperty(window, "speechSynthesis", { value: fake, configurable: true });
window.SpeechSynthesisUtterance = function (text) { this.text = text; this.lang = ""; };
"""


@pytest.fixture(scope="module")
def seeded(live_server, server_env) -> str:
    """The township of this walk-through, seeded once in this test process's server."""
    run_seed(server_env, "tests.browser.seed_elder", SLUG, timeout=180)
    return SLUG


def _villager_pages(page) -> dict:
    """The villager's pages, found from the home page as the villager would: name -> path."""
    ok(page.goto(f"{T}/"), page)
    pages = {"home": f"{T}/", "passbook": None, "notice": None, "inbox": f"{T}/inbox/", "store": None}
    ok(page.goto(f"{T}/ledger/me"), page)
    household = page.url.split("/ledger/households/")[1].split("?")[0].strip("/")
    pages["passbook"] = f"{T}/ledger/households/{household}/passbook"
    pages["notice"] = page.locator("a[data-notice]").first.get_attribute("href") if page.locator(
        "a[data-notice]").count() else None
    ok(page.goto(f"{T}/"), page)
    store = page.locator("main a[href*='/store']")
    pages["store"] = store.first.get_attribute("href") if store.count() else None
    return pages


def _short_targets(page) -> list:
    return [t for t in page.evaluate(TARGETS) if t["height"] < MIN_TAP]


def _switch_large(page, on: bool) -> None:
    label = "大字" if on else "标准字"
    with page.expect_navigation():
        page.locator("form.type-size button").filter(has_text=label).click()


def test_villager_pages_at_390px_in_both_type_sizes(browser, live_server, seeded, shot):
    ctx, page = signed_in(browser, live_server, SLUG, "villager", PASSWORD)
    try:
        pages = _villager_pages(page)
        print(pages)
        assert all(pages.values()), pages
        short = {}
        for large in (False, True):
            if large:
                ok(page.goto(pages["home"]), page)
                _switch_large(page, True)
            for name, path in pages.items():
                ok(page.goto(path), page)
                assert (page.evaluate("document.documentElement.classList.contains('large')")) is large, name
                if found := _short_targets(page):
                    short[f"{name}, {'large' if large else 'standard'}"] = found
                no_horizontal_scroll(page)
                shot(page, f"h14-elder-{name}-{'large' if large else 'standard'}")
            # the sign-out button is not crowded against the name
            name_box = page.locator("header nav a[href$='/account']").bounding_box()
            out_box = page.locator("header nav form.sign-out button").bounding_box()
            assert out_box["x"] - (name_box["x"] + name_box["width"]) >= 24 or out_box["y"] >= name_box["y"] + name_box["height"]
        assert short == {}, short
        for name in ("passbook", "notice"):  # cards, not a table scrolling sideways
            ok(page.goto(pages[name]), page)
            table = page.locator("table.cards")
            assert table.evaluate("t => getComputedStyle(t.querySelector('tbody tr')).display") == "block"
            assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1 && t.querySelector('thead').offsetHeight <= 1")

        again = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                    locale="zh-CN", base_url=live_server)  # another phone: the account remembers
        try:
            other = again.new_page()
            ok(other.goto(f"{T}/login"), other)
            assert not other.evaluate("document.documentElement.classList.contains('large')")
            ok(sign_in(other, "villager", PASSWORD), other)
            assert other.evaluate("document.documentElement.classList.contains('large')")
        finally:
            again.close()
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_read_aloud_speaks_the_page_text_in_its_language(browser, live_server, seeded, lang):
    ctx, page = signed_in(browser, live_server, SLUG, "villager", PASSWORD)
    try:
        ctx.add_init_script(SPEECH_STUB)
        if lang == "en":
            ok(page.goto(f"{T}/"), page)
            with page.expect_navigation():
                page.locator("form.lang button[value=en]").click()
        pages = _villager_pages(page)
        for name in ("passbook", "notice", "inbox"):
            ok(page.goto(pages[name]), page)
            button = page.locator("button[data-read-aloud]")
            assert button.is_visible(), name
            button.click()
            spoken = page.evaluate("window.__spoken")
            assert len(spoken) == 1 and spoken[0]["lang"] == lang, (name, spoken)
            text = spoken[0]["text"]
            nav = ("退出登录", "English", "大字", "首页", "朗读") if lang == "zh-CN" else (
                "Sign out", "中文", "Large type", "Home", "Read aloud")
            assert page.locator("header.top").inner_text().count(nav[0]) == 1  # (the header does say it)
            assert not [word for word in nav if word in text], (name, text)  # the navigation is not read
            if name == "passbook":
                assert ("清理村道垃圾" in text and "+5" in text) and ("积分项" in text or "Rule item" in text), text
            if name == "notice":
                assert "张*伟" in text and "+5" in text, text
    finally:
        ctx.close()


def test_read_aloud_is_hidden_where_the_browser_cannot_speak(browser, live_server, seeded):
    ctx, page = signed_in(browser, live_server, SLUG, "villager", PASSWORD)
    try:
        ctx.add_init_script('Object.defineProperty(window, "speechSynthesis", {value: undefined});')
        ok(page.goto(f"{T}/inbox/"), page)
        assert page.locator("button[data-read-aloud]").count() == 1
        assert not page.locator("button[data-read-aloud]").is_visible()
    finally:
        ctx.close()
