"""What the daily jobs did: per township and local day, each registered job's run (or its absence).

The township admin sees their own township's runs; a county operator sees, per township of their
county, counts only. A run is late when it was claimed and not started after `REPUBLISH_AFTER`, or
has been running more than `late_after` (three times its usual time, at least 10 minutes); a run is
missing when the job's local time on that day has passed (and the township existed and is active)
and no run was claimed."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import DAILY_JOBS, REPUBLISH_AFTER
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import current_tenant_id, register_url_object, tenant_get_or_404, tenant_scope
from jifen.platform.townships.models import Tenant

register_url_object("run_id", JobRun)

DAYS = 7  # today and the six days before, township time
MAX_DAYS = 31
MIN_LATE = timedelta(minutes=10)
MISSING = "missing"


@dataclass
class RunRow:
    job: str
    local_date: date
    status: str  # claimed | running | done | failed | missing
    run: JobRun | None = None
    late: bool = False

    @property
    def id(self):
        return self.run.id if self.run else None

    @property
    def started_at(self) -> datetime | None:
        return self.run.started_at if self.run else None

    @property
    def finished_at(self) -> datetime | None:
        return self.run.finished_at if self.run else None

    @property
    def duration_seconds(self) -> float | None:
        if self.run and self.run.started_at and self.run.finished_at and self.run.status in (JobRun.DONE,
                                                                                            JobRun.FAILED):
            return round((self.run.finished_at - self.run.started_at).total_seconds(), 3)
        return None

    @property
    def rows(self) -> int | None:
        """What the job's body counted as touched (its result's "rows"), when it says."""
        value = (self.run.result or {}).get("rows") if self.run else None
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def attempts(self) -> int:
        return self.run.attempts if self.run else 0

    @property
    def error(self) -> str | None:
        return self.run.error if self.run else None

    @property
    def next_attempt_at(self) -> datetime | None:
        return self.run.next_attempt_at if self.run else None

    @property
    def problems(self) -> int:
        return self.run.problems if self.run else 0

    @property
    def gave_up(self) -> bool:
        return bool(self.run and self.run.gave_up)

    @property
    def result(self) -> dict:
        return (self.run.result or {}) if self.run else {}

    @property
    def needs_attention(self) -> bool:
        return self.status in (MISSING, JobRun.FAILED) or self.late or self.problems > 0


def late_after(durations: list[float]) -> timedelta:
    """Three times the usual (median) duration of a job's finished runs, at least `MIN_LATE`."""
    if not durations:
        return MIN_LATE
    return max(MIN_LATE, timedelta(seconds=3 * statistics.median(durations)))


def _rows(tenant: Tenant, days: int, now: datetime) -> list[RunRow]:
    """Inside the tenant's scope: one row per registered job and day, newest day first."""
    today = clock.today(tenant)
    first = today - timedelta(days=days - 1)
    runs = db.session.execute(select(JobRun).where(JobRun.local_date >= first)).scalars().all()
    by_key = {(r.job, r.local_date): r for r in runs}
    usual: dict[str, list[float]] = {}
    for r in sorted(runs, key=lambda r: r.local_date):
        if r.status == JobRun.DONE and r.started_at and r.finished_at:
            usual.setdefault(r.job, []).append((r.finished_at - r.started_at).total_seconds())
    out = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        for name in sorted(DAILY_JOBS):
            run = by_key.pop((name, day), None)
            if run is not None:
                out.append(RunRow(name, day, run.status, run, _late(run, usual.get(name, [])[-7:], now)))
                continue
            due = clock.local_moment(day, DAILY_JOBS[name].at, tenant)
            if due <= now and tenant.is_active and (tenant.created_at is None or tenant.created_at <= due):
                out.append(RunRow(name, day, MISSING))
    # runs of jobs no longer registered still show
    out += [RunRow(r.job, r.local_date, r.status, r) for r in by_key.values()]
    return sorted(out, key=lambda r: (r.local_date, r.job), reverse=True)


def _late(run: JobRun, durations: list[float], now: datetime) -> bool:
    if run.status == JobRun.CLAIMED:
        return run.claimed_at is not None and now - run.claimed_at > REPUBLISH_AFTER
    if run.status == JobRun.RUNNING:
        return run.started_at is not None and now - run.started_at > late_after(durations)
    return False


@action("jobs.list")
def list_runs(actor: Actor, days: int = DAYS) -> list[RunRow]:
    """The current township's job runs of the last `days` local days, newest first."""
    return _rows(db.session.get(Tenant, current_tenant_id()), max(1, min(days, MAX_DAYS)), clock.now())


@action("jobs.view")
def get_run(actor: Actor, run_id) -> RunRow:
    run = tenant_get_or_404(JobRun, run_id)
    return RunRow(run.job, run.local_date, run.status, run, _late(run, [], clock.now()))


def problems_since(tenant: Tenant, since: date) -> int:
    """Runs since that local date (inside the tenant's scope) that failed for good or found problems."""
    runs = db.session.execute(select(JobRun).where(JobRun.local_date >= since)).scalars().all()
    return sum(1 for r in runs if r.gave_up or r.problems)


@dataclass
class TownshipSummary:
    tenant: Tenant
    done: int = 0
    failed: int = 0
    running: int = 0
    late: int = 0
    missing: int = 0
    problems: int = 0

    @property
    def needs_attention(self) -> bool:
        return bool(self.failed or self.late or self.missing or self.problems)


@action("jobs.county")
def county_summary(actor: Actor, days: int = DAYS) -> list[TownshipSummary]:
    """Per township of the operator's county (pinyin order): counts of the last `days` local days."""
    days, now = max(1, min(days, MAX_DAYS)), clock.now()
    tenants = db.session.execute(select(Tenant).where(Tenant.county_id == actor.county_id)).scalars().all()
    out = []
    for tenant in sorted(tenants, key=lambda t: pinyin_key(t.name)):
        s = TownshipSummary(tenant)
        with tenant_scope(tenant):
            for row in _rows(tenant, days, now):
                if row.status == JobRun.DONE:
                    s.done += 1
                elif row.status == JobRun.FAILED:
                    s.failed += 1
                elif row.status == MISSING:
                    s.missing += 1
                else:
                    s.running += 1
                s.late += row.late
                s.problems += row.problems > 0
        out.append(s)
    return out


@action("jobs.county")
def county_alerts(actor: Actor) -> list[tuple[Tenant, int]]:
    """The operator's inbox of job problems: townships of their county (pinyin order) with runs of
    yesterday or today (township time) that failed for good or whose check found a problem."""
    tenants = db.session.execute(select(Tenant).where(Tenant.county_id == actor.county_id)).scalars().all()
    out = []
    for tenant in sorted(tenants, key=lambda t: pinyin_key(t.name)):
        with tenant_scope(tenant):
            n = problems_since(tenant, clock.today(tenant) - timedelta(days=1))
        if n:
            out.append((tenant, n))
    return out
