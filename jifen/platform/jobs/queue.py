"""Publishing jobs. Capabilities call `enqueue` with a task name (they never import `jifen.workers`).

`enqueue` only writes an outbox row in the current transaction; the job goes to the broker after
that transaction commits, whoever commits it (see `outbox`). `publish` is the one place that talks
to the broker: one attempt, a short connect timeout, so a broker that is down costs the caller a
fraction of a second, not Celery's default retries (19 s measured), and raises `BROKER_ERRORS`.
In eager mode (the embedded default) `publish` runs the task inline instead.
"""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app
from kombu.exceptions import OperationalError as KombuOperationalError

BROKER_ERRORS = (KombuOperationalError, OSError)  # refused, unreachable, timed out


def enqueue(task_name: str, **kwargs) -> None:
    """Publish `task_name(**kwargs)` once the current transaction commits; nothing if it rolls back."""
    from jifen.platform.jobs import outbox

    outbox.add(task_name, kwargs)


def eager() -> bool:
    return bool(current_app.extensions["celery"].conf.task_always_eager)


@contextmanager
def broker():
    """One connection to the broker for a batch of `publish` calls (None in eager mode)."""
    if eager():
        yield None
        return
    seconds = float(current_app.config["BROKER_CONNECT_TIMEOUT"])
    with current_app.extensions["celery"].connection_for_write(
            connect_timeout=seconds, transport_options={"max_retries": 0, "socket_connect_timeout": seconds}) as conn:
        yield conn


def publish(task_name: str, kwargs: dict, connection=None):
    """Send one message now (or, in eager mode, run the task here)."""
    celery = current_app.extensions["celery"]
    if eager():
        return celery.signature(task_name, kwargs=kwargs).apply_async()
    # nobody waits on a published job's result (its run is in the database): no result-backend call
    return celery.send_task(task_name, kwargs=kwargs, retry=False, connection=connection, ignore_result=True)
