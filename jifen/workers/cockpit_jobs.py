"""The nightly cockpit facts job: one build per township per local date (tenants/cockpit/facts.py).

It runs after the ranking and the period-close sweep (02:30), so the night's facts include what
they wrote."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.cockpit import facts

NIGHTLY = "jifen.cockpit_facts"
register_daily_job(NIGHTLY, at="02:30", label=_l("Dashboard figures"))


def _build(tenant, day) -> dict:
    return facts.build(day)


@shared_task(name=NIGHTLY, acks_late=True)
def cockpit_facts(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(NIGHTLY, tenant_id, local_date, _build, force=force)
