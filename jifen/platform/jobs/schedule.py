"""Daily jobs per tenant at the tenant's local time, each at most once per (tenant, job, local date).

The beat calls `tick()` every few minutes. For every active township and every registered daily
job whose start has come today (its local time plus the township's stable offset in the night
window, see `night_offset`), it inserts a `job_runs` row (unique key: tenant, job, local
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

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import and_, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.citus.fan_out import fan_out
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


NIGHT_SPREAD_MINUTES = 120  # townships' nightly work starts spread over this window


@dataclass(frozen=True)
class DailyJob:
    name: str  # the Celery task name
    at: time  # local time in the tenant's timezone (the window's start for a spread job)
    spread: bool = True  # start at `at` + the township's offset (False: at `at` exactly, e.g. a morning digest)
    label: object = ""  # what the job-runs pages call it (a lazy translation); empty: its task name


DAILY_JOBS: dict[str, DailyJob] = {}


def register_daily_job(name: str, at: str, *, label, spread: bool = True) -> None:
    hour, minute = (int(x) for x in at.split(":"))
    DAILY_JOBS[name] = DailyJob(name, time(hour, minute), spread, label)


def job_label(name: str) -> str:
    """A daily job's name for people (its task name when it has none, e.g. a job since removed)."""
    job = DAILY_JOBS.get(name)
    return str(job.label) if job is not None and job.label else name


def night_offset(tenant_id: uuid.UUID) -> int:
    """The township's stable offset in minutes, 0 ≤ offset < NIGHT_SPREAD_MINUTES: from a hash of
    its id, so it never changes and 2,000 townships do not all start at the same minute. The same
    offset moves every spread job of a township, so their order within the night is kept (notices
    are posted before the ranking is taken). `_OFFSET_SQL` is the same formula in PostgreSQL."""
    digest = hashlib.md5(str(tenant_id).encode()).digest()
    return (digest[0] * 256 + digest[1]) % NIGHT_SPREAD_MINUTES


_OFFSET_SQL = ("((get_byte(decode(md5(t.id::text), 'hex'), 0) * 256 "
               "+ get_byte(decode(md5(t.id::text), 'hex'), 1)) % :spread)")


def starts_at(job: DailyJob, tenant_id: uuid.UUID) -> int:
    """Minute of the local day the job is due for this township (never past 23:59)."""
    return min(job.at.hour * 60 + job.at.minute + (night_offset(tenant_id) if job.spread else 0), 24 * 60 - 1)


def _insert_ignore():
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(JobRun)


def claim_run(tenant_id, job: str, day) -> None:
    """Make sure the (tenant, job, day) run row exists (a run started by hand, without the beat);
    insert-or-nothing, so two at once do not crash on the unique key."""
    db.session.execute(_insert_ignore().values(
        tenant_id=tenant_id, id=new_id(), job=job, local_date=day, status=JobRun.CLAIMED, claimed_at=clock.now(),
        attempts=0).on_conflict_do_nothing(index_elements=["tenant_id", "job", "local_date"]))


# One statement claims every due run of every active township (PostgreSQL): the tenants crossed
# with the registered jobs, due when the township's local minute of the day has reached the job's
# start (its time plus the township's offset), inserted unless claimed already. Raw SQL, reviewed:
# it reads across tenants on purpose (the beat), binding each row's tenant from `tenants`.
CLAIM_SQL = """
WITH due AS (
  SELECT t.id AS tenant_id, j.job, l.local::date AS local_date
  FROM tenants t
  CROSS JOIN LATERAL (SELECT (CAST(:now AS timestamptz) AT TIME ZONE t.timezone) AS local) l
  CROSS JOIN (SELECT * FROM unnest(CAST(:jobs AS text[]), CAST(:ats AS int[]), CAST(:spreads AS bool[])))
       AS j(job, at_minute, spread)
  WHERE t.status = :active
    AND extract(hour FROM l.local) * 60 + extract(minute FROM l.local)
        >= least(j.at_minute + CASE WHEN j.spread THEN {offset} ELSE 0 END, 1439)
)
INSERT INTO job_runs (tenant_id, id, job, local_date, status, claimed_at, attempts)
SELECT d.tenant_id, gen_random_uuid(), d.job, d.local_date, :claimed, :now, 0
FROM due d
WHERE NOT EXISTS (SELECT 1 FROM job_runs r
                  WHERE r.tenant_id = d.tenant_id AND r.job = d.job AND r.local_date = d.local_date)
ON CONFLICT (tenant_id, job, local_date) DO NOTHING
RETURNING tenant_id, job, local_date
""".format(offset=_OFFSET_SQL)


