"""Jobs published by a request go out after its commit, through the job outbox; a broker that is
down delays them (the dispatcher sends them later) and never fails the request; a task that fails
marks its run failed; PostgreSQL dropping every connection costs no request and no job.

The broker that is down is a real one that cannot be reached: redis://127.0.0.1:1/0 (nothing
listens on port 1). The real broker and worker are in test_job_outbox_services.py.
"""
from __future__ import annotations

import time
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun, OutboxJob
from jifen.platform.jobs.queue import enqueue
from jifen.platform.jobs.schedule import tick
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import pools, settlement
from jifen.tenants.dividends.models import DividendRun
from jifen.workers.jobs import AUDIT_CHECK
from tests.conftest import PG_URL, api_token, bearer, make_world
from tests.points_world import setup_points
from tests.test_dividends import pool_data, setup_dividends, simulated, who

DOWN = "redis://127.0.0.1:1/0"
API = "/api/v1/t/alpha/dividends"


def broker_down_app(make_app):
    """Publishes to a broker nobody listens on, as production would with Redis down."""
    return make_app(REDIS_URL=DOWN, TASKS_EAGER=False)


def outbox_rows() -> list:
    return db.session.execute(select(OutboxJob.task, OutboxJob.kwargs, OutboxJob.attempts, OutboxJob.last_error)
                              .execution_options(all_tenants=True)).all()


def audit_runs(day: date) -> list:
    return db.session.execute(select(JobRun.status).where(JobRun.job == AUDIT_CHECK, JobRun.local_date == day)
                              .execution_options(all_tenants=True)).scalars().all()


def alpha_with_dividends(world):
    """alpha and tests/points_world.py's setup, for tests/test_dividends.py's `setup_dividends`."""
    pw = setup_points(world)
    tenant = db.session.get(Tenant, world.a.tenant_id)
    return tenant, pw


def test_a_job_runs_only_after_its_transaction_commits_and_never_if_it_rolls_back(ctx):
    alpha = db.session.get(Tenant, make_world().a.tenant_id)
    day = date(2026, 11, 29)
    with tenant_scope(alpha):
        enqueue(AUDIT_CHECK, tenant_id=str(alpha.id), local_date=day.isoformat())
        assert audit_runs(day) == []  # not run inside the transaction (it could not see its rows)
        db.session.rollback()
        assert audit_runs(day) == [] and outbox_rows() == []  # rolled back: never runs

        enqueue(AUDIT_CHECK, tenant_id=str(alpha.id), local_date=day.isoformat())
        assert audit_runs(day) == []
        db.session.commit()  # published after the commit (here: run inline, the embedded default)
        assert audit_runs(day) == ["done"]
        assert outbox_rows() == []  # sent: the row is gone


def test_simulate_with_the_broker_down_answers_at_once_and_the_dispatcher_sends_it_later(make_app, clean):
    app = broker_down_app(make_app)
    with app.app_context():
        world = make_world()
        tenant, pw = alpha_with_dividends(world)
        with tenant_scope(tenant):
            dw = setup_dividends(world, pw)
            pool_id = pools.create_pool(who("admin"), pool_data(dw, amount="12345.67")).id
            db.session.commit()
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    started = time.monotonic()
    resp = client.post(f"{API}/pools/{pool_id}/simulate", headers=admin | {"Idempotency-Key": "sim-1"})
    took = time.monotonic() - started
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["state"] == "computing"
    assert took < 3, f"the request waited {took:.1f} s for the broker"
    run_id = resp.get_json()["id"]
    with app.app_context():
        [(task, kwargs, attempts, error)] = outbox_rows()  # the job waits in the outbox
        assert (task, kwargs["run_id"], attempts) == (settlement.SETTLE_TASK, run_id, 1) and "111" in error
    # the next requests do not wait for the broker either (it is left to the dispatcher for a while)
    started = time.monotonic()
    again = client.post(f"{API}/runs/{run_id}/resume", headers=admin)
    assert again.status_code == 202 and time.monotonic() - started < 1

    # the broker is back: the dispatcher publishes what waited, and the run is computed
    back = make_app()  # tasks run inline: a broker that takes every message
    result = back.test_cli_runner().invoke(args=["outbox", "drain"])
    assert result.exit_code == 0 and "published 2 job(s); 0 still pending" in result.output, result.output
    with back.app_context():
        assert outbox_rows() == []
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            run = db.session.execute(select(DividendRun).where(DividendRun.pool_id == pool_id)).scalar_one()
            assert run.state == "simulated" and run.total_fen == 1_234_567


