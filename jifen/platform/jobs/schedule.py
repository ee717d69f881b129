"""Daily jobs per tenant at the tenant's local time, each at most once per (tenant, job, local date).

The beat calls `tick()` every few minutes. For every active township and every registered daily
job whose local time has come today, it inserts a `job_runs` row (unique key: tenant, job, local
date; a second insert does nothing) and then, after commit, enqueues the job by task name. The row
is also the job's outbox: a run still 'claimed' after `REPUBLISH_AFTER` (the enqueue was lost) is
enqueued again; running it twice is harmless because the runner skips a finished run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.platform.jobs.models import JobRun
from jifen.platform.townships.models import Tenant

REPUBLISH_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class DailyJob:
    name: str  # the Celery task name
    at: time  # local time in the tenant's timezone


DAILY_JOBS: dict[str, DailyJob] = {}


def register_daily_job(name: str, at: str) -> None:
    hour, minute = (int(x) for x in at.split(":"))
    DAILY_JOBS[name] = DailyJob(name, time(hour, minute))


def _insert_ignore():
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(JobRun)


def claim_due(now: datetime | None = None) -> list[tuple]:
    """Claim every due (tenant, job, local date); returns the newly claimed ones. Commits."""
    now = now or clock.now()
    claimed = []
    tenants = db.session.execute(select(Tenant).where(Tenant.status == Tenant.ACTIVE)).scalars().all()
    for tenant in tenants:
        local = now.astimezone(clock.zone(tenant))
        for job in DAILY_JOBS.values():
            if local.time() < job.at:
                continue
            # raw insert: the tenant is bound explicitly (reviewed; see tenancy.py)
            stmt = _insert_ignore().values(
                tenant_id=tenant.id, id=new_id(), job=job.name, local_date=local.date(),
                status=JobRun.CLAIMED, claimed_at=now, attempts=0,
            ).on_conflict_do_nothing(index_elements=["tenant_id", "job", "local_date"]).returning(JobRun.id)
            if db.session.execute(stmt).first() is not None:  # rowcount is unreliable here
                claimed.append((tenant.id, job.name, local.date()))
    db.session.commit()
    return claimed


def stale_claims(now: datetime) -> list[tuple]:
    rows = db.session.execute(
        select(JobRun.tenant_id, JobRun.job, JobRun.local_date)
        .where(JobRun.status == JobRun.CLAIMED, JobRun.claimed_at < now - REPUBLISH_AFTER)
        .execution_options(all_tenants=True)  # the beat looks across tenants on purpose
    ).all()
    return [tuple(r) for r in rows]


def tick(now: datetime | None = None) -> list[tuple]:
    """Claim what is due, then publish it (after the commit, never inside the transaction)."""
    from jifen.platform.jobs.queue import enqueue

    now = now or clock.now()
    todo = claim_due(now) + stale_claims(now)
    for tenant_id, job, local_date in todo:
        enqueue(job, tenant_id=str(tenant_id), local_date=local_date.isoformat())
    current_app.logger.info("beat tick: %d job(s) published", len(todo))
    return todo
