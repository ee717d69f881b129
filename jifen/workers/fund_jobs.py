"""The nightly fund coverage job: one snapshot row per scope per township per local date (see
tenants/funds/coverage.py). Runs after the store's order expiry (01:15) so tonight's released
orders are no longer counted as reserved."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.funds import coverage

FUND_COVERAGE = "jifen.fund_coverage"
register_daily_job(FUND_COVERAGE, at="01:45", label=_l("Fund coverage"))


def _coverage(tenant, day) -> dict:
    return coverage.take_snapshot(day)  # "rows": the scopes written (job-runs page)


@shared_task(name=FUND_COVERAGE, acks_late=True)
def fund_coverage(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(FUND_COVERAGE, tenant_id, local_date, _coverage, force=force)
