"""Against the real services: PostgreSQL, Redis and a Celery worker process started here.

These run when JIFEN_TEST_DATABASE_URL (PostgreSQL) and JIFEN_TEST_REDIS_URL are set, as `.ci/run`
does. In CI a missing service fails these tests; elsewhere they are skipped with the reason shown.
"""
from __future__ import annotations

import time

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import DAILY_JOBS, tick
from tests.celery_worker import start_worker, stop_worker
from tests.conftest import CITUS, PG_URL, REDIS_URL, make_world, page_login, require

pytestmark = pytest.mark.services


def _redis_ok() -> bool:
    if not REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def services():
    require("PostgreSQL (JIFEN_TEST_DATABASE_URL)", bool(PG_URL))
    require("Redis (JIFEN_TEST_REDIS_URL)", _redis_ok())
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def queued_app(make_app, clean, services):
    """An app that publishes to Redis instead of running tasks inline, like production."""
    return make_app(REDIS_URL=services, TASKS_EAGER=False,
                    CELERY=make_app().config["CELERY"] | {"broker_url": services, "result_backend": services,
                                                          "task_always_eager": False})


@pytest.fixture
def worker(database_url, services, tmp_path):
    log = tmp_path / "worker.log"
    proc = start_worker(database_url, services, log)
    yield proc, log
    stop_worker(proc)


def _statuses():
    return sorted(db.session.execute(select(JobRun.job, JobRun.status)
                                     .execution_options(all_tenants=True)).all())


def test_beat_tick_publishes_to_redis_and_a_worker_process_runs_each_job_once(queued_app, worker):
    proc, log = worker
    with queued_app.app_context():
        make_world()
        jobs = 2 * len(DAILY_JOBS)  # every daily job (platform and points) of both townships
        with freeze_time("2026-11-28 12:00:00"):  # 20:00 in Shanghai, 12:00 UTC: every job is due
            published = tick()
            assert tick() == []  # a second tick claims nothing
        assert len(published) == jobs
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.session.rollback()
            if {s for _, s in _statuses()} == {"done"}:
                break
            time.sleep(0.3)
        statuses = _statuses()
        assert [s for _, s in statuses] == ["done"] * jobs, (statuses, log.read_text()[-3000:])
        attempts = db.session.execute(select(JobRun.attempts).execution_options(all_tenants=True)).scalars().all()
        assert attempts == [1] * jobs
    assert proc.poll() is None
    assert "succeeded" in log.read_text()


def test_login_limit_is_shared_between_web_processes_through_redis(make_app, clean, services):
    import redis

    redis.Redis.from_url(services).flushdb()
    web1, web2 = (make_app(REDIS_URL=services, RATELIMIT_STORAGE_URI=services) for _ in range(2))
    with web1.app_context():
        make_world()
    c1, c2 = web1.test_client(), web2.test_client()
    for i in range(5):
        client = c1 if i % 2 else c2
        assert page_login(client, "alpha", "admin", "wrong-password-x").status_code == 422
    assert page_login(web2.test_client(), "alpha", "admin").status_code == 429
    assert page_login(web1.test_client(), "alpha", "admin").status_code == 429
    redis.Redis.from_url(services).flushdb()


def test_readiness_checks_redis(make_app, migrated, services):
    resp = make_app(REDIS_URL=services).test_client().get("/readyz")
    on_citus = {"citus": "ok"} if CITUS else {}  # the Citus pass: and the database is distributed
    assert resp.status_code == 200 and resp.get_json()["checks"] == {"database": "ok", "redis": "ok"} | on_citus


def test_a_revocation_in_one_web_process_reaches_the_others_at_once(make_app, clean, services):
    """Each process caches resolved credentials; the revocation version in Redis is shared."""
    from tests.conftest import api_token, bearer

    web1, web2 = (make_app(REDIS_URL=services, CREDENTIAL_CACHE="redis") for _ in range(2))
    with web1.app_context():
        make_world()
    c1, c2 = web1.test_client(), web2.test_client()
    token = bearer(api_token(c1, "alpha", "vadmin"))
    for _ in range(3):  # both processes now remember the token
        assert c1.get("/api/v1/t/alpha/me", headers=token).status_code == 200
        assert c2.get("/api/v1/t/alpha/me", headers=token).status_code == 200
    token_id = c1.get("/api/v1/t/alpha/tokens", headers=token).get_json()[0]["id"]
    assert c1.delete(f"/api/v1/t/alpha/tokens/{token_id}", headers=token).status_code == 204
    assert c2.get("/api/v1/t/alpha/me", headers=token).status_code == 401
    assert c1.get("/api/v1/t/alpha/me", headers=token).status_code == 401


