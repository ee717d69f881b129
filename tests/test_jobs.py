"""Daily jobs fan out per township at its local time, at most once per (township, job, local day)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import DAILY_JOBS, NIGHT_SPREAD_MINUTES, night_offset, starts_at, tick
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.workers.jobs import AUDIT_CHECK, PURGE
from tests.conftest import make_world

PLATFORM_JOBS = (AUDIT_CHECK, PURGE)  # these tests follow the platform's own two jobs; others run alongside


def runs():
    rows = db.session.execute(select(Tenant.slug, JobRun.job, JobRun.local_date, JobRun.status, JobRun.attempts)
                              .join(Tenant, Tenant.id == JobRun.tenant_id).where(JobRun.job.in_(PLATFORM_JOBS))
                              .execution_options(all_tenants=True)).all()
    return sorted(tuple(r) for r in rows)


@pytest.fixture
def towns(ctx):
    return make_world()  # alpha: Asia/Shanghai, beta: UTC


def _utc(local_day: date, minute: int, tz: str) -> str:
    """The UTC moment (for freeze_time) of `minute` of `local_day` in zone `tz`."""
    from zoneinfo import ZoneInfo

    local = datetime.combine(local_day, datetime.min.time(), ZoneInfo(tz)) + timedelta(minutes=minute)
    return local.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def test_each_township_runs_at_its_own_local_time_plus_its_own_offset(towns):
    alpha, beta = towns.a.tenant_id, towns.b.tenant_id
    audit, purge = DAILY_JOBS[AUDIT_CHECK], DAILY_JOBS[PURGE]
    for tenant_id in (alpha, beta):
        assert 0 <= night_offset(tenant_id) < NIGHT_SPREAD_MINUTES
        assert starts_at(audit, tenant_id) == 3 * 60 + night_offset(tenant_id)  # stable: its id decides
    day = date(2026, 11, 28)
    # a minute before alpha's audit check starts in Shanghai: nothing of alpha's is due
    with freeze_time(_utc(day, starts_at(audit, alpha) - 1, "Asia/Shanghai")):
        tick()
    assert not [r for r in runs() if r[0] == "alpha"]
    with freeze_time(_utc(day, starts_at(audit, alpha), "Asia/Shanghai")):
        tick()
    assert ("alpha", AUDIT_CHECK, day, "done", 1) in runs()
    assert not [r for r in runs() if r[0] == "alpha" and r[1] == PURGE]  # an hour later in its night
    with freeze_time(_utc(day, starts_at(purge, alpha), "Asia/Shanghai")):
        tick()
    assert ("alpha", PURGE, day, "done", 1) in runs()
    # beta (UTC) on its own clock and offset
    with freeze_time(_utc(day, starts_at(purge, beta) - 1, "UTC")):
        tick()
    assert ("beta", AUDIT_CHECK, day, "done", 1) in runs()
    assert not [r for r in runs() if r[0] == "beta" and r[1] == PURGE and r[2] == day]
    with freeze_time(_utc(day, starts_at(purge, beta), "UTC")):
        tick()
    assert len([r for r in runs() if r[2] == day]) == 4


def test_a_morning_job_is_not_spread_and_the_offsets_spread_townships_over_the_window():
    import uuid

    from jifen.workers.notification_jobs import DIGEST

    assert starts_at(DAILY_JOBS[DIGEST], uuid.uuid4()) == 7 * 60 + 30
    offsets = [night_offset(uuid.uuid4()) for _ in range(2000)]
    assert min(offsets) == 0 and max(offsets) == NIGHT_SPREAD_MINUTES - 1
    per_minute = [offsets.count(m) for m in range(NIGHT_SPREAD_MINUTES)]
    assert max(per_minute) < 40  # 2,000 townships: about 17 a minute, never all at once


def test_ticking_twice_runs_nothing_twice(towns):
    with freeze_time("2026-11-28 12:00:00"):
        first = [r for r in tick() if r[1] in PLATFORM_JOBS]
        second = tick()
        third = tick()
    assert len(first) == 4 and second == [] and third == []
    assert all(r[4] == 1 for r in runs())


def test_next_local_day_runs_again(towns):
    with freeze_time("2026-11-28 12:00:00"):
        tick()
    with freeze_time("2026-11-29 12:00:00"):
        tick()
    assert len(runs()) == 8


def test_suspended_township_gets_no_jobs(towns):
    tenant = db.session.get(Tenant, towns.a.tenant_id)
    tenant.status = Tenant.SUSPENDED
    db.session.commit()
    with freeze_time("2026-11-28 12:00:00"):
        tick()
    assert {r[0] for r in runs()} == {"beta"}


def test_a_lost_publish_is_republished_and_a_finished_run_is_not_repeated(towns):
    alpha = db.session.get(Tenant, towns.a.tenant_id)
    with tenant_scope(alpha):
        db.session.add(JobRun(job=AUDIT_CHECK, local_date=date(2026, 11, 28),
                              claimed_at=datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)))
    db.session.commit()
    with freeze_time("2026-11-28 03:10:00"):  # 11:10 in Shanghai; claim is 10 minutes old: wait
        tick()
        assert ("alpha", AUDIT_CHECK, date(2026, 11, 28), "claimed", 0) in runs()
    with freeze_time("2026-11-28 03:20:00"):  # 20 minutes: the enqueue was lost, publish again
        tick()
    assert ("alpha", AUDIT_CHECK, date(2026, 11, 28), "done", 1) in runs()
    # a redelivered task for a finished run does nothing
    from jifen.workers.jobs import audit_chain_check

    result = audit_chain_check.apply(kwargs={"tenant_id": str(alpha.id), "local_date": "2026-11-28"}).get()
    assert result["skipped"] == "already done"
    assert ("alpha", AUDIT_CHECK, date(2026, 11, 28), "done", 1) in runs()


def test_job_result_is_stored_and_failure_is_recorded(towns, monkeypatch):
    with freeze_time("2026-11-28 12:00:00"):
        tick()
    alpha = db.session.get(Tenant, towns.a.tenant_id)
    with tenant_scope(alpha):
        run = db.session.execute(select(JobRun).where(JobRun.job == AUDIT_CHECK)).scalar_one()
        assert run.result["ok"] is True and run.result["entries"] > 5
    import jifen.workers.jobs as jobs

    def boom(tenant, day):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs, "_audit_check", boom)
    with pytest.raises(RuntimeError):
        jobs.audit_chain_check.apply(kwargs={"tenant_id": str(alpha.id), "local_date": "2026-11-29"}).get()
    with tenant_scope(alpha):
        run = db.session.execute(select(JobRun).where(JobRun.local_date == date(2026, 11, 29))).scalar_one()
        assert run.status == "failed" and "disk on fire" in run.error


def test_purge_removes_only_long_dead_credentials(app, world):
    from jifen.platform.accounts.models import UserSession
    from tests.conftest import page_login

    page_login(app.test_client(), "alpha", "admin")
    page_login(app.test_client(), "alpha", "vadmin")
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(alpha):
            sessions = db.session.execute(select(UserSession)).scalars().all()
            sessions[0].expires_at = clock.now() - timedelta(days=31)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["run-job", PURGE, "--tenant", "alpha"])
    assert result.exit_code == 0, result.output
    assert "'removed': 1" in result.output
    again = app.test_cli_runner().invoke(args=["run-job", PURGE, "--tenant", "alpha"])
    assert "already done" in again.output
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert len(db.session.execute(select(UserSession)).scalars().all()) == 1


def test_run_job_rejects_unknown_job(app, world):
    result = app.test_cli_runner().invoke(args=["run-job", "jifen.nope", "--tenant", "alpha"])
    assert result.exit_code != 0 and "unknown job" in result.output
