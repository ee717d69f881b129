"""Prometheus metrics, at `GET /metrics` behind a bearer token (`METRICS_TOKEN`).

What is measured (names in docs/decisions.md, "Issue 12: observability"):

* HTTP requests, by endpoint (the view's name, never its URL: a URL holds a township's slug and
  object ids), method and status, with a latency histogram: prometheus-flask-exporter;
* jobs (every Celery task, inline or in a worker): duration histogram by task name and outcome
  (success, failure, retry): `observe_job`, called by the task wrapper (workers/__init__.py);
* the job outbox: publish failures (a counter, where they happen) and, read at scrape time, the
  pending rows and the age of the oldest; notification deliveries: outcomes of each send (a
  counter) and the deliveries not yet sent, by state (read at scrape time);
* the database pool of this process: connections checked out, idle, and its capacity.

No series carries a township, a user or an object id: labels are endpoints, task names, states.

Several processes (gunicorn's workers, Celery's prefork children): prometheus_client's
multiprocess mode, switched on by the `PROMETHEUS_MULTIPROC_DIR` environment variable before the
process starts (deploy/gunicorn.conf.py sets it, and clears the folder at start); the scrape then
sums the files of every process (deploy/README.md, "Metrics"). The Celery worker serves its own
series on a separate port (`JIFEN_WORKER_METRICS_PORT`, workers/entry.py).
"""
from __future__ import annotations

import hmac
import os
from datetime import datetime

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import event, func, select

from jifen.platform import clock
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db

JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
EXTENSION = "jifen_metrics"


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def endpoint(req) -> str:
    """The label requests are grouped by (the exporter passes the request): the view's name,
    "unmatched" for a URL no route has (a probe for /wp-login.php must not be a series "None")."""
    return req.endpoint or "unmatched"


class Metrics:
    """The app's series, in a registry of its own (the tests build many apps in one process)."""

    def __init__(self, app):
        self.registry = CollectorRegistry(auto_describe=True)
        self.exporter = PrometheusMetrics(
            app, path=None, registry=self.registry, group_by=endpoint, defaults_prefix="jifen",
            buckets=REQUEST_BUCKETS, excluded_paths=[r"^/metrics$", r"^/static/"])
        r = self.registry
        self.job_seconds = Histogram("jifen_job_duration_seconds", "Job (Celery task) run time, by task and outcome",
                                     ("job", "outcome"), buckets=JOB_BUCKETS, registry=r)
        self.outbox_failures = Counter("jifen_outbox_publish_failures_total",
                                       "Outbox publishing attempts that failed (broker unreachable)", registry=r)
        self.outbox_published = Counter("jifen_outbox_published_total", "Outbox jobs handed to the broker", registry=r)
        self.deliveries = Counter("jifen_notification_deliveries_total",
                                  "Notification delivery attempts, by outcome (sent, failed, dead, postponed, lost)",
                                  ("outcome",), registry=r)
        self.pool_checked_out = Gauge("jifen_db_pool_checked_out", "Database connections in use",
                                      multiprocess_mode="livesum", registry=r)
        self.pool_idle = Gauge("jifen_db_pool_idle", "Database connections open and idle in the pool",
                               multiprocess_mode="livesum", registry=r)
        self.pool_capacity = Gauge("jifen_db_pool_capacity", "Connections the pools may open (size + overflow)",
                                   multiprocess_mode="livesum", registry=r)

    def watch_pool(self, engine) -> None:
        pool = engine.pool
        if not all(hasattr(pool, m) for m in ("checkedout", "checkedin", "size")):
            return  # NullPool / StaticPool: nothing pooled to measure

        def update(returning: int = 0):
            # the checkin event comes before the pool takes the connection back (SQLAlchemy's
            # order): `returning` counts it as already returned; an idle pool keeps at most size()
            current = engine.pool  # dispose() replaces the pool; the listeners follow it
            self.pool_checked_out.set(max(current.checkedout() - returning, 0))
            self.pool_idle.set(min(current.checkedin() + returning, current.size()))
            self.pool_capacity.set(current.size() + max(getattr(current, "_max_overflow", 0), 0))

        event.listen(engine, "checkout", lambda *_: update())
        event.listen(engine, "checkin", lambda *_: update(returning=1))
        update()

    def exposition(self) -> bytes:
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
        else:
            registry = self.registry
        stored = CollectorRegistry(auto_describe=False)
        stored.register(StoredState())
        return generate_latest(registry) + generate_latest(stored)