def test_without_a_reachable_redis_credentials_are_checked_in_the_database(make_app, clean):
    """The cache never decides alone: if the version store is down, every request asks PostgreSQL
    (or SQLite), so a revocation still takes effect at once."""
    from tests.conftest import api_token, bearer

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", CREDENTIAL_CACHE="redis")
    with app.app_context():
        make_world()
    client = app.test_client()
    token = bearer(api_token(client, "alpha", "vadmin"))
    assert client.get("/api/v1/t/alpha/me", headers=token).status_code == 200
    token_id = client.get("/api/v1/t/alpha/tokens", headers=token).get_json()[0]["id"]
    assert client.delete(f"/api/v1/t/alpha/tokens/{token_id}", headers=token).status_code == 204
    assert client.get("/api/v1/t/alpha/me", headers=token).status_code == 401


def test_a_job_over_its_time_limit_is_stopped_in_a_prefork_worker_which_goes_on_working(
        make_app, queued_app, database_url, services, tmp_path):
    """Celery's time limits are enforced by the prefork pool (not by --pool=solo), so they are tested
    on one. A township's purge waits on a lock a stuck session holds; at its soft limit (2 s here,
    JIFEN_TASK_TIME_LIMITS) it is stopped and its run recorded failed with its next attempt; the
    worker takes the next task at once, and the retry finishes the job once the lock is gone."""
    import json

    from sqlalchemy import create_engine, text

    from jifen.platform import clock
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.workers import jobs as platform_jobs

    limits = {platform_jobs.PURGE: [2, 8]}
    # the limits travel in the message (Celery takes the publisher's): web and beat need them too
    queued_app = make_app(**{k: queued_app.config[k] for k in ("REDIS_URL", "TASKS_EAGER", "CELERY")},
                          TASK_TIME_LIMITS=limits)
    with queued_app.app_context():
        world = make_world()
        beta = db.session.get(Tenant, world.b.tenant_id)
        day = clock.today(beta).isoformat()
        db.session.commit()
    holder = create_engine(database_url).connect()
    holder.execute(text("LOCK TABLE user_sessions IN ACCESS EXCLUSIVE MODE"))  # a stuck session holds it
    log = tmp_path / "worker.log"
    proc = start_worker(database_url, services, log, pool="prefork",
                        args=("--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat"),
                        JIFEN_TASK_TIME_LIMITS=json.dumps(limits))
    try:
        def run_of(job):
            with queued_app.app_context(), tenant_scope(beta):
                return db.session.execute(select(JobRun).where(JobRun.job == job)).scalar_one_or_none()

        def wait_for(job, status, within=40):
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                run = run_of(job)
                if run is not None and run.status == status:
                    return run
                time.sleep(0.2)
            raise AssertionError((job, status, run_of(job), log.read_text()[-3000:]))

        started = time.monotonic()
        with queued_app.app_context():
            platform_jobs.purge_expired_credentials.delay(tenant_id=str(beta.id), local_date=day)
        run = wait_for(platform_jobs.PURGE, "failed")
        assert time.monotonic() - started < 8  # the soft limit stopped it, not the hard kill
        assert "SoftTimeLimitExceeded" in run.error and run.next_attempt_at is not None and run.attempts == 1
        with queued_app.app_context():  # the same worker child takes the next job at once
            platform_jobs.audit_chain_check.delay(tenant_id=str(beta.id), local_date=day)
        wait_for(platform_jobs.AUDIT_CHECK, "done", within=20)
        holder.rollback()  # the stuck session lets go: the retry (published by the beat) finishes
        with queued_app.app_context():
            platform_jobs.purge_expired_credentials.delay(tenant_id=str(beta.id), local_date=day)
        run = wait_for(platform_jobs.PURGE, "done")
        assert run.attempts == 2 and proc.poll() is None
    finally:
        holder.close()
        stop_worker(proc)
