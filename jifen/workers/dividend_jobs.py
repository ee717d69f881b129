"""Dividend settlement runs in chunks (see jifen/tenants/dividends/settlement.py).

`jifen.dividend_settle` is enqueued when a simulation starts (and by "resume"): it works through
the run's pending chunks, then the last step. Several copies share a run; a killed one leaves its
chunk pending, and the next copy finishes the run with the same result. `jifen.dividend_resume` is
the daily sweeper that finishes runs nobody resumed.
"""
from __future__ import annotations

import uuid

from celery import shared_task
from flask import current_app
from flask_babel import lazy_gettext as _l

from jifen.platform.db import db
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import settlement
from jifen.workers import will_retry

RESUME = "jifen.dividend_resume"
register_daily_job(RESUME, at="02:45", label=_l("Finish interrupted dividend runs"))


@shared_task(name=settlement.SETTLE_TASK, acks_late=True, bind=True)
def dividend_settle(self, tenant_id: str, run_id: str) -> dict:
    """A failure that will not be retried marks the run failed (never left computing for good)."""
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return {"skipped": "unknown tenant"}
    with tenant_scope(tenant):
        try:
            return settlement.work(run_id)
        except Exception as exc:
            if not will_retry(self, exc):
                try:
                    settlement.stopped(run_id, exc)
                except Exception:  # noqa: BLE001 - the database is gone too: the stall shows "resume"
                    db.session.rollback()
                    current_app.logger.exception("dividend run %s: could not record the failure", run_id)
            raise


def _resume(tenant, day) -> dict:
    result = settlement.resume_all()
    return result | {"rows": result["finished"]}  # the chunks finished (job-runs page)


@shared_task(name=RESUME, acks_late=True)
def dividend_resume(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(RESUME, tenant_id, local_date, _resume, force=force)
