"""Observability: log lines carry the request id or the job-run id, /metrics is guarded and shows the
request and job series without a township's data, error tracking is off unless configured."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import date

import pytest
from sqlalchemy import select

from jifen.platform import logs
from jifen.platform.config import ConfigError
from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun
from jifen.workers.jobs import AUDIT_CHECK, audit_chain_check
from tests.conftest import BASE_CONFIG, api_token, bearer, page_login
from tests.test_services import queued_app, services  # noqa: F401  (the real worker's fixtures)

TOKEN = "metrics-token-for-the-tests-0123"


@pytest.fixture
def log_lines():
    """The JSON lines written by the handler the app installs on the root logger (the real one,
    its stream swapped for a buffer and its format set to JSON for the test)."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "jifen_log_handler", False))
    buffer, old_stream, old_format = io.StringIO(), handler.stream, handler.formatter
    handler.setStream(buffer)
    handler.setFormatter(logs.JsonFormatter())
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        handler.setStream(old_stream)
        handler.setFormatter(old_format)


def scrape(client, token=TOKEN):
    return client.get("/metrics", headers=bearer(token) if token else {})


# --- logs ----------------------------------------------------------------------------------------

@pytest.fixture
def noisy_app(make_app, clean):
    """An app with two routes of its own: one that logs at INFO, one that fails."""
    app = make_app(LOG_FORMAT="json")

    @app.get("/_log")
    def _log():
        app.logger.info("something happened", extra={"household_count": 3})
        return {"ok": True}

    @app.get("/_boom")
    def _boom():
        raise RuntimeError("boom")

    _log.jifen_public = _boom.jifen_public = True
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_app_info_lines_are_kept_and_carry_the_request_id(noisy_app, log_lines):
    resp = noisy_app.test_client().get("/_log", headers={"X-Request-ID": "nginx-req-42"})
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "nginx-req-42"
    line = next(x for x in log_lines() if x["message"] == "something happened")
    assert line["level"] == "INFO" and line["logger"] == "jifen"
    assert line["request_id"] == "nginx-req-42"
    assert line["household_count"] == 3  # extra= fields become JSON fields
    assert line["ts"].endswith("+00:00")


def test_a_new_request_id_when_none_or_a_malformed_one_is_sent(noisy_app, log_lines):
    client = noisy_app.test_client()
    first = client.get("/_log").headers["X-Request-ID"]
    second = client.get("/_log", headers={"X-Request-ID": "bad id; with spaces"}).headers["X-Request-ID"]
    assert len(first) == 32 and len(second) == 32 and first != second
    ids = [x["request_id"] for x in log_lines() if x["message"] == "something happened"]
    assert ids == [first, second]


def test_a_failing_page_shows_its_request_id_and_its_log_line_has_it(noisy_app, log_lines):
    resp = noisy_app.test_client().get("/_boom", headers={"X-Request-ID": "rid-boom-1"})
    assert resp.status_code == 500
    page = resp.get_data(as_text=True)
    assert 'data-request-id="rid-boom-1"' in page and "rid-boom-1" in page
    errors = [x for x in log_lines() if x["level"] == "ERROR"]
    assert len(errors) == 1, errors  # one line per failure, with its traceback
    error = errors[0]
    assert error["request_id"] == "rid-boom-1"
    assert "RuntimeError: boom" in error["exc_info"]


def test_the_api_error_names_the_request_id(noisy_app):
    resp = noisy_app.test_client().get("/api/v1/no-such-thing", headers={"X-Request-ID": "rid-api-1"})
    assert resp.headers["X-Request-ID"] == "rid-api-1"


def test_not_found_page_shows_the_request_id(client):
    resp = client.get("/t/nowhere/", headers={"X-Request-ID": "rid-404"})
    assert resp.status_code == 404
    assert 'data-request-id="rid-404"' in resp.get_data(as_text=True)


def test_job_lines_carry_the_job_run_id(app, world, log_lines):
    with app.app_context():
        audit_chain_check.delay(str(world.a.tenant_id), "2026-11-28")
        run = db.session.execute(select(JobRun).where(JobRun.job == AUDIT_CHECK, JobRun.local_date == date(2026, 11, 28))
                                 .execution_options(all_tenants=True)).scalar_one()
        assert run.status == JobRun.DONE
    line = next(x for x in log_lines() if x["message"].startswith("audit anchor alpha"))
    assert line["job_run_id"] == str(run.id)
    assert line["job"] == AUDIT_CHECK and line["task_id"]
    assert "request_id" not in line


