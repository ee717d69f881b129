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
    eager = runner.invoke(args=["run-job", NIGHTLY, "--tenant", "alpha", "--via-worker"])
    assert eager.exit_code == 1 and "--via-worker needs a broker" in eager.output
