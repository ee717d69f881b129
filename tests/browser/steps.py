"""Steps the browser tests share: a phone, submitting a form, signing in, the no-sideways-scroll check."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def phone_context(browser, base_url: str):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, locale="zh-CN", base_url=base_url)
    ctx.set_default_timeout(15_000)
    return ctx


def submit(page, form_selector: str = "main form"):
    """Click the form's last button and return the response of the resulting navigation."""
    with page.expect_navigation() as nav:
        page.locator(form_selector).locator("button").last.click()
    return nav.value


def sign_in(page, username: str, password: str):
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    return submit(page, "main form:has(input[name=password])")


def no_horizontal_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"page is {overflow}px wider than the phone screen"


REPO = Path(__file__).resolve().parents[2]


def run_seed(server_env: dict, module: str, slug: str, timeout: int = 180) -> str:
    """Run `python -m <module> <slug>` against the test server's database (each browser test seeds
    its own township that way); returns its stdout, which must say "seeded"."""
    env = dict(server_env)
    env["PYTHONPATH"] = f"{REPO}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    done = subprocess.run([sys.executable, "-m", module, slug], env=env, cwd=server_env["_TMP"],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0 and "seeded" in done.stdout, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def ok(resp, page) -> None:
    assert resp is not None and resp.status == 200, page.locator("body").inner_text()


def signed_in(browser, live_server: str, slug: str, username: str, password: str, large: bool = False):
    """A phone of its own for `username`, signed in on the township's login page: (context, page).
    `large`: the phone chose large type on the login page (kept through sign-in, the account's choice)."""
    ctx = phone_context(browser, live_server)
    page = ctx.new_page()
    ok(page.goto(f"/t/{slug}/login"), page)
    if large:
        with page.expect_navigation():
            page.locator("form.type-size button").click()
    ok(sign_in(page, username, password), page)
    if large:
        in_type_size(page, True)
    return ctx, page


def in_type_size(page, large: bool) -> None:
    """The page is in the type size the walk-through chose (large type or standard)."""
    assert page.evaluate("document.documentElement.classList.contains('large')") is large, page.url


@dataclass(frozen=True)
class TypeSize:
    """One run of a walk-through, in standard or in large type: its own township (slug) and its own
    screenshots (large ones end in `-large`)."""
    large: bool
    take: Callable

    def slug(self, base: str) -> str:
        return base + ("l" if self.large else "")

    def shot(self, page, name: str):
        return self.take(page, f"{name}-large" if self.large else name)
