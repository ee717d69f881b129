"""Jobs under faults, on PostgreSQL's real locks (threads with their own connections, see race.py):
forced nightly rankings of one date at once, workers sharing a dividend settlement. And the CLI's
`run-job` refusing a date ahead of the township's today."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import pools, settlement
from jifen.tenants.dividends.models import DividendChunk, DividendPayout
from jifen.tenants.households.models import Household
from jifen.tenants.rankings.models import RankingEntry, RankingSnapshot
from jifen.workers.ranking_jobs import NIGHTLY
from tests.conftest import PG_URL
from tests.race import race
from tests.test_services import queued_app, services, worker  # noqa: F401  (the real worker's fixtures)

pg_only = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="row and advisory locks need PostgreSQL")]


@pytest.fixture
def pg_app(make_app, clean):
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 10, "max_overflow": 0, "pool_timeout": 120})


@pytest.mark.parametrize("_", [pytest.param(None, marks=pg_only)])
def test_forced_nightly_rankings_of_one_date_at_once_all_succeed_with_one_snapshot(pg_app, world, _):
    """Before: one of two concurrent `run-job jifen.nightly_ranking --force` crashed on
    pk_ranking_entries (3 tries in 4), and the run could stay "failed" though the snapshot existed."""
    tenant_id = world.a.tenant_id
    with pg_app.app_context():
        today = clock.today(db.session.get(Tenant, tenant_id))
        with tenant_scope(db.session.get(Tenant, tenant_id)):
            households = db.session.execute(select(func.count()).select_from(Household)
                                            .where(Household.status == "active")).scalar_one()
    assert households > 0
    task = pg_app.extensions["celery"].tasks[NIGHTLY]
    kwargs = {"tenant_id": str(tenant_id), "local_date": today.isoformat(), "force": True}
    for _round in range(3):  # the first round also races to create the run's row (no beat claimed it)
        results = race(pg_app, tenant_id, 4, lambda i: task.apply(kwargs=kwargs).get())
        assert all(r["households"] == households for r in results), results
        with pg_app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
            run = db.session.execute(select(JobRun).where(JobRun.job == NIGHTLY, JobRun.local_date == today)
                                     ).scalar_one()
            assert run.status == "done" and run.error is None
            snapshots = db.session.execute(select(RankingSnapshot.taken_on, RankingSnapshot.households)).all()
            assert snapshots == [(today, households)]
            entries = db.session.execute(select(func.count()).select_from(RankingEntry)
                                         .where(RankingEntry.taken_on == today)).scalar_one()
            assert entries == households
    with pg_app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        assert db.session.execute(select(JobRun.attempts).where(JobRun.job == NIGHTLY)).scalar_one() == 12


@pytest.mark.parametrize("_", [pytest.param(None, marks=pg_only)])
def test_workers_sharing_a_settlement_each_take_a_chunk_once(pg_app, world, pw, _):
    """Before: the claim's row lock ended with its commit, so every worker took the first pending
    chunk again (up to 5 claims of one chunk). Now each chunk has one owner: one attempt each."""
    from tests.test_dividends import _crash, payouts_of, pool_data, setup_dividends, simulated, who

    tenant_id = world.a.tenant_id
    pg_app.config["DIVIDEND_CHUNK_SIZE"] = 1
    with pg_app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        dw = setup_dividends(world, pw)
        db.session.commit()
        pool = pools.create_pool(who("admin"), pool_data(dw, amount="4321.09"))
        run = simulated(who("admin"), pool.id)  # computed inline (eager): the clean amounts
        run_id, clean = run.id, payouts_of(run.id)
        _crash(run_id, keep_chunks=0)  # every chunk pending again, as if no worker had started
        settlement.release_claims(run_id)
        db.session.execute(DividendChunk.__table__.update().where(DividendChunk.run_id == run_id)
                           .values(attempts=0))
        db.session.commit()
        chunks = db.session.execute(select(func.count()).select_from(DividendChunk)
                                    .where(DividendChunk.run_id == run_id)).scalar_one()
    assert chunks >= 6
    results = race(pg_app, tenant_id, 4, lambda i: settlement.work(run_id))
    assert sum(r["chunks"] for r in results) == chunks  # between them, every chunk written once
    assert sum(r["finished"] for r in results) == 1
    with pg_app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        attempts = db.session.execute(select(DividendChunk.attempts).where(DividendChunk.run_id == run_id)
                                      ).scalars().all()
        assert attempts == [1] * chunks
        assert payouts_of(run_id) == clean
        assert db.session.execute(select(func.count()).select_from(DividendPayout)
                                  .where(DividendPayout.run_id == run_id)).scalar_one() == len(clean)


def test_a_chunk_claimed_by_a_live_worker_is_left_to_it_until_resume_or_its_lease_ends(app, world, pw):
    from tests.test_dividends import _crash, pool_data, setup_dividends, simulated, who

    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        app.config["DIVIDEND_CHUNK_SIZE"] = 2
        dw = setup_dividends(world, pw)
        db.session.commit()
        run = simulated(who("admin"), pools.create_pool(who("admin"), pool_data(dw)).id)
        _crash(run.id, keep_chunks=0)
        settlement.release_claims(run.id)
        db.session.commit()
        first = settlement._claim(run.id)
        second = settlement._claim(run.id)
        assert first and second and first != second  # the second worker takes the next chunk
        with clock.at(clock.now() + settlement.CHUNK_LEASE + timedelta(seconds=1)):
            assert settlement._claim(run.id) == first  # its worker is taken to be dead: free again
        settlement.resume(who("admin"), run.id)  # "resume" frees every pending chunk at once (and runs it)
        db.session.commit()
        assert settlement.progress(run).done == settlement.progress(run).total


def test_run_job_refuses_a_date_after_the_townships_today(app, world):
    with app.app_context():
        today = clock.today(db.session.get(Tenant, world.a.tenant_id))
    runner = app.test_cli_runner()
    ahead = runner.invoke(args=["run-job", NIGHTLY, "--tenant", "alpha", "--date",
                                (today + timedelta(days=7)).isoformat()])
    assert ahead.exit_code == 2 and "--date" in ahead.output and "after today" in ahead.output
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert db.session.execute(select(func.count()).select_from(RankingSnapshot)).scalar_one() == 0
    ok = runner.invoke(args=["run-job", NIGHTLY, "--tenant", "alpha", "--date", today.isoformat()])
    assert ok.exit_code == 0, ok.output
    assert "households" in ok.output
    # a snapshot dated ahead, left by a run before the refusal, never stands as the current ranking
    from jifen.tenants.rankings import service as rankings

    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        rankings.take_snapshot(today + timedelta(days=2))
        db.session.commit()
        assert rankings.pick_snapshot().taken_on == today
        assert rankings.pick_snapshot(day=today + timedelta(days=3)).taken_on == today
    eager = runner.invoke(args=["run-job", NIGHTLY, "--tenant", "alpha", "--via-worker"])
    assert eager.exit_code == 1 and "--via-worker needs a broker" in eager.output


def test_notifications_and_nightly_work_go_to_their_own_queues_with_time_limits(monkeypatch):
    """A long settlement or ranking never sits in front of an SMS: separate queues (a worker per
    queue in production), and every task has a time limit below the broker's visibility timeout."""
    from jifen import create_app
    from jifen.platform.jobs.schedule import DAILY_JOBS
    from jifen.workers.notification_jobs import DELIVER
    from jifen.workers.retention_jobs import OFFBOARD_DUE

    monkeypatch.setenv("JIFEN_REDIS_URL", "redis://127.0.0.1:6379/12")
    celery = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).extensions["celery"]

    def queue(name):
        return celery.amqp.router.route({}, name)["queue"].name

    assert queue(DELIVER) == "notify"
    assert {queue(job) for job in DAILY_JOBS} == {"nightly"}
    assert queue(settlement.SETTLE_TASK) == "nightly"
    assert queue(OFFBOARD_DUE) == "nightly"  # deleting a large township: its own limits, resumed hourly
    assert queue("jifen.beat_tick") == queue("jifen.outbox_drain") == "celery"
    assert {q.name for q in celery.conf.task_queues} == {"celery", "notify", "nightly"}
    for name, task in celery.tasks.items():
        if name.startswith("jifen."):
            assert 0 < task.soft_time_limit < task.time_limit < celery.conf.broker_transport_options[
                "visibility_timeout"], name
    assert celery.tasks[DELIVER].time_limit <= 300 < celery.tasks[NIGHTLY].time_limit


@pytest.mark.services
def test_run_job_via_worker_publishes_waits_and_shows_progress(queued_app, worker):  # noqa: F811
    from tests.conftest import make_world

    proc, log = worker
    with queued_app.app_context():
        world = make_world()
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            households = db.session.execute(select(func.count()).select_from(Household)
                                            .where(Household.status == "active")).scalar_one()
    runner = queued_app.test_cli_runner()
    args = ["run-job", NIGHTLY, "--tenant", "alpha", "--via-worker", "--timeout", "90"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, (first.output, log.read_text()[-3000:])
    assert "published" in first.output and "done (attempt 1" in first.output
    assert f"'households': {households}" in first.output
    assert "jifen.nightly_ranking" in log.read_text()  # the worker process ran it, not this one
    again = runner.invoke(args=args)  # done today: nothing published, the stored result shown
    assert again.exit_code == 0 and "already done" in again.output and "published" not in again.output
    forced = runner.invoke(args=args + ["--force"])
    assert forced.exit_code == 0 and "done (attempt 2" in forced.output, forced.output
    with queued_app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert db.session.execute(select(func.count()).select_from(RankingSnapshot)).scalar_one() == 1
    assert proc.poll() is None
