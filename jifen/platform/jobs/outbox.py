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
post-commit publisher read across tenants: the publisher by (tenant, id), so on Citus it goes to the
shards of the townships it wrote; the dispatcher by age, on every shard (`fan_out("outbox.drain")`).
"""
from __future__ import annotations

import time
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from jifen.platform import clock, metrics
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db, new_id
from jifen.platform.jobs.models import OutboxJob
from jifen.platform.jobs.queue import BROKER_ERRORS, broker, eager, publish
from jifen.platform.tenancy import current_tenant_id

WRITTEN, COMMITTED, BUSY = "outbox_written", "outbox_committed", "outbox_publishing"


def add(task_name: str, kwargs: dict) -> None:
    row = OutboxJob(id=new_id(), task=task_name, kwargs=kwargs)
    db.session.add(row)
    db.session.info.setdefault(WRITTEN, []).append((current_tenant_id(), row.id))


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
            rows = session.execute(_pending().where(OutboxJob.tenant_id.in_({t for t, _ in ids}),
                                                    OutboxJob.id.in_({i for _, i in ids}))
                                   .execution_options(all_tenants=True)).all()
            _send(session, rows, {"all_tenants": True})
    except Exception:  # noqa: BLE001 - the work is committed; the dispatcher sends what is left
        session.rollback()
        current_app.logger.exception("outbox: publishing after commit failed; the dispatcher will retry")
    finally:
        session.info.pop(BUSY, None)
        session.info.pop(COMMITTED, None)


def _pending():
    return select(OutboxJob.tenant_id, OutboxJob.id, OutboxJob.task, OutboxJob.kwargs).order_by(
        OutboxJob.created_at, OutboxJob.id)


def _state() -> dict:
    return current_app.extensions.setdefault("jifen_outbox", {"broker_down_until": 0.0})


def _backing_off() -> bool:
    return time.monotonic() < _state()["broker_down_until"]


def _send(session, rows, options: dict) -> int:
    """Publish `rows` (tenant_id, id, task, kwargs) in order, deleting each one sent, and commit (never
    roll back: that would expire the caller's objects after its commit). Stops at the first broker
    error (recorded on the row, logged). Returns how many were sent. `options`: the execution options
    of the statements across tenants (the caller's: the publisher's or the dispatcher's)."""
    if not rows:
        session.commit()
        return 0
    if eager():  # the task runs here and commits its own work: the row goes first
        for row in rows:
            session.execute(delete(OutboxJob).where(OutboxJob.tenant_id == row.tenant_id, OutboxJob.id == row.id)
                            .execution_options(all_tenants=True))  # this row's township, by hand
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
                sent.append(row)
    except BROKER_ERRORS as exc:
        error = exc
    metrics.count("outbox_published", len(sent))
    if sent:
        session.execute(delete(OutboxJob).where(OutboxJob.tenant_id.in_({r.tenant_id for r in sent}),
                                                OutboxJob.id.in_([r.id for r in sent])).execution_options(**options))
    if error is not None:
        failed = rows[len(sent)]
        session.execute(update(OutboxJob).where(OutboxJob.tenant_id == failed.tenant_id, OutboxJob.id == failed.id)
                        .execution_options(all_tenants=True)  # this row's township, by hand
                        .values(attempts=OutboxJob.attempts + 1, last_error=repr(error)[:500]))
        metrics.count("outbox_failures")
        _state()["broker_down_until"] = time.monotonic() + float(current_app.config["BROKER_BACKOFF_SECONDS"])
        current_app.logger.warning("outbox: the broker is unreachable (%r); %d job(s) stay pending",
                                   error, len(rows) - len(sent))
    session.commit()
    return len(sent)


def _lock_oldest(session, cutoff, batch: int) -> list:
    """The oldest `batch` pending rows older than `cutoff` that no other dispatcher holds, locked.
    Found across townships without locks (Citus locks rows in one township's shard at a time), then
    locked per township, skipping rows held elsewhere (PostgreSQL: SKIP LOCKED)."""
    found = session.execute(_pending().where(OutboxJob.created_at <= cutoff).limit(batch)
                            .execution_options(**fan_out("outbox.drain"))).all()
    if not found or session.get_bind().dialect.name != "postgresql":
        return found
    locked = set()
    for tenant_id in {r.tenant_id for r in found}:
        locked |= set(session.execute(
            select(OutboxJob.id).where(OutboxJob.tenant_id == tenant_id,
                                       OutboxJob.id.in_([r.id for r in found if r.tenant_id == tenant_id]))
            .with_for_update(skip_locked=True).execution_options(all_tenants=True)).scalars())  # this township, by hand
    return [r for r in found if r.id in locked]


def drain(min_age_seconds: float | None = None, batch: int = 100) -> dict:
    """The dispatcher: publish every pending row older than `min_age_seconds` (default
    `OUTBOX_GRACE_SECONDS`, so a request's own post-commit publishing is not raced), oldest first,
    until none is left or the broker fails. Concurrent dispatchers skip each other's rows."""
    grace = current_app.config["OUTBOX_GRACE_SECONDS"] if min_age_seconds is None else min_age_seconds
    cutoff = clock.now() - timedelta(seconds=float(grace))
    session, sent = db.session, 0
    while True:
        rows = _lock_oldest(session, cutoff, batch)
        if eager():
            session.rollback()  # inline tasks must not run under the batch's row locks
        done = _send(session, rows, fan_out("outbox.drain"))
        sent += done
        if done < len(rows) or len(rows) < batch:
            break
    pending = session.execute(select(func.count()).select_from(OutboxJob)
                              .execution_options(**fan_out("outbox.drain"))).scalar_one()
    session.rollback()
    if sent or pending:
        current_app.logger.info("outbox: %d job(s) published, %d pending", sent, pending)
    return {"published": sent, "pending": pending}
