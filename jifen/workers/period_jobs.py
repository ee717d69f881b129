"""Period close at the end of the year: the daily job that closes a past year once the new one has
begun (and sweeps points that reached a closed year since), and the task that runs a close a
township admin asked for by hand."""
from __future__ import annotations

import uuid

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.db import db
from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import period_close

CLOSE = "jifen.period_close"
register_daily_job(CLOSE, at="00:10", label=_l("Close last year"))


def _close(tenant, day) -> dict:
    result = period_close.nightly(Actor.system("period close job", tenant.id), today=day)
    return result | {"rows": result["households"]}  # the households closed (job-runs page)


@shared_task(name=CLOSE, acks_late=True)
def period_close_job(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(CLOSE, tenant_id, local_date, _close, force=force)


@shared_task(name=period_close.RUN_TASK, acks_late=True)
def period_close_run(tenant_id: str, period: int) -> dict:
    """Run (or resume) the close of `period` started by hand; redelivered, it finishes the work or
    finds nothing left to do."""
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return {"skipped": "unknown tenant"}
    with tenant_scope(tenant):
        pc = period_close.get_close(int(period))
        name = f"{pc.started_by_name} · period close" if pc is not None and pc.started_by_name else "period close"
        run = period_close.run_close(Actor.system(name[:100], tenant.id), int(period))
        return {"period": int(period), "households": run.households, "carried": run.carried,
                "expired": run.expired}
