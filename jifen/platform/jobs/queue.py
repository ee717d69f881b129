"""Enqueue a task by name. Capabilities never import `jifen.workers`; they name the task.

Call it after the transaction that made the work has committed (see STYLE.md: enqueueing inside
an open transaction races the commit). In eager mode the task runs inline right here.
"""
from __future__ import annotations

from flask import current_app


def enqueue(task_name: str, **kwargs):
    celery = current_app.extensions["celery"]
    return celery.signature(task_name, kwargs=kwargs).apply_async()
