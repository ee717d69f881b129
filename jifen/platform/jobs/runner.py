"""Run one claimed daily job for one tenant, idempotently.

A finished run is skipped, so a redelivered or republished task does nothing twice; a run that
died halfway is simply run again (job bodies are written to converge to the same result).
"""
from __future__ import annotations

import uuid
from datetime import date
from typing import Callable

from sqlalchemy import select

from jifen.platform.db import db, utcnow
from jifen.platform.jobs.models import JobRun
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant


def run_daily(job: str, tenant_id: str, local_date: str, body: Callable[[Tenant, date], dict],
              *, force: bool = False) -> dict:
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return {"skipped": "unknown tenant"}
    day = date.fromisoformat(local_date)
    with tenant_scope(tenant):
        run = db.session.execute(
            select(JobRun).where(JobRun.job == job, JobRun.local_date == day).with_for_update()
        ).scalar_one_or_none()
        if run is None:  # run by hand (CLI) without the beat: claim it now
            run = JobRun(job=job, local_date=day)
            db.session.add(run)
        elif run.status == JobRun.DONE and not force:
            db.session.rollback()
            return {"skipped": "already done", **(run.result or {})}
        run.status, run.started_at, run.attempts = JobRun.RUNNING, utcnow(), (run.attempts or 0) + 1
        db.session.flush()
        run_id = run.id
        db.session.commit()
        try:
            result = body(tenant, day) or {}
        except Exception as exc:
            db.session.rollback()
            failed = db.session.execute(select(JobRun).where(JobRun.id == run_id)).scalar_one()
            failed.status, failed.error, failed.finished_at = JobRun.FAILED, repr(exc)[:2000], utcnow()
            db.session.commit()
            raise
        done = db.session.execute(select(JobRun).where(JobRun.id == run_id)).scalar_one()
        done.status, done.result, done.finished_at, done.error = JobRun.DONE, result, utcnow(), None
        db.session.commit()
        return result