def claim_params(now: datetime) -> dict:
    jobs = list(DAILY_JOBS.values())
    return {"now": now, "jobs": [j.name for j in jobs], "ats": [j.at.hour * 60 + j.at.minute for j in jobs],
            "spreads": [j.spread for j in jobs], "spread": NIGHT_SPREAD_MINUTES, "active": Tenant.ACTIVE,
            "claimed": JobRun.CLAIMED}


def claim_due(now: datetime | None = None) -> list[tuple]:
    """Claim every due (tenant, job, local date); returns the newly claimed ones. Commits.

    PostgreSQL: one set-based statement (`CLAIM_SQL`), timed in bench/beat_bench.py. SQLite (no
    time zones in SQL): the due rows are worked out here, then inserted in one statement."""
    now = now or clock.now()
    if not DAILY_JOBS:
        return []
    if db.session.get_bind().dialect.name == "postgresql" and not current_app.config["CITUS"]:
        rows = db.session.execute(text(CLAIM_SQL), claim_params(now)).all()
        claimed = [tuple(r) for r in rows]
        db.session.commit()
        return claimed
    tenants = db.session.execute(select(Tenant.id, Tenant.timezone).where(Tenant.status == Tenant.ACTIVE)).all()
    due = []
    for tenant_id, tz in tenants:
        local = now.astimezone(clock.zone(SimpleNamespace(timezone=tz)))
        minute = local.hour * 60 + local.minute
        due += [(tenant_id, job.name, local.date()) for job in DAILY_JOBS.values() if minute >= starts_at(job, tenant_id)]
    if due and current_app.config["CITUS"]:
        due = _not_claimed(due)
    claimed = []
    if due:
        # raw insert: each row's tenant is bound explicitly (reviewed; see tenancy.py)
        stmt = _insert_ignore().values([
            {"tenant_id": t, "id": new_id(), "job": j, "local_date": d, "status": JobRun.CLAIMED, "claimed_at": now,
             "attempts": 0} for t, j, d in due
        ]).on_conflict_do_nothing(index_elements=["tenant_id", "job", "local_date"]).returning(
            JobRun.tenant_id, JobRun.job, JobRun.local_date).execution_options(**fan_out("beat.claim"))
        claimed = [tuple(r) for r in db.session.execute(stmt).all()]
    db.session.commit()
    return claimed


def _not_claimed(due: list[tuple]) -> list[tuple]:
    """On Citus the claim is worked out here (the townships are a reference table, read on the
    coordinator) and the runs already claimed are read back by their unique key, one index probe per
    due run on each worker, so only new claims are inserted (CLAIM_SQL's NOT EXISTS, as a join of
    the coordinator's tenants with every shard, is not what Citus runs well)."""
    claimed = set(db.session.execute(
        select(JobRun.tenant_id, JobRun.job, JobRun.local_date)
        .where(JobRun.tenant_id.in_({t for t, _, _ in due}), JobRun.job.in_({j for _, j, _ in due}),
               JobRun.local_date.in_({d for _, _, d in due}))
        .execution_options(**fan_out("beat.claim"))).all())
    return [d for d in due if d not in claimed]


def stale_claims(now: datetime) -> list[tuple]:
    """Claims whose message was lost (older than `REPUBLISH_AFTER`)."""
    rows = db.session.execute(
        select(JobRun.tenant_id, JobRun.job, JobRun.local_date)
        .where(JobRun.status == JobRun.CLAIMED, JobRun.claimed_at < now - REPUBLISH_AFTER)
        .execution_options(**fan_out("beat.stale_claims"))  # the beat looks across tenants on purpose
    ).all()
    return [tuple(r) for r in rows]


def due_retries(now: datetime) -> tuple[list[tuple], list]:
    """Failed runs whose `next_attempt_at` has come, and killed runs (running past `STUCK_AFTER`) with
    attempts left: claimed again (so a lost publish is caught like any claim). Killed runs with no
    attempt left are marked failed for good. Returns (claimed again, (tenant id, run id) given up). Commits."""
    due = or_(and_(JobRun.status == JobRun.FAILED, JobRun.next_attempt_at.is_not(None), JobRun.next_attempt_at <= now),
              and_(JobRun.status == JobRun.RUNNING, JobRun.started_at < now - STUCK_AFTER))
    # found across tenants without locks (a lock across shards is not what Citus does), then each
    # locked in its township, skipped if its worker still holds it, and checked again under the lock
    found = db.session.execute(select(JobRun.tenant_id, JobRun.id).where(due)
                               .execution_options(**fan_out("beat.due_retries"))).all()
    again, given_up = [], []
    for tenant_id, run_id in found:
        with tenant_scope(db.session.get(Tenant, tenant_id)):  # each row is locked and written in its township
            run = db.session.execute(select(JobRun).where(JobRun.id == run_id, due)
                                     .with_for_update(skip_locked=True)).scalar_one_or_none()
            if run is None:  # held by its worker, or no longer due
                continue
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
