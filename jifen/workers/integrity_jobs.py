"""The nightly integrity signals job: hash new photos, run the detectors over the last
`LOOKBACK_DAYS`, write the signals not yet known (see tenants/integrity/detectors.py)."""
from __future__ import annotations

from datetime import time, timedelta

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.integrity import detectors

SIGNALS = "jifen.integrity_signals"
register_daily_job(SIGNALS, at="03:00", label=_l("Integrity signals"))


def _signals(tenant, day) -> dict:
    since = clock.local_moment(day - timedelta(days=detectors.LOOKBACK_DAYS), time(0), tenant)
    return detectors.run_all(day, since)  # "rows": the new signals (job-runs page)


@shared_task(name=SIGNALS, acks_late=True)
def integrity_signals(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(SIGNALS, tenant_id, local_date, _signals, force=force)
