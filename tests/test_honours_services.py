"""The star rating job through Redis and a real Celery worker process (PostgreSQL): the worker rates
every household; a second, forced run leaves every row as it was.

Runs with JIFEN_TEST_DATABASE_URL (PostgreSQL) and JIFEN_TEST_REDIS_URL (this area's database 12)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.queue import publish
from jifen.tenants.honours.models import StarRating
from jifen.workers.honour_jobs import STAR_RATINGS
from tests.conftest import make_world
from tests.honours_world import NAMES, add_household, give, in_tenant, set_levels, who
from tests.test_services import queued_app, services, worker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.services


def _wait(app, tenant_id, attempts: int, log) -> JobRun:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.app_context():
            run = db.session.execute(select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.job == STAR_RATINGS)
                                     .execution_options(all_tenants=True)).scalar_one_or_none()
            if run is not None and run.status == JobRun.DONE and run.attempts == attempts:
                return run
        time.sleep(0.3)
    pytest.fail(f"the star job did not finish: {log.read_text()[-3000:]}")


def test_the_worker_rates_households_and_a_forced_rerun_changes_nothing(queued_app, worker):  # noqa: F811
    from tests.points_world import setup_points

    _proc, log = worker
    with queued_app.app_context():
        world = make_world()
        pw = setup_points(world)

    def setup():
        for n, points in enumerate([90, 45, 12]):
            give(add_household(pw.village, world.a.grid[-1], NAMES[n], f"{10 + n}号"), points)
        set_levels(who("admin"), {1: (10, None), 3: (40, None), 5: (80, 10)}, vetoes={"D1": 1})
        give(pw.household, -3, "D1")
        return clock.today().isoformat()
    day = in_tenant(queued_app, world.a.tenant_id, setup)

    def rows():
        return sorted((str(r.household_id), r.stars, r.points_stars, r.earned, r.village_rank, r.capped_by, str(r.id))
                      for r in db.session.execute(select(StarRating)).scalars())

    with queued_app.app_context():
        publish(STAR_RATINGS, {"tenant_id": str(world.a.tenant_id), "local_date": day})
    first = _wait(queued_app, world.a.tenant_id, 1, log)
    assert first.result[day[:4]]["households"] == 5
    once = in_tenant(queued_app, world.a.tenant_id, rows)
    assert sorted(r[1] for r in once) == [0, 0, 1, 3, 5]
    with queued_app.app_context():
        publish(STAR_RATINGS, {"tenant_id": str(world.a.tenant_id), "local_date": day, "force": True})
    second = _wait(queued_app, world.a.tenant_id, 2, log)
    assert (second.result[day[:4]]["added"], second.result[day[:4]]["updated"]) == (0, 0)
    assert in_tenant(queued_app, world.a.tenant_id, rows) == once
