"""Celery bound to Flask: tasks run inside the app context, without nesting one when already in it.

Superset's refinement of Flask's FlaskTask: in eager mode the task runs inside the caller's app
context and session, so it can see the caller's rows; opening a nested context would give it a
second session that cannot.

A task that meets a dead database connection (PostgreSQL restarted, failed over, or the backend
was terminated mid-task) is retried on a fresh one, a few times: every task is idempotent
(DESIGN.md, Jobs), and what the dead connection's transaction wrote was rolled back with it.
"""
from __future__ import annotations

from time import perf_counter

from celery import Celery, Task
from celery.exceptions import Retry
from flask import Flask, has_app_context
from sqlalchemy.exc import DBAPIError

from jifen.platform.config import ConfigError

DISCONNECT_RETRIES = 3
DISCONNECT_RETRY_SECONDS = 2


def disconnected(exc: BaseException) -> bool:
    """The database connection died under this statement (SQLAlchemy's `is_disconnect`)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def will_retry(task: Task, exc: BaseException) -> bool:
    """Will this failure be retried by `FlaskTask`? (A task that gives up marks its run failed.)"""
    return disconnected(exc) and task.request.retries < DISCONNECT_RETRIES


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            if has_app_context():
                return self._observed(*args, **kwargs)
            with app.app_context():
                return self._observed(*args, **kwargs)

        def _observed(self, *args, **kwargs):
            """Its duration and outcome go to the metrics (its log lines carry its name and id: logs.py)."""
            started, outcome = perf_counter(), "failure"
            try:
                result = self._run(*args, **kwargs)
                outcome = "success"
                return result
            except Retry:
                outcome = "retry"
                raise
            finally:
                # imported here, not at the top: workers/entry.py may switch prometheus_client to
                # multiprocess mode, which must happen before anything imports it
                from jifen.platform import metrics

                metrics.observe_job(app, self.name, outcome, max(perf_counter() - started, 0.0))

        def _run(self, *args, **kwargs):
            try:
                return self.run(*args, **kwargs)
            except DBAPIError as exc:
                if not will_retry(self, exc):
                    raise
                from jifen.platform.db import db

                db.session.rollback()
                app.logger.warning("task %s met a dead database connection; retrying (%r)", self.name, exc)
                raise self.retry(exc=exc, countdown=DISCONNECT_RETRY_SECONDS, max_retries=DISCONNECT_RETRIES) from exc

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(app.config["CELERY"])
    celery.conf.beat_schedule = {
        "beat-tick": {"task": "jifen.beat_tick", "schedule": float(app.config["BEAT_TICK_SECONDS"])},
        "deliver-notifications": {"task": "jifen.deliver_notifications",
                                  "schedule": float(app.config["NOTIFY_DELIVER_SECONDS"])},
        "outbox-drain": {"task": "jifen.outbox_drain", "schedule": float(app.config["OUTBOX_DRAIN_SECONDS"])},
        "offboard-due": {"task": "jifen.offboard_due", "schedule": 3600.0},  # retention_jobs.OFFBOARD_DUE
    }
    celery.set_default()
    app.extensions["celery"] = celery
    from jifen.workers import (  # noqa: F401  registers the tasks and their daily schedule
        cockpit_jobs,
        dividend_jobs,
        fund_jobs,
        honour_jobs,
        integrity_jobs,
        jobs,
        notification_jobs,
        period_jobs,
        points_jobs,
        ranking_jobs,
        retention_jobs,
        roster_jobs,
        store_jobs,
    )

    _route_and_limit(celery, app)
    return celery


# Queues: a worker started without -Q consumes all three (one worker is enough for a small
# deployment); production runs a worker per class (deploy/README.md) so that a long settlement or
# a township's nightly ranking never sits in front of an SMS.
NOTIFY, NIGHTLY, DEFAULT = "notify", "nightly", "celery"  # "celery": Celery's own default, kept so messages queued before an upgrade are still consumed
# Seconds (soft, hard) per kind of task. Soft raises inside the task (a daily job's run is marked
# failed and the beat runs it again later, see schedule.py); hard kills the worker child. Enforced
# by the prefork pool (the default), not by --pool=solo. All below JOB_VISIBILITY_TIMEOUT.
NOTIFY_LIMITS = (240, 300)  # one delivery round; the next starts a minute later anyway
NIGHTLY_LIMITS = (50 * 60, 60 * 60)  # one township's daily job
LONG_LIMITS = (3 * 3600 - 300, 3 * 3600)  # a dividend settlement's share, a period close
# deleting offboarded townships: hourly, in committed chunks that the next run resumes; stopped
# before the next hourly run starts
OFFBOARD_LIMITS = (50 * 60, 55 * 60)
DEFAULT_LIMITS = (60, 90)  # the beat tick, the outbox drain


def task_queue_and_limits(name: str) -> tuple[str, tuple[int, int]]:
    from jifen.platform.jobs.schedule import DAILY_JOBS
    from jifen.tenants.dividends.settlement import SETTLE_TASK
    from jifen.tenants.points.period_close import RUN_TASK
    from jifen.workers.notification_jobs import DELIVER
    from jifen.workers.retention_jobs import OFFBOARD_DUE

    if name == DELIVER:
        return NOTIFY, NOTIFY_LIMITS
    if name == OFFBOARD_DUE:
        return NIGHTLY, OFFBOARD_LIMITS
    if name in (SETTLE_TASK, RUN_TASK):
        return NIGHTLY, LONG_LIMITS
    if name in DAILY_JOBS:
        return NIGHTLY, NIGHTLY_LIMITS
    return DEFAULT, DEFAULT_LIMITS


def _route_and_limit(celery: Celery, app: Flask) -> None:
    from kombu import Exchange, Queue

    celery.conf.task_default_queue = celery.conf.task_default_exchange = celery.conf.task_default_routing_key = DEFAULT
    celery.conf.task_queues = [Queue(q, Exchange(q), routing_key=q) for q in (DEFAULT, NOTIFY, NIGHTLY)]
    routes = {}
    overrides = app.config["TASK_TIME_LIMITS"] or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"JIFEN_TASK_TIME_LIMITS must be a JSON object of task name: [soft, hard], not {overrides!r}")
    overrides = dict(overrides)
    for name in celery.tasks:
        if not name.startswith("jifen."):
            continue
        queue, (soft, hard) = task_queue_and_limits(name)
        if name in overrides:
            soft, hard = _limits(name, overrides.pop(name))
        if hard >= int(app.config["JOB_VISIBILITY_TIMEOUT"]):
            raise ConfigError(f"{name}: time limit {hard} s not below JIFEN_JOB_VISIBILITY_TIMEOUT")
        routes[name] = {"queue": queue, "exchange": queue, "routing_key": queue}
        task = celery.tasks[name]
        task.soft_time_limit, task.time_limit = soft, hard
    celery.conf.task_routes = routes
    if overrides:
        raise ConfigError(f"JIFEN_TASK_TIME_LIMITS names no task: {', '.join(sorted(overrides))}")


def _limits(name: str, value) -> tuple[int, int]:
    """An operator's [soft, hard] for one task: whole seconds, 0 < soft < hard."""
    try:
        soft, hard = (int(v) for v in value)
    except (TypeError, ValueError):
        soft = hard = 0
    if not 0 < soft < hard:
        raise ConfigError(f"JIFEN_TASK_TIME_LIMITS[{name!r}] must be [soft, hard] seconds with 0 < soft < hard, "
                          f"not {value!r}")
    return soft, hard
