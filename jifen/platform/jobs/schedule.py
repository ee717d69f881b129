"""Daily jobs per tenant at the tenant's local time, each at most once per (tenant, job, local date).

The beat calls `tick()` every few minutes. For every active township and every registered daily
job whose local time has come today, it inserts a `job_runs` row (unique key: tenant, job, local
date; a second insert does nothing) and then, after commit, enqueues the job by task name. The row
is also the job's outbox: a run still 'claimed' after `REPUBLISH_AFTER` (the enqueue was lost) is
enqueued again; running it twice is harmless because the runner skips a finished run. A run that
failed is published again the same way, up to `MAX_ATTEMPTS` runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.platform.jobs.models import JobRun
from jifen.platform.townships.models import Tenant

REPUBLISH_AFTER = timedelta(minutes=15)
MAX_ATTEMPTS = 3


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
    """Claims whose message was lost, and failed runs with attempts left (a failed job is retried
    on the tick after `REPUBLISH_AFTER`, up to `MAX_ATTEMPTS` runs a day)."""
    rows = db.session.execute(
        select(JobRun.tenant_id, JobRun.job, JobRun.local_date)
        .where(or_(and_(JobRun.status == JobRun.CLAIMED, JobRun.claimed_at < now - REPUBLISH_AFTER),
                   and_(JobRun.status == JobRun.FAILED, JobRun.attempts < MAX_ATTEMPTS,
                        JobRun.finished_at < now - REPUBLISH_AFTER)))
        .execution_options(all_tenants=True)  # the beat looks across tenants on purpose
    ).all()
    return [tuple(r) for r in rows]


def tick(now: datetime | None = None) -> list[tuple]:
    """Claim what is due, then publish it (after the commit, never inside the transaction). The
    claims are their own outbox, so this publishes directly rather than through `jobs.outbox`:
    a broker that is down is logged, and the claims go out again after `REPUBLISH_AFTER`."""
    from jifen.platform.jobs.queue import BROKER_ERRORS, broker, publish

    now = now or clock.now()
    todo, published = claim_due(now) + stale_claims(now), []
    try:
        with broker() as conn:
            for tenant_id, job, local_date in todo:
                try:
                    publish(job, {"tenant_id": str(tenant_id), "local_date": local_date.isoformat()}, conn)
                except BROKER_ERRORS:
                    raise
                except Exception:  # noqa: BLE001 - run inline (eager) and failed: recorded on its run
                    current_app.logger.exception("job %s failed (run inline)", job)
                published.append((tenant_id, job, local_date))
    except BROKER_ERRORS as exc:
        current_app.logger.warning("beat tick: the broker is unreachable (%r); %d claim(s) go out again after %s",
                                   exc, len(todo) - len(published), REPUBLISH_AFTER)
    current_app.logger.info("beat tick: %d job(s) published", len(published))
    return published
