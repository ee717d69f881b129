"""A dividend run on the real services: PostgreSQL, Redis and Celery worker processes started here.

A slow worker (it sleeps inside each chunk's transaction) is killed with SIGKILL halfway through a
run; the chunks it finished stay done, the one it was writing is lost with its transaction, and a
second worker, handed the run by "resume", finishes it with exactly the amounts a clean run gives.
Run with JIFEN_TEST_DATABASE_URL (PostgreSQL) and JIFEN_TEST_REDIS_URL (Redis, e.g. db 13).
"""
from __future__ import annotations

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import allocation, pools, settlement
from jifen.tenants.dividends.models import DividendChunk, DividendPayout, DividendRun
from jifen.tenants.households.models import Household
from tests.celery_worker import start_worker
from tests.celery_worker import stop_worker as _stop
from tests.conftest import make_world
from tests.points_world import setup_points
from tests.test_dividends import _earn, guantian_earned, payouts_of, pool_data, setup_dividends, simulated, who
from tests.test_services import services  # noqa: F401  (the fixture: PostgreSQL and Redis, Redis flushed)

pytestmark = pytest.mark.services
CHUNK = 5
EXTRA_HOUSEHOLDS = 32  # with the 8 of tests/test_dividends.py: 40 eligible households, 8 chunks


def _chunks(run_id) -> tuple[int, int, int]:
    """(done, claimed but pending, total) of a run's chunks, as the database has them now."""
    db.session.rollback()
    done, claimed, total = db.session.execute(
        select(func.count().filter(DividendChunk.state == "done"),
               func.count().filter(DividendChunk.state == "pending", DividendChunk.claimed_at.is_not(None)),
               func.count()).where(DividendChunk.run_id == run_id)).one()
    return done, claimed, total


def _state(run_id) -> str:
    db.session.rollback()
    return db.session.execute(select(DividendRun.state).where(DividendRun.id == run_id)).scalar_one()


def _wait(condition, seconds: float, what: str, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what} ({condition()}):\n{log.read_text()[-3000:]}")


def test_a_worker_killed_mid_run_is_followed_by_one_that_finishes_with_the_same_amounts(
        make_app, clean, services, database_url, tmp_path):  # noqa: F811
    queued = make_app(REDIS_URL=services, TASKS_EAGER=False, DIVIDEND_CHUNK_SIZE=CHUNK, DIVIDEND_WORKERS=1,
                      CELERY=make_app().config["CELERY"] | {"broker_url": services, "result_backend": services,
                                                            "task_always_eager": False})
    slow_log, fast_log = tmp_path / "slow.log", tmp_path / "fast.log"
    slow = start_worker(database_url, services, slow_log, JIFEN_DIVIDEND_CHUNK_SLEEP="0.6")
    fast = None
    try:
        with queued.app_context():
            world = make_world()
            pw = setup_points(world)
            tenant = db.session.get(Tenant, world.a.tenant_id)
            with tenant_scope(tenant):
                dw = setup_dividends(world, pw)
                day = date(clock.today().year, 3, 1)
                for n in range(EXTRA_HOUSEHOLDS):
                    h = Household(village_id=dw.village, grid_node_id=world.a.grid[-1], door_plate=f"新{n}号",
                                  head_name=f"户主{n}")
                    db.session.add(h)
                    db.session.flush()
                    dw.households[h.head_name] = h.id
                    _earn(h.id, (n * 37) % 23, day)  # ties and zeros among them
                db.session.commit()
                pool = pools.create_pool(who("admin"), pool_data(dw, amount="98765.43", base_percent=35))
                run = simulated(who("admin"), pool.id)  # published to Redis; the slow worker takes it
                assert run.state == "computing" and run.chunks_total == 8
                run_id, pool_id = run.id, pool.id

                # three chunks done and the fourth claimed: the worker is inside its transaction (it
                # sleeps 0.6 s there before committing)
                _wait(lambda: (lambda d, c, _t: d >= 3 and c == 1)(*_chunks(run_id)), 60, "three chunks done",
                      slow_log)
                os.kill(slow.pid, signal.SIGKILL)
                slow.wait(timeout=10)
                time.sleep(0.3)
                done, claimed, total = _chunks(run_id)
                assert 3 <= done < total, (done, total)
                assert claimed == 1  # the chunk it was writing: claimed, its payouts rolled back with it
                db.session.rollback()
                assert db.session.get(DividendRun, (tenant.id, run_id)).state == "computing"
                kept = dict(db.session.execute(select(DividendPayout.id, DividendPayout.amount_fen)
                                               .where(DividendPayout.run_id == run_id)).all())
                assert len(kept) == done * CHUNK
                assert settlement.progress(db.session.get(DividendRun, (tenant.id, run_id))).done == done

                fast = start_worker(database_url, services, fast_log)
                settlement.resume(who("admin"), run_id)
                db.session.commit()  # as the resume request would: the job outbox publishes the run's job
                _wait(lambda: _state(run_id) == "simulated", 60, "the run to finish", fast_log)
                resumed = payouts_of(run_id)
                rows = dict(db.session.execute(select(DividendPayout.id, DividendPayout.amount_fen)
                                               .where(DividendPayout.run_id == run_id)).all())
                assert set(kept) <= set(rows)  # the done chunks were not written again
                chunk_rows = db.session.execute(select(DividendChunk.seq, DividendChunk.attempts)
                                                .where(DividendChunk.run_id == run_id)).all()
                assert max(a for _s, a in chunk_rows) == 2  # the lost chunk was taken a second time
                assert sum(resumed.values()) == 9_876_543

                # a clean run: the rule computed in Python, and a new simulation from scratch in-process
                assert resumed == allocation.allocate(9_876_543, 35, list(guantian_earned(dw).items()))
        eager = make_app(DIVIDEND_CHUNK_SIZE=7)
        with eager.app_context():
            with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                clean_run = simulated(who("admin"), pool_id)
                assert clean_run.state == "simulated"
                assert payouts_of(clean_run.id) == resumed
    finally:
        _stop(slow)
        if fast is not None:
            _stop(fast)
