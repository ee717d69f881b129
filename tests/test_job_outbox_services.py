"""The job outbox and dead connections on the real services: PostgreSQL, Redis and a Celery worker
process started here (see test_services.py). A simulation asked for while the broker is down is
computed by the worker once the dispatcher can reach it; a worker whose PostgreSQL connections were
all terminated computes the next simulation."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.jobs.models import OutboxJob
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import pools, settlement
from jifen.tenants.dividends.models import DividendRun
from tests.celery_worker import start_worker
from tests.celery_worker import stop_worker as _stop
from tests.conftest import api_token, bearer, make_world
from tests.points_world import setup_points
from tests.test_dividends import pool_data, setup_dividends, simulated, who
from tests.test_dividends_services import _state, _wait
from tests.test_job_outbox import API, DOWN, fill_pool, outbox_rows, terminate_other_backends
from tests.test_services import services  # noqa: F401  (the fixture: PostgreSQL and Redis, Redis flushed)

pytestmark = pytest.mark.services


def queued(make_app, redis_url):
    return make_app(REDIS_URL=redis_url, TASKS_EAGER=False)


def dividend_pool(world) -> object:
    pw = setup_points(world)
    with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        dw = setup_dividends(world, pw)
        pool_id = pools.create_pool(who("admin"), pool_data(dw, amount="12345.67")).id
        db.session.commit()
    return pool_id


def test_a_simulation_asked_while_redis_is_down_is_computed_by_the_worker_when_it_is_back(
        make_app, clean, services, database_url, tmp_path):  # noqa: F811
    down = make_app(REDIS_URL=DOWN, TASKS_EAGER=False)
    with down.app_context():
        world = make_world()
        pool_id = dividend_pool(world)
    client = down.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    started = time.monotonic()
    resp = client.post(f"{API}/pools/{pool_id}/simulate", headers=admin)
    assert resp.status_code == 202 and time.monotonic() - started < 3
    run_id = resp.get_json()["id"]
    with down.app_context():
        assert [r.task for r in outbox_rows()] == [settlement.SETTLE_TASK]

    log = tmp_path / "worker.log"
    worker = start_worker(database_url, services, log)
    try:
        back = queued(make_app, services)  # Redis is reachable again
        result = back.test_cli_runner().invoke(args=["outbox", "drain"])
        assert "published 1 job(s); 0 still pending" in result.output, result.output
        with back.app_context():
            with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                _wait(lambda: _state(run_id) == "simulated", 60, "the worker to compute the run", log)
                run = db.session.execute(select(DividendRun).where(DividendRun.pool_id == pool_id)).scalar_one()
                assert run.total_fen == 1_234_567
            assert outbox_rows() == []
    finally:
        _stop(worker)


def test_a_worker_whose_database_connections_were_terminated_computes_the_next_simulation(
        make_app, clean, services, database_url, tmp_path):  # noqa: F811
    app = queued(make_app, services)
    log = tmp_path / "worker.log"
    worker = start_worker(database_url, services, log)
    try:
        with app.app_context():
            world = make_world()
            pool_id = dividend_pool(world)
            with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                first = simulated(who("admin"), pool_id).id  # the worker's pool now holds connections
                _wait(lambda: _state(first) == "simulated", 60, "the first run", log)
                db.session.rollback()
        fill_pool(app)
        assert terminate_other_backends(database_url) >= 2  # the worker's and this process's
        with app.app_context():
            with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                second = simulated(who("admin"), pool_id)
                assert second.id != first
                _wait(lambda: _state(second.id) == "simulated", 60, "the run after the termination", log)
                assert db.session.execute(select(OutboxJob.id)).all() == []
        assert worker.poll() is None
    finally:
        _stop(worker)