class StoredState:
    """Figures read from the database at scrape time, summed over all townships (no tenant label)."""

    def collect(self):
        try:
            found = list(self._read())
        except Exception:  # noqa: BLE001 - the database is down: the other series are still served
            db.session.rollback()
            current_app.logger.warning("metrics: the database could not be read", exc_info=True)
            found = []
        yield GaugeMetricFamily("jifen_metrics_database_up", "1 if the scrape could read the database",
                                value=1 if found else 0)
        yield from found

    def _read(self):
        from jifen.platform.jobs.models import OutboxJob

        session = db.session
        count, oldest = session.execute(select(func.count(), func.min(OutboxJob.created_at))
                                        .execution_options(**fan_out("metrics.gauges"))).one()
        yield GaugeMetricFamily("jifen_outbox_pending", "Outbox jobs not yet handed to the broker", value=count)
        yield GaugeMetricFamily("jifen_outbox_oldest_pending_seconds", "Age of the oldest pending outbox job",
                                value=_age(oldest))
        for name, (help_text, label, read) in sorted(STORED_GAUGES.items()):
            family = GaugeMetricFamily(name, help_text, labels=(label,))
            for value, amount in read().items():
                family.add_metric((value,), amount)
            yield family
        session.rollback()


# name -> (help, label name, a function returning {label value: number}), read at each scrape; a
# capability registers its own (notifications: deliveries not sent). Totals over all townships only.
STORED_GAUGES: dict[str, tuple] = {}


def register_stored_gauge(name: str, help_text: str, label: str, read) -> None:
    STORED_GAUGES[name] = (help_text, label, read)


def _age(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    now = clock.now()
    if moment.tzinfo is None:
        now = now.replace(tzinfo=None)
    return max((now - moment).total_seconds(), 0.0)


def of(app=None) -> Metrics | None:
    return (app or current_app).extensions.get(EXTENSION)


def observe_job(app, job: str, outcome: str, seconds: float) -> None:
    m = of(app)
    if m is not None:
        m.job_seconds.labels(job=job, outcome=outcome).observe(seconds)


def count(name: str, amount: int = 1, **labels) -> None:
    """Add to one of the app's counters (outbox_failures, outbox_published, deliveries)."""
    m = of()
    if m is not None and amount:
        metric = getattr(m, name)
        (metric.labels(**labels) if labels else metric).inc(amount)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_view():
    """The exposition, for a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`. No token
    configured: the route is off (404). A wrong or missing token: 401."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return Response("Not found: set JIFEN_METRICS_TOKEN to serve metrics here.\n", 404, mimetype="text/plain")
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), str(token).encode()):
        return Response("Send 'Authorization: Bearer <JIFEN_METRICS_TOKEN>'.\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(of().exposition(), 200, content_type=CONTENT_TYPE_LATEST)


metrics_view.jifen_public = True  # no township, no session: the token above is its guard


def init_app(app) -> None:
    m = Metrics(app)
    app.extensions[EXTENSION] = m
    app.register_blueprint(bp)
    with app.app_context():
        for engine in db.engines.values():
            m.watch_pool(engine)


def serve_worker_metrics(app, port: int, addr: str = "0.0.0.0") -> None:
    """The Celery worker's series on their own port (its main process serves what its children
    wrote, in multiprocess mode)."""
    from prometheus_client import start_http_server

    registry = of(app).registry
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
    start_http_server(port, addr=addr, registry=registry)
