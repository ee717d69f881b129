"""Steps the browser tests share: a phone, submitting a form, signing in, the no-sideways-scroll check."""
from __future__ import annotations


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
