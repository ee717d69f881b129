"""Notification delivery and the nightly staff digest.

`jifen.deliver_notifications` runs every NOTIFY_DELIVER_SECONDS from the beat (not a daily job): it
plans and sends what is due in every township with work, and is safe to run in several workers at
once (see tenants/notifications/delivery.py). Without a beat (the embedded default) run it with
`jifen delivery deliver`. `jifen.staff_digest` is a daily job at 07:30 township time.
"""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.notifications import delivery, digest

DELIVER = "jifen.deliver_notifications"
DIGEST = "jifen.staff_digest"
register_daily_job(DIGEST, at="07:30", label=_l("Staff morning digest"), spread=False)  # a morning digest: on time


@shared_task(name=DELIVER, acks_late=True, ignore_result=True)
def deliver_notifications(tenant_id: str | None = None) -> dict:
    return delivery.deliver_all(tenant_id)


@shared_task(name=DIGEST, acks_late=True)
def staff_digest(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(DIGEST, tenant_id, local_date, _digest, force=force)


def _digest(tenant, day) -> dict:
    result = digest.run(tenant, day)
    return result | {"rows": result["digests"]}  # the day's digests (job-runs page)
