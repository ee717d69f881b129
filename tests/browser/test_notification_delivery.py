"""Notifications on phones: a villager chooses how messages reach the household (from the household
page), the township admin sees this morning's digest on the console home and sends a given-up
message again from the delivery page. Assertions are on ids, names and data, not translated text."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.steps import no_horizontal_scroll, phone_context, sign_in, submit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinkounf"
T = f"/t/{SLUG}"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seeded(server_env, live_server):
    env = dict(server_env)
    env["PYTHONPATH"] = f"{REPO}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    done = subprocess.run([sys.executable, "-m", "tests.browser.seed_notifications", SLUG], env=env,
                          cwd=server_env["_TMP"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "seeded" in done.stdout, f"{done.stdout}\n{done.stderr}"
    return live_server


def _signed_in(browser, base, username):
    ctx = phone_context(browser, base)
    page = ctx.new_page()
    assert page.goto(f"{T}/login").status == 200
    assert sign_in(page, username, PASSWORD).status == 200
    return ctx, page


def test_villager_chooses_sms_with_quiet_hours(browser, seeded, shot):
    ctx, page = _signed_in(browser, seeded, "villager")
    try:
        assert page.goto(f"{T}/ledger/me").status == 200
        panel = page.locator("#message-prefs")
        assert panel.count() == 1
        no_horizontal_scroll(page)
        with page.expect_navigation():
            panel.locator("a.button").click()
        assert "/notifications/households/" in page.url
        page.check("input[name=channel][value=sms]")
        page.fill("input[name=phone]", "13900000001")
        page.select_option("select[name=language]", "en")
        page.fill("input[name=quiet_start]", "21:00")
        page.fill("input[name=quiet_end]", "07:00")
        no_horizontal_scroll(page)
        shot(page, "notifications-01-preferences")
        resp = submit(page, "#prefs-form")
        assert resp.status == 200 and page.locator("#saved").count() == 1
        assert page.input_value("input[name=phone]") == "13900000001"
        assert page.is_checked("input[name=channel][value=sms]")
        assert page.goto(f"{T}/ledger/me").status == 200
        assert "13900000001" in page.locator("#message-prefs").inner_text()  # their own phone, unmasked
        shot(page, "notifications-02-household-panel")
    finally:
        ctx.close()


def test_admin_reads_the_digest_and_sends_a_dead_message_again(browser, seeded, shot):
    ctx, page = _signed_in(browser, seeded, "admin")
    try:
        banner = page.locator("#staff-digest")
        assert banner.count() == 1
        assert banner.locator("li[data-source='points.to_verify'] .nf-count").inner_text() == "1"
        no_horizontal_scroll(page)
        shot(page, "notifications-03-digest-banner")
        with page.expect_navigation():
            page.locator(f"a[href='{T}/notifications/deliveries']").click()
        # the gateway failed for household 2's SMS: the channel confirmation and the "verified" message
        rows = page.locator("li.nf-row[data-state=dead]")
        assert rows.count() == 2 and "HTTP 500" in rows.first.inner_text()
        no_horizontal_scroll(page)
        shot(page, "notifications-04-deliveries")
        with page.expect_navigation():
            rows.first.locator("button").click()
        assert page.locator("#retried").count() == 1
        assert page.locator("li.nf-row[data-state=dead]").count() == 1
        assert page.locator(".nf-count-pending .nf-num").inner_text() == "1"
    finally:
        ctx.close()