def test_the_beat_tick_with_the_broker_down_keeps_its_claims_for_later(make_app, clean):
    app = broker_down_app(make_app)
    with app.app_context():
        make_world()
        with freeze_time("2026-11-28 12:00:00"):
            assert tick() == []  # nothing published, nothing raised
        claimed = db.session.execute(select(JobRun.status).execution_options(all_tenants=True)).scalars().all()
        assert claimed and set(claimed) == {"claimed"}  # published again after REPUBLISH_AFTER


def test_a_settle_task_that_fails_marks_its_run_failed_and_simulating_again_works(app, world, monkeypatch):
    with app.app_context():
        tenant, pw = alpha_with_dividends(world)
        with tenant_scope(tenant):
            dw = setup_dividends(world, pw)
            pool = pools.create_pool(who("admin"), pool_data(dw, amount="12345.67"))

            def disk_on_fire(run_id, chunk_id):
                raise RuntimeError("disk on fire")

            monkeypatch.setattr(settlement, "_compute", disk_on_fire)
            run = simulated(who("admin"), pool.id)  # the task fails inline; the request does not
            assert run.state == "failed" and "disk on fire" in run.error
            monkeypatch.undo()
            again = simulated(who("admin"), pool.id)
            assert again.state == "simulated" and again.total_fen == 1_234_567


# --- PostgreSQL drops every connection -------------------------------------------------------------

def terminate_other_backends(database_url: str) -> int:
    """What a restart or failover does to the pool: every other connection to the database dies."""
    side = create_engine(database_url, poolclass=NullPool)
    with side.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    side.dispose()
    return killed


def fill_pool(app, n: int = 4) -> None:
    """n connections open in the app's pool, idle, as after a busy minute."""
    with app.app_context():
        conns = [db.engine.connect() for _ in range(n)]
        for conn in conns:
            conn.execute(text("SELECT 1"))
            conn.close()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="terminates PostgreSQL backends")
def test_after_postgresql_drops_every_connection_no_request_fails(app, world, database_url):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    assert client.get("/api/v1/t/alpha/households/", headers=admin).status_code == 200
    fill_pool(app)
    assert terminate_other_backends(database_url) >= 4
    answers = [client.get("/api/v1/t/alpha/households/", headers=admin).status_code for _ in range(8)]
    assert answers == [200] * 8


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="terminates PostgreSQL backends")
def test_after_postgresql_drops_every_connection_the_next_simulation_completes(app, world, database_url):
    with app.app_context():
        tenant, pw = alpha_with_dividends(world)
        with tenant_scope(tenant):
            dw = setup_dividends(world, pw)
            pool_id = pools.create_pool(who("admin"), pool_data(dw, amount="12345.67")).id
            db.session.commit()
    fill_pool(app)
    assert terminate_other_backends(database_url) >= 4
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            run = simulated(who("admin"), pool_id)
            assert run.state == "simulated" and run.total_fen == 1_234_567
            assert db.session.execute(select(func.count()).select_from(OutboxJob)).scalar_one() == 0


def test_a_failed_daily_job_is_run_again_by_a_later_tick(ctx, monkeypatch):
    import jifen.workers.jobs as jobs

    alpha = make_world().a.tenant_id
    day = date(2026, 11, 28)

    def disk_on_fire(tenant, day):
        raise RuntimeError("disk on fire")

    def alpha_audit():
        db.session.rollback()
        return db.session.execute(select(JobRun.status, JobRun.attempts).where(
            JobRun.tenant_id == alpha, JobRun.job == AUDIT_CHECK, JobRun.local_date == day)
            .execution_options(all_tenants=True)).one()

    monkeypatch.setattr(jobs, "_audit_check", disk_on_fire)
    with freeze_time("2026-11-28 12:00:00"):
        tick()  # the failure is recorded on its run; the other jobs still run
    assert tuple(alpha_audit()) == ("failed", 1)
    monkeypatch.undo()
    with freeze_time("2026-11-28 12:04:00"):
        tick()
    assert tuple(alpha_audit()) == ("failed", 1)  # not before its backoff (schedule.retry_after(1): 5 min)
    with freeze_time("2026-11-28 12:05:00"):
        tick()
    assert tuple(alpha_audit()) == ("done", 2)