@pytest.mark.services
def test_a_failed_jobs_every_line_carries_its_ids_the_traceback_too(queued_app, services, database_url, tmp_path):  # noqa: F811
    """In a real worker, Celery writes the failure's traceback after the task's code returned: that
    line names the job, the task and the run too."""
    from tests.celery_worker import start_worker, stop_worker
    from tests.conftest import make_world
    from tests.failing_task import NAME

    log = tmp_path / "worker.log"
    proc = start_worker(database_url, services, log, JIFEN_LOG_FORMAT="json",
                        args=("--without-gossip", "--without-mingle", "--without-heartbeat", "--include=tests.failing_task"))
    try:
        with queued_app.app_context():
            world = make_world()
            queued_app.extensions["celery"].send_task(NAME, args=(str(world.a.tenant_id), "2026-11-28"))
            deadline, run = time.monotonic() + 60, None
            while time.monotonic() < deadline and (run is None or run.status != JobRun.FAILED):
                time.sleep(0.3)
                db.session.rollback()
                run = db.session.execute(select(JobRun).where(JobRun.job == NAME)
                                         .execution_options(all_tenants=True)).scalar_one_or_none()
            assert run is not None and run.status == JobRun.FAILED, log.read_text()[-3000:]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "raised unexpected" not in log.read_text():
            time.sleep(0.2)
    finally:
        stop_worker(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    traceback = next(x for x in lines if x["logger"] == "celery.app.trace" and x["level"] == "ERROR")
    assert "raised unexpected" in traceback["message"] and "the job broke" in traceback["exc_info"]
    body = next(x for x in lines if x["message"] == "about to fail")
    for line in (traceback, body):
        assert line["job"] == NAME and line["job_run_id"] == str(run.id) and line["task_id"], line
    assert traceback["task_id"] == body["task_id"]
    ready = next(x for x in lines if "ready" in x["message"])
    assert "job" not in ready and "job_run_id" not in ready  # the worker's own lines name no job


def test_text_format_in_development_json_in_production():
    from jifen.platform.config import _observability

    dev = {"JIFEN_ENV": "development", "LOG_FORMAT": None, "LOG_LEVEL": "info", "METRICS_TOKEN": None,
           "SENTRY_DSN": None, "SENTRY_TRACES_SAMPLE_RATE": 0.0}
    _observability(dev, production=False)
    assert dev["LOG_FORMAT"] == "text" and dev["LOG_LEVEL"] == "INFO"
    prod = dev | {"JIFEN_ENV": "production", "LOG_FORMAT": None, "SENTRY_ENVIRONMENT": None}
    _observability(prod, production=True)
    assert prod["LOG_FORMAT"] == "json" and prod["SENTRY_ENVIRONMENT"] == "production"
    record = logging.LogRecord("jifen", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.request_id = "r1"
    assert logs.TextFormatter().format(record).endswith("INFO jifen [rid=r1] hello world")


def test_a_production_upgrade_writes_json_lines(tmp_path):
    """compose's `migrate` service (`jifen db upgrade`) logs like the app: alembic.ini's logging
    setup, plain text at WARN, used to replace the app's. Offline (`--sql`, the first revisions) so
    that it needs no PostgreSQL server: the logging is set up the same way either way."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")} | {
        "JIFEN_ENV": "production", "JIFEN_SECRET_KEY": "upgrade-log-test-secret",
        "JIFEN_ID_KEYS": json.dumps([Fernet.generate_key().decode()]), "JIFEN_ID_HMAC_KEY": "upgrade-log-test-hmac",
        "JIFEN_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:9/none", "JIFEN_REDIS_URL": "redis://127.0.0.1:9/0",
    }
    jifen = os.path.join(os.path.dirname(sys.executable), "jifen")
    done = subprocess.run([jifen, "db", "upgrade", "--sql", "base:a5e0c0de0005"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CREATE TABLE" in done.stdout
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]  # each a JSON object
    upgrades = [x for x in lines if x["message"].startswith("Running upgrade")]
    assert len(upgrades) == 4 and {x["logger"] for x in upgrades} == {"alembic.runtime.migration"}


@pytest.mark.parametrize("key, value, named", [
    ("LOG_FORMAT", "xml", "JIFEN_LOG_FORMAT"),
    ("LOG_LEVEL", "LOUD", "JIFEN_LOG_LEVEL"),
    ("METRICS_TOKEN", "short", "JIFEN_METRICS_TOKEN"),
    ("SENTRY_DSN", "not a dsn", "JIFEN_SENTRY_DSN"),
    ("SENTRY_TRACES_SAMPLE_RATE", 2, "JIFEN_SENTRY_TRACES_SAMPLE_RATE"),
])
def test_bad_observability_settings_stop_the_start(tmp_path, key, value, named):
    from jifen import create_app

    with pytest.raises(ConfigError, match=named):
        create_app(BASE_CONFIG | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", key: value})


# --- metrics -------------------------------------------------------------------------------------

def test_metrics_refuse_without_the_token(client, app):
    app.config["METRICS_TOKEN"] = None
    assert scrape(client).status_code == 404  # no token configured: the route is off
    app.config["METRICS_TOKEN"] = TOKEN
    assert scrape(client, token=None).status_code == 401
    resp = scrape(client, token="wrong-token-wrong-token")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"jifen_" not in resp.data
    assert scrape(client).status_code == 200


def test_metrics_show_requests_and_jobs_without_township_data(app, world):
    app.config["METRICS_TOKEN"] = TOKEN
    client = app.test_client()
    page_login(client, "alpha", "admin")
    assert client.get("/t/alpha/").status_code == 200
    token = api_token(client, "alpha", "admin")
    assert client.get("/api/v1/t/alpha/villages/", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/v1/t/alpha/villages/{world.b.villages[0]}", headers=bearer(token)).status_code == 404
    assert client.get("/wp-login.php").status_code == 404  # no route: its own label, not "None"
    with app.app_context():
        audit_chain_check.delay(str(world.a.tenant_id), "2026-11-28")
    text = scrape(client).get_data(as_text=True)
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert any(s.startswith('jifen_http_request_duration_seconds_count{endpoint="villages_api.Villages",'
                            'method="GET",status="200"}') for s in series), text
    assert any('endpoint="villages_api.VillageDetail"' in s and 'status="404"' in s for s in series)
    assert any('endpoint="unmatched"' in s and 'status="404"' in s for s in series), text
    assert not any('endpoint="None"' in s for s in series)
    assert any(s.startswith(f'jifen_job_duration_seconds_count{{job="{AUDIT_CHECK}",outcome="success"}} ')
               for s in series), text
    # every request gave its connection back: none in use, at least one idle in the pool
    assert "jifen_db_pool_checked_out 0.0" in series
    assert float(next(s for s in series if s.startswith("jifen_db_pool_idle ")).split()[1]) >= 1
    for name in ("jifen_outbox_pending", "jifen_outbox_publish_failures_total", "jifen_db_pool_checked_out",
                 "jifen_notification_deliveries_open", "jifen_metrics_database_up 1.0"):
        assert name in text
    # nothing a township owns: no slug, name, id or user name in any series
    for secret in ("alpha", "beta", "龙窝镇", str(world.a.tenant_id), str(world.b.villages[0]), "admin"):
        assert secret not in text, secret
    assert "/t/" not in text  # URLs are never labels


def test_a_failed_job_is_counted_as_failure(app, world):
    from jifen.platform.jobs.runner import run_daily
    from jifen.workers import celery_init_app  # noqa: F401  (the task class under test)

    celery = app.extensions["celery"]

    @celery.task(name="tests.observability_failing_job")
    def failing(tenant_id, local_date):
        return run_daily("tests.observability_failing_job", tenant_id, local_date, lambda t, d: 1 / 0)

    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context(), pytest.raises(ZeroDivisionError):
        failing.delay(str(world.a.tenant_id), "2026-11-28")
    text = scrape(app.test_client()).get_data(as_text=True)
    assert 'jifen_job_duration_seconds_count{job="tests.observability_failing_job",outcome="failure"} 1.0' in text


def test_outbox_publish_failures_are_counted(make_app, clean, world):
    """A broker that cannot be reached: the failure is counted and the job stays pending."""
    from jifen.platform.jobs import outbox
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", TASKS_EAGER=False, BROKER_CONNECT_TIMEOUT=0.2,
                   METRICS_TOKEN=TOKEN)
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            outbox.add("jifen.purge_expired_credentials", {"tenant_id": str(world.a.tenant_id),
                                                           "local_date": "2026-11-28"})
            db.session.commit()
    text = scrape(app.test_client()).get_data(as_text=True)
    assert "jifen_outbox_publish_failures_total 1.0" in text
    assert "jifen_outbox_pending 1.0" in text


# --- error tracking ------------------------------------------------------------------------------

def test_empty_settings_mean_off(tmp_path):
    """docker-compose passes unset variables as empty strings."""
    from jifen import create_app

    app = create_app(BASE_CONFIG | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
                                    "METRICS_TOKEN": "", "SENTRY_DSN": ""})
    assert app.config["METRICS_TOKEN"] is None and app.config["SENTRY_DSN"] is None
    assert app.test_client().get("/metrics", headers=bearer("")).status_code == 404


def test_error_tracking_is_off_without_a_dsn(app):
    import sentry_sdk

    assert app.config["SENTRY_DSN"] is None
    assert not sentry_sdk.get_client().is_active()


def test_error_tracking_starts_with_a_dsn_and_tags_the_request_id(tmp_path):
    """In a process of its own: the SDK is global to a process."""
    script = f"""
import sentry_sdk
from jifen import create_app
from jifen.platform import errortracking
app = create_app({{"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path}/x.db",
                  "SENTRY_DSN": "https://public@sentry.example.invalid/1"}})
client = sentry_sdk.get_client()
assert client.is_active(), "not started"
assert client.options["send_default_pii"] is False
assert client.options["environment"] == "development"
with app.test_request_context("/"):
    from flask import g
    g.request_id = "rid-7"
    event = errortracking._tag_ids({{}}, None)
assert event["tags"]["request_id"] == "rid-7", event
client.close(timeout=0)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_several_processes_are_summed_in_multiprocess_mode(tmp_path, migrated, database_url):
    """gunicorn's workers: each process writes its series to PROMETHEUS_MULTIPROC_DIR and a scrape
    of any one of them counts the requests of all (two processes here, one after the other)."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = f"""
import sys
from jifen import create_app
app = create_app({{"TESTING": True, "SQLALCHEMY_DATABASE_URI": {database_url!r}, "METRICS_TOKEN": {TOKEN!r}}})
client = app.test_client()
for _ in range(int(sys.argv[1])):
    assert client.get("/healthz").status_code == 200
if sys.argv[2] == "scrape":
    print(client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}}).get_data(as_text=True))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")} | {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    first = subprocess.run([sys.executable, "-c", script, "2", "-"], capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    second = subprocess.run([sys.executable, "-c", script, "3", "scrape"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    assert ('jifen_http_request_duration_seconds_count{endpoint="health.healthz",method="GET",status="200"} 5.0'
            in second.stdout), second.stdout
    assert len(list(folder.glob("*.db"))) >= 2  # each process its own files


