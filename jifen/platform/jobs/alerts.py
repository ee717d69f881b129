"""Telling people that a daily job failed for good, or that a check job found a problem.

The platform knows the run, not who reads about it: the notifications capability registers a
listener (the township admins' digest and its text). `tell` calls each listener once per run
(`JobRun.alerted_at`), in the run's township, and commits. A listener that fails is logged and
leaves the run untold; the job-runs pages show the run either way."""
from __future__ import annotations

import uuid
from typing import Callable

from flask import current_app
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant

LISTENERS: list[Callable] = []  # (tenant, run) -> None; writes in the session, does not commit


def register_alert_listener(listener: Callable) -> None:
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def tell(tenant_id, run_id) -> bool:
    """Tell the listeners about this run unless already told. True when told now."""
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return False
    with tenant_scope(tenant):
        run = db.session.execute(select(JobRun).where(JobRun.id == run_id).with_for_update()).scalar_one_or_none()
        if run is None or run.alerted_at is not None:
            db.session.rollback()
            return False
        try:
            for listener in LISTENERS:
                listener(tenant, run)
            run.alerted_at = clock.now()
            what = (run.job, run.local_date)
            db.session.commit()
        except Exception:  # noqa: BLE001 - an alert must not turn into a second failure of the job
            db.session.rollback()
            current_app.logger.exception("could not tell about job run %s of %s", run_id, tenant.slug)
            return False
    current_app.logger.warning("job %s of %s on %s: told the admins", what[0], tenant.slug, what[1])
    return True
