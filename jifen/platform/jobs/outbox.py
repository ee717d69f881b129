"""The job outbox: a job published by a request leaves only after the request's commit.

Enqueueing inside an open transaction races the commit (the worker may look before the rows
exist), and enqueueing after it can be lost (the broker is down, the process dies in between):
either way a dividend run was left "computing" with nothing queued. So `enqueue` writes a
`job_outbox` row in the caller's transaction, and the session's hooks do the rest, whoever
commits (a request, a service, a job, a test):

* after the outermost commit, the rows this transaction wrote are published and deleted (in eager
  mode the tasks run inline, here, in order); a savepoint's release publishes nothing yet;
* a rollback forgets them: the rows went with it;
* a broker that cannot be reached is logged, never raised: the rows stay pending, the request still
  answers, and for `BROKER_BACKOFF_SECONDS` this process leaves publishing to the dispatcher;
* the dispatcher (`drain`: the beat every `OUTBOX_DRAIN_SECONDS`, and `jifen outbox drain`) sends
  the pending rows older than `OUTBOX_GRACE_SECONDS`, oldest first.

Publishing is at least once: a message can go out twice (the process dies between the broker
taking it and the row's delete). Every task is idempotent (DESIGN.md, Jobs), so that is harmless.
Rows are tenant-owned (the tenant in scope when the job was enqueued); only the dispatcher and the
post-commit publisher read across tenants, by row id or age.
"""
from __future__ import annotations

import time
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from jifen.platform import clock, metrics
from jifen.platform.db import db, new_id
from jifen.platform.jobs.models import OutboxJob
from jifen.platform.jobs.queue import BROKER_ERRORS, broker, eager, publish

WRITTEN, COMMITTED, BUSY = "outbox_written", "outbox_committed", "outbox_publishing"


def add(task_name: str, kwargs: dict) -> None:
    row = OutboxJob(id=new_id(), task=task_name, kwargs=kwargs)
    db.session.add(row)
    db.session.info.setdefault(WRITTEN, []).append(row.id)


@event.listens_for(Session, "after_commit")
def _committed(session) -> None:
    if session.in_nested_transaction():  # a savepoint: the outer transaction can still roll back
        return
    ids = session.info.pop(WRITTEN, None)
    if ids:
        session.info.setdefault(COMMITTED, []).extend(ids)


@event.listens_for(Session, "after_transaction_end")
def _ended(session, transaction) -> None:
    """The outermost transaction is over: publish what it committed, forget what it rolled back."""
    if transaction.parent is not None:
        return
    session.info.pop(WRITTEN, None)
    if session.info.get(BUSY) or not session.info.get(COMMITTED) or not has_app_context():
        return
    session.info[BUSY] = True  # an inline task's own commits add to COMMITTED; the loop takes them
    try:
        while ids := session.info.pop(COMMITTED, None):
            if not eager() and _backing_off():
                current_app.logger.info("outbox: broker down lately; %d job(s) left to the dispatcher", len(ids))
                continue
            _send(session, session.execute(_pending().where(OutboxJob.id.in_(ids))).all())
    except Exception:  # noqa: BLE001 - the work is committed; the dispatcher sends what is left
        session.rollback()
        current_app.logger.exception("outbox: publishing after commit failed; the dispatcher will retry")
    finally:
        session.info.pop(BUSY, None)
        session.info.pop(COMMITTED, None)


def _pending():
    return (select(OutboxJob.id, OutboxJob.task, OutboxJob.kwargs)
            .order_by(OutboxJob.created_at, OutboxJob.id).execution_options(all_tenants=True))


def _state() -> dict:
    return current_app.extensions.setdefault("jifen_outbox", {"broker_down_until": 0.0})


def _backing_off() -> bool:
    return time.monotonic() < _state()["broker_down_until"]


def _send(session, rows) -> int:
    """Publish `rows` (id, task, kwargs) in order, deleting each one sent, and commit (never roll
    back: that would expire the caller's objects after its commit). Stops at the first broker error
    (recorded on the row, logged). Returns how many were sent."""
    if not rows:
        session.commit()
        return 0
    if eager():  # the task runs here and commits its own work: the row goes first
        for row in rows:
            session.execute(delete(OutboxJob).where(OutboxJob.id == row.id).execution_options(all_tenants=True))
            session.commit()
            try:
                publish(row.task, row.kwargs)
            except Exception:  # noqa: BLE001 - the task marks its own run failed; the caller's work stands
                session.rollback()
                current_app.logger.exception("job %s failed (run inline)", row.task)
        return len(rows)
    sent, error = [], None
    try:
        with broker() as conn:
            for row in rows:
                publish(row.task, row.kwargs, conn)
                sent.append(row.id)
    except BROKER_ERRORS as exc:
        error = exc
    metrics.count("outbox_published", len(sent))
    if sent:
        session.execute(delete(OutboxJob).where(OutboxJob.id.in_(sent)).execution_options(all_tenants=True))
    if error is not None:
        failed = rows[len(sent)]
        session.execute(update(OutboxJob).where(OutboxJob.id == failed.id).execution_options(all_tenants=True)
                        .values(attempts=OutboxJob.attempts + 1, last_error=repr(error)[:500]))
        metrics.count("outbox_failures")
        _state()["broker_down_until"] = time.monotonic() + float(current_app.config["BROKER_BACKOFF_SECONDS"])
        current_app.logger.warning("outbox: the broker is unreachable (%r); %d job(s) stay pending",
                                   error, len(rows) - len(sent))
    session.commit()
    return len(sent)


def drain(min_age_seconds: float | None = None, batch: int = 100) -> dict:
    """The dispatcher: publish every pending row older than `min_age_seconds` (default
    `OUTBOX_GRACE_SECONDS`, so a request's own post-commit publishing is not raced), oldest first,
    until none is left or the broker fails. Concurrent dispatchers skip each other's rows."""
    grace = current_app.config["OUTBOX_GRACE_SECONDS"] if min_age_seconds is None else min_age_seconds
    cutoff = clock.now() - timedelta(seconds=float(grace))
    session, sent = db.session, 0
    while True:
        query = _pending().where(OutboxJob.created_at <= cutoff).limit(batch)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if eager():
            session.rollback()  # inline tasks must not run under the batch's row locks
        done = _send(session, rows)
        sent += done
        if done < len(rows) or len(rows) < batch:
            break
    pending = session.execute(select(func.count()).select_from(OutboxJob)
                              .execution_options(all_tenants=True)).scalar_one()
    session.rollback()
    if sent or pending:
        current_app.logger.info("outbox: %d job(s) published, %d pending", sent, pending)
    return {"published": sent, "pending": pending}
