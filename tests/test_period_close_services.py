"""Period close with the real services: a close asked for by hand is published to Redis and run by
a Celery worker process; the daily job, run by the worker twice, then finds nothing left to do."""
from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.queue import publish
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import ledger, period_close
from jifen.workers.period_jobs import CLOSE
from tests.conftest import api_token, bearer, make_world
from tests.points_world import setup_points
from tests.test_period_close import NEXT, Y, close_txs, give, ledger_clean
from tests.test_services import queued_app, services, worker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.services


def _wait(check, what: str, log, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen; worker log:\n{log.read_text()[-3000:]}")


def test_a_hand_close_runs_in_the_worker_and_the_daily_job_then_does_nothing(queued_app, worker):  # noqa: F811
    _proc, log = worker
    with queued_app.app_context():
        world = make_world()
        pw = setup_points(world)
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            give(pw.household, 30, spent=10)
            give(pw.household2, 6)
    client = queued_app.test_client()
    token = bearer(api_token(client, "alpha", world.a.username()))
    resp = client.post("/api/v1/t/alpha/periods/close", json={"period": Y}, headers=token)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["status"] in ("running", "done")  # published: the worker does the work
    with queued_app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            _wait(lambda: period_close.get_close(Y).status == "done", "the close", log)
            pc = period_close.get_close(Y)
            assert (pc.households, pc.carried, pc.expired) == (2, 26, 0)
            assert [(b.earned, b.available) for b in (ledger.balance(pw.household, Y), ledger.balance(pw.household, NEXT))] == [(30, 0), (0, 20)]
            ledger_clean()
        for _ in range(2):  # the daily job of January 2, delivered twice
            publish(CLOSE, {"tenant_id": str(world.a.tenant_id), "local_date": date(NEXT, 1, 2).isoformat()})
        with tenant_scope(tenant):
            def finished():
                run = db.session.execute(select(JobRun).where(JobRun.job == CLOSE)).scalar_one_or_none()
                return run is not None and run.status == "done"
            _wait(finished, "the daily job", log)
            run = db.session.execute(select(JobRun).where(JobRun.job == CLOSE)).scalar_one()
            assert run.result["households"] == 0 and run.result["periods"] == []
            assert len(close_txs()) == 2
            ledger_clean()
    assert "succeeded" in log.read_text()
