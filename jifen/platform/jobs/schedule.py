"""Daily jobs per tenant at the tenant's local time, each at most once per (tenant, job, local date).

The beat calls `tick()` every few minutes. For every active township and every registered daily
job whose local time has come today, it inserts a `job_runs` row (unique key: tenant, job, local
date; a second insert does nothing) and then, after commit, enqueues the job by task name. The row
is also the job's outbox: a run still 'claimed' after `REPUBLISH_AFTER` (the enqueue was lost) is
enqueued again; running it twice is harmless because the runner skips a finished run.

Retries: a run that failed gets `next_attempt_at` = its failure + `retry_after(attempts)` (5 min,
then 20 min: each wait four times the last) and is claimed and published again then, up to
`MAX_ATTEMPTS` runs a day. A run still 'running' `STUCK_AFTER` after it started was killed (the
worker died or was stopped mid-run): it is claimed again the same way, or, with no attempt left,
marked failed. A run that fails for good is told to the township's admins (`alerts`).
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
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant

REPUBLISH_AFTER = timedelta(minutes=15)
MAX_ATTEMPTS = 3
RETRY_BASE = timedelta(minutes=5)
STUCK_AFTER = timedelta(hours=1)


def retry_after(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed run a job is tried again: 5 min, 20 min, 80 min..."""
    return RETRY_BASE * 4 ** max(attempts - 1, 0)


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
    """Claims whose message was lost (older than `REPUBLISH_AFTER`)."""
    rows = db.session.execute(
        select(JobRun.tenant_id, JobRun.job, JobRun.local_date)
        .where(JobRun.status == JobRun.CLAIMED, JobRun.claimed_at < now - REPUBLISH_AFTER)
        .execution_options(all_tenants=True)  # the beat looks across tenants on purpose
    ).all()
    return [tuple(r) for r in rows]


def due_retries(now: datetime) -> tuple[list[tuple], list]:
    """Failed runs whose `next_attempt_at` has come, and killed runs (running past `STUCK_AFTER`) with
    attempts left: claimed again (so a lost publish is caught like any claim). Killed runs with no
    attempt left are marked failed for good. Returns (claimed again, (tenant id, run id) given up). Commits."""
    rows = db.session.execute(
        select(JobRun)
        .where(or_(and_(JobRun.status == JobRun.FAILED, JobRun.next_attempt_at.is_not(None),
                        JobRun.next_attempt_at <= now),
                   and_(JobRun.status == JobRun.RUNNING, JobRun.started_at < now - STUCK_AFTER)))
        .with_for_update(skip_locked=True)  # a run its worker still holds is not touched
        .execution_options(all_tenants=True)  # the beat looks across tenants on purpose
    ).scalars().all()
    again, given_up = [], []
    for run in rows:
        with tenant_scope(db.session.get(Tenant, run.tenant_id)):  # each row is written in its township
            if run.status == JobRun.RUNNING:
                run.error = f"stopped without finishing (still running {STUCK_AFTER} after it started)"
            if run.status == JobRun.RUNNING and (run.attempts or 0) >= MAX_ATTEMPTS:
                run.status, run.finished_at, run.next_attempt_at = JobRun.FAILED, now, None
                given_up.append((run.tenant_id, run.id))
            else:
                run.status, run.claimed_at, run.next_attempt_at = JobRun.CLAIMED, now, None
                again.append((run.tenant_id, run.job, run.local_date))
            db.session.flush()
    db.session.commit()
    return again, given_up


def tick(now: datetime | None = None) -> list[tuple]:
    """Claim what is due, then publish it (after the commit, never inside the transaction). The
    claims are their own outbox, so this publishes directly rather than through `jobs.outbox`:
    a broker that is down is logged, and the claims go out again after `REPUBLISH_AFTER`."""
    from jifen.platform.jobs.alerts import tell
    from jifen.platform.jobs.queue import BROKER_ERRORS, broker, publish

    now = now or clock.now()
    stale = stale_claims(now)
    again, given_up = due_retries(now)
    for tenant_id, run_id in given_up:
        tell(tenant_id, run_id)
    todo, published = claim_due(now) + stale + again, []
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
