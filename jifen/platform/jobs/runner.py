"""Run one claimed daily job for one tenant, idempotently.

A finished run is skipped, so a redelivered or republished task does nothing twice; a run that
died halfway is simply run again (job bodies are written to converge to the same result). A failed
run gets its next attempt time (schedule.retry_after) or, with none left, is told to the admins; so
is a finished check whose result counts "problems" (a broken audit chain, a balance difference).

The body runs on the clock of its own date: a run for another day than the township's today (named
with `jifen run-job --date`, or a task picked up after midnight) sees that day at the job's
scheduled local time, so what it dates and stamps (a notice it opens, an order it expires) belongs
to that day, not to the day it happened to run. The run's own bookkeeping keeps the real time.
"""
from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import date, time
from typing import Callable

from sqlalchemy import select

from jifen.platform import clock, logs, unit_of_work
from jifen.platform.db import db
from jifen.platform.jobs.alerts import tell
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import DAILY_JOBS, MAX_ATTEMPTS, claim_run, retry_after
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant


def run_daily(job: str, tenant_id: str, local_date: str, body: Callable[[Tenant, date], dict],
              *, force: bool = False) -> dict:
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return {"skipped": "unknown tenant"}
    day = date.fromisoformat(local_date)
    with tenant_scope(tenant):
        # run by hand (CLI) without the beat: claim it now; two at once both find it missing, so
        # insert-or-nothing (a plain insert crashed the second on the unique key), then lock it
        claim_run(tenant.id, job, day)
        run = db.session.execute(
            select(JobRun).where(JobRun.job == job, JobRun.local_date == day).with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        if run.status == JobRun.DONE and not force:
            db.session.rollback()
            return {"skipped": "already done", **(run.result or {})}
        run.status, run.started_at, run.attempts = JobRun.RUNNING, clock.now(), (run.attempts or 0) + 1
        db.session.flush()
        run_id = run.id
        db.session.commit()
        try:
            with _as_of(job, tenant, day), logs.bind(job_run_id=run_id):  # on every later line of the task, its failure's too
                result = body(tenant, day) or {}
        except Exception as exc:
            unit_of_work.abandon()
            failed = db.session.execute(select(JobRun).where(JobRun.id == run_id)).scalar_one()
            now = clock.now()
            failed.status, failed.error, failed.finished_at = JobRun.FAILED, repr(exc)[:2000], now
            failed.next_attempt_at = (now + retry_after(failed.attempts) if failed.attempts < MAX_ATTEMPTS
                                      else None)
            gave_up = failed.next_attempt_at is None
            db.session.commit()
            if gave_up:
                tell(tenant.id, run_id)
            raise
        done = db.session.execute(select(JobRun).where(JobRun.id == run_id)).scalar_one()
        done.status, done.result, done.finished_at, done.error = JobRun.DONE, result, clock.now(), None
        done.next_attempt_at = None
        problems = done.problems
        db.session.commit()
        if problems:
            tell(tenant.id, run_id)
        return result


def _as_of(job: str, tenant: Tenant, day: date):
    if day == clock.today(tenant):
        return nullcontext()
    scheduled = DAILY_JOBS[job].at if job in DAILY_JOBS else time(0)
    return clock.at(clock.local_moment(day, scheduled, tenant))
