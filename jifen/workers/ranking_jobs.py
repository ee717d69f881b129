"""The nightly ranking job: one snapshot per township per local date (see tenants/rankings/service.py)."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.rankings import service

NIGHTLY = "jifen.nightly_ranking"
register_daily_job(NIGHTLY, at="01:30", label=_l("Nightly ranking"))


def _nightly(tenant, day) -> dict:
    result = service.take_snapshot(day)
    return result | {"rows": result["households"]}  # the snapshot rows written (job-runs page)


@shared_task(name=NIGHTLY, acks_late=True)
def nightly_ranking(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(NIGHTLY, tenant_id, local_date, _nightly, force=force)
