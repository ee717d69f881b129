"""Retention: expired idempotency keys and old notifications go nightly (platform/idempotency.py,
tenants/notifications/retention.py), and so do upload objects in the bucket that no row names
(platform/files/storage.py), with photos staged for a refused form that was never sent again;
offboarded townships are deleted once their grace period ends
(platform/townships/offboarding.py), checked hourly."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform import idempotency
from jifen.platform.files import service as files
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.notifications import retention as notification_retention

PURGE_KEYS = "jifen.purge_idempotency_keys"
PURGE_NOTIFICATIONS = "jifen.purge_notifications"
register_daily_job(PURGE_KEYS, at="04:10", label=_l("Remove expired request keys"))
SWEEP_FILE_OBJECTS = "jifen.sweep_file_objects"
OFFBOARD_DUE = "jifen.offboard_due"  # hourly (workers/__init__.py), on the nightly queue
register_daily_job(PURGE_NOTIFICATIONS, at="04:20", label=_l("Remove old notifications"))
register_daily_job(SWEEP_FILE_OBJECTS, at="04:30", label=_l("Remove orphaned upload objects"))


def _purge_keys(tenant, day) -> dict:
    removed = idempotency.purge_expired()
    return {"removed": removed, "rows": removed}


def _purge_notifications(tenant, day) -> dict:
    removed = notification_retention.purge()
    return {"removed": removed, "rows": removed}


def _sweep_file_objects(tenant, day) -> dict:
    staged = files.purge_staged()  # first: a bucket object whose row goes here is an orphan from now on
    result = files.sweep_orphan_objects()
    return result | {"staged_deleted": staged, "rows": result.get("deleted", 0) + staged}


@shared_task(name=SWEEP_FILE_OBJECTS, acks_late=True)
def sweep_file_objects(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(SWEEP_FILE_OBJECTS, tenant_id, local_date, _sweep_file_objects, force=force)


@shared_task(name=PURGE_NOTIFICATIONS, acks_late=True)
def purge_notifications(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(PURGE_NOTIFICATIONS, tenant_id, local_date, _purge_notifications, force=force)


@shared_task(name=PURGE_KEYS, acks_late=True)
def purge_idempotency_keys(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(PURGE_KEYS, tenant_id, local_date, _purge_keys, force=force)


@shared_task(name=OFFBOARD_DUE, ignore_result=True)
def offboard_due() -> dict:
    """Delete the due, exported townships (in committed chunks: a run stopped by its time limit is
    resumed by the next); those never exported since their offboarding are held."""
    from jifen.platform.townships.offboarding import delete_due

    done, held = delete_due()
    return {"deleted": done, "waiting_for_export": held}