def test_the_worker_serves_its_series_on_a_port_of_its_own(app, world):
    """What `JIFEN_WORKER_METRICS_PORT` starts in a Celery worker (workers/entry.py): the job series
    on a separate port, read here over HTTP."""
    import socket
    import urllib.request

    from jifen.platform import metrics

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve_worker_metrics(app, port, "127.0.0.1")
    with app.app_context():
        audit_chain_check.delay(str(world.b.tenant_id), "2026-11-28")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert f'jifen_job_duration_seconds_count{{job="{AUDIT_CHECK}",outcome="success"}} ' in text
    assert "beta" not in text and str(world.b.tenant_id) not in text


@pytest.mark.parametrize("limits, message", [
    ({"jifen.no_such_task": [1, 2]}, "names no task: jifen.no_such_task"),
    ({"jifen.nightly_ranking": [60, 30]}, "0 < soft < hard"),
    ({"jifen.nightly_ranking": "fast"}, "0 < soft < hard"),
    ([1, 2], "must be a JSON object"),
    ({"jifen.nightly_ranking": [60, 7 * 3600]}, "not below JIFEN_JOB_VISIBILITY_TIMEOUT"),
])
def test_task_time_limits_that_cannot_work_refuse_to_start(make_app, limits, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(TASK_TIME_LIMITS=limits)


def test_task_time_limits_replace_one_tasks_limits(make_app):
    def limits(app, name):
        task = app.extensions["celery"].tasks[name]
        return task.soft_time_limit, task.time_limit

    tuned = make_app(TASK_TIME_LIMITS={"jifen.nightly_ranking": [100, 200]})
    assert limits(tuned, "jifen.nightly_ranking") == (100, 200)
    assert limits(tuned, "jifen.order_expiry") == (50 * 60, 60 * 60)  # its kind's
    assert limits(make_app(), "jifen.nightly_ranking") == (50 * 60, 60 * 60)


@pytest.mark.parametrize("hours, expected", [("22:30-06:00", ("22:30", "06:00")), ("", None), ("08:00-08:00", None)])
def test_staff_quiet_hours_are_read_at_start(make_app, hours, expected):
    app = make_app(STAFF_QUIET_HOURS=hours)
    got = app.config["STAFF_QUIET"]
    assert (got if got is None else tuple(t.strftime("%H:%M") for t in got)) == expected


def test_staff_quiet_hours_that_do_not_parse_refuse_to_start(make_app):
    with pytest.raises(ConfigError, match="JIFEN_STAFF_QUIET_HOURS must look like 21:00-07:00"):
        make_app(STAFF_QUIET_HOURS="9pm-7am")
