"""Celery bound to Flask: tasks run inside the app context, without nesting one when already in it.

Superset's refinement of Flask's FlaskTask: in eager mode the task runs inside the caller's app
context and session, so it can see the caller's rows; opening a nested context would give it a
second session that cannot.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask, has_app_context


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(app.config["CELERY"])
    celery.conf.beat_schedule = {
        "beat-tick": {"task": "jifen.beat_tick", "schedule": float(app.config["BEAT_TICK_SECONDS"])},
        "deliver-notifications": {"task": "jifen.deliver_notifications",
                                  "schedule": float(app.config["NOTIFY_DELIVER_SECONDS"])},
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
        store_jobs,
    )

    return celery
