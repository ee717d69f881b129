"""Issue 12's pages in a real browser, on a phone: the township admin reads the job runs (state per job
and day, the run's detail) and the retention rules; the county operator reads the job counts per
township and finds the account tools on a township's page.

Assertions are on data (job names, states, element ids), not on translated text.
"""
from __future__ import annotations

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "opsjobs"
T = f"/t/{SLUG}"
CHECKS = ("jifen.audit_chain_check", "jifen.ledger_balance_check")


def test_job_runs_retention_and_the_county_tools(browser, live_server, server_env, jifen_cli, shot, operator):
    run_seed(server_env, "tests.browser.seed_points", SLUG, timeout=120)  # 琴口镇
    for job in CHECKS:
        jifen_cli("run-job", job, "--tenant", SLUG)

    # the township admin: today's runs of the two checks are done; the detail page opens
    ctx, page = signed_in(browser, live_server, SLUG, "admin", PASSWORD)
    ok(page.goto(f"{T}/jobs/"), page)
    for job in CHECKS:
        row = page.locator(f'tr[data-job="{job}"]').first
        assert row.get_attribute("data-state") == "done", page.locator("main").inner_text()
    no_horizontal_scroll(page)
    shot(page, "ops-01-job-runs")
    links = page.locator(f'tr[data-job="{CHECKS[0]}"] a')
    if links.count():
        with page.expect_navigation() as nav:
            links.first.click()
        ok(nav.value, page)
        no_horizontal_scroll(page)
        shot(page, "ops-02-job-run-detail")
    ok(page.goto(f"{T}/audit/retention"), page)
    no_horizontal_scroll(page)
    shot(page, "ops-03-retention")
    ctx.close()

    # the county operator: counts per township (琴口镇 among them), then the township's tools
    ctx = phone_context(browser, live_server)
    page = ctx.new_page()
    ok(page.goto("/county/login"), page)
    ok(sign_in(page, operator["username"], operator["password"]), page)
    ok(page.goto("/county/jobs"), page)
    assert "琴口镇" in page.locator("main").inner_text()
    no_horizontal_scroll(page)
    shot(page, "ops-04-county-jobs")
    ok(page.goto(f"/county/townships/{SLUG}"), page)
    assert page.locator("input[name=username]").count() >= 1  # setup link / password reset for an account
    no_horizontal_scroll(page)
    shot(page, "ops-05-county-township-tools")
    ctx.close()
