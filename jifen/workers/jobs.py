"""The platform's own daily jobs; later capabilities add theirs in modules beside this one.

Each task takes the tenant and the tenant's local date, and goes through `run_daily`, which makes
it run at most once per day and skip a finished run when redelivered.
"""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete

from jifen.platform import clock
from jifen.platform.accounts.models import SetupLink, UserSession
from jifen.platform.audit.anchor import CHAIN_CHECK_JOB
from jifen.platform.audit.service import verify_chain
from jifen.platform.db import db
from jifen.platform.jobs import outbox
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job, tick

AUDIT_CHECK = CHAIN_CHECK_JOB
PURGE = "jifen.purge_expired_credentials"
register_daily_job(AUDIT_CHECK, at="03:00", label=_l("Audit chain check"))
register_daily_job(PURGE, at="04:00", label=_l("Remove expired sign-ins and links"))


@shared_task(name="jifen.beat_tick", ignore_result=True)
def beat_tick() -> int:
    return len(tick())


@shared_task(name="jifen.outbox_drain", ignore_result=True)
def outbox_drain() -> dict:
    """The dispatcher: publish the jobs whose publishing after their commit failed (broker down)."""
    return outbox.drain()


def _audit_check(tenant, day) -> dict:
    """Verify the chain and, if it holds, anchor its head in this job's record and the log (see
    audit/anchor.py). A broken chain is not anchored: the last good anchor keeps showing the break,
    and the run counts one problem, which the runner tells the township's admins (jobs.alerts)."""
    report = verify_chain()
    result = {"entries": report.entries, "ok": report.ok, "first_bad_seq": report.first_bad_seq,
              "rows": report.entries, "problems": 0 if report.ok else 1}
    if not report.ok:
        current_app.logger.error("audit chain of %s broken at seq %s: %s", tenant.slug,
                                 report.first_bad_seq, report.problem)
        return result
    current_app.logger.info("audit anchor %s %s: seq %d hash %s", tenant.slug, day.isoformat(),
                            report.head_seq, report.head_hash)
    return result | {"anchor": {"seq": report.head_seq, "hash": report.head_hash}}


def _purge(tenant, day) -> dict:
    """Sessions and setup links that ended over 30 days ago are of no further use."""
    cutoff = clock.now() - timedelta(days=30)
    removed = 0
    for model in (UserSession, SetupLink):
        removed += db.session.execute(
            delete(model).where((model.expires_at < cutoff) | (model.revoked_at < cutoff))
        ).rowcount
    return {"removed": removed, "rows": removed}


@shared_task(name=AUDIT_CHECK, acks_late=True)
def audit_chain_check(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(AUDIT_CHECK, tenant_id, local_date, _audit_check, force=force)


@shared_task(name=PURGE, acks_late=True)
def purge_expired_credentials(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(PURGE, tenant_id, local_date, _purge, force=force)
