"""Nightly retention: expired idempotency keys go (see platform/idempotency.py)."""
from __future__ import annotations

from celery import shared_task

from jifen.platform import idempotency
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job

PURGE_KEYS = "jifen.purge_idempotency_keys"
register_daily_job(PURGE_KEYS, at="04:10")


def _purge_keys(tenant, day) -> dict:
    return {"removed": idempotency.purge_expired()}


@shared_task(name=PURGE_KEYS, acks_late=True)
def purge_idempotency_keys(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(PURGE_KEYS, tenant_id, local_date, _purge_keys, force=force)
