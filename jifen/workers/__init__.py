"""Celery bound to Flask: tasks run inside the app context, without nesting one when already in it.

Superset's refinement of Flask's FlaskTask: in eager mode the task runs inside the caller's app
context and session, so it can see the caller's rows; opening a nested context would give it a
second session that cannot.

A task that meets a dead database connection (PostgreSQL restarted, failed over, or the backend
was terminated mid-task) is retried on a fresh one, a few times: every task is idempotent
(DESIGN.md, Jobs), and what the dead connection's transaction wrote was rolled back with it.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask, has_app_context
from sqlalchemy.exc import DBAPIError

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
                return self._run(*args, **kwargs)
            with app.app_context():
                return self._run(*args, **kwargs)

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
        "offboard-due": {"task": "jifen.offboard_due", "schedule": 3600.0},
    }
    celery.set_default()
    app.extensions["celery"] = celery
    from jifen.workers import (  # noqa: F401  registers the tasks and their daily schedule
        dividend_jobs,
        honour_jobs,
        jobs,
        notification_jobs,
        period_jobs,
        points_jobs,
        ranking_jobs,
        retention_jobs,
        store_jobs,
    )

    return celery
