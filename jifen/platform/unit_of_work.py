"""One owner of the transaction (DESIGN: Owners of cross-cutting things, Transaction).

A request is one unit of work, pages and API alike: services and views flush, never commit. When
the view has answered a write request (POST, PUT, PATCH, DELETE) with a success or a redirect, the
pipeline commits once, before the response is sent; an error answer (4xx/5xx) or an exception rolls
everything back. So an `Idempotency-Key`'s stored answer, an audit entry and the work they belong to
commit together or not at all, and a process that dies before the commit leaves nothing behind.

Outside requests the owner is whoever runs the unit: a CLI command commits at its end, the job
runner (`jobs.runner`) around a job body. Chunked jobs are the documented exception: their chunk
runner commits once per chunk (`CHUNK_RUNNERS` lists them, with the reason), so a long run keeps
what it has done, holds its locks briefly and resumes from there.
"""
from __future__ import annotations

import psycopg
from flask import g, has_request_context, request
from sqlalchemy.exc import DBAPIError

from jifen.platform.db import db

READ_METHODS = ("GET", "HEAD", "OPTIONS")

# Who may commit (tests/test_unit_of_work.py checks that nothing else does): the owners, each once
# per unit it runs, and the chunk runners of chunked jobs, the documented exception, by function.
OWNERS = {
    "jifen/platform/unit_of_work.py": "the request: one commit per write request",
    "jifen/cli.py": "a CLI command commits at its end",
    "jifen/platform/jobs/runner.py": "the job runner: claims the run, then commits the job's result or failure",
    "jifen/platform/jobs/schedule.py": "the beat: claims due runs and commits before it publishes them",
    "jifen/platform/jobs/queue.py": "the job outbox: published after the commit that wrote it",
}
CHUNK_RUNNERS = {
    "jifen/tenants/points/posting.py:close_due": "notices job: closes ended notices before posting their items",
    "jifen/tenants/points/posting.py:post_ready": "posts certified items a chunk per transaction (row locks held briefly)",
    "jifen/tenants/points/notices.py:publish_waiting": "notices job: one village's notice per transaction",
    "jifen/tenants/points/period_close.py:run_close": "period close: the claim, then chunk after chunk, then done",
    "jifen/tenants/points/period_close.py:_chunk": "period close: one chunk of households per transaction",
    "jifen/tenants/honours/stars.py:nightly": "star ratings job: one period per transaction",
    "jifen/tenants/store/orders.py:expire_due": "order expiry job: one order per transaction (its row lock held briefly)",
    "jifen/platform/townships/offboarding.py:delete_due": "offboarding: each due township deleted in its own transaction",
    "jifen/platform/townships/offboarding.py:delete_township": "offboarding: a township's rows deleted a chunk per "
                                                               "transaction, each with its progress (resumes)",
    "jifen/tenants/notifications/delivery.py:plan": "delivery: plans a batch and commits before sending",
    "jifen/tenants/notifications/delivery.py:claim": "delivery: claims a batch (committed) so two workers never send one twice",
    "jifen/tenants/notifications/delivery.py:send_one": "delivery: no transaction stays open while the provider answers",
    "jifen/tenants/notifications/delivery.py:_settle": "delivery: records the provider's answer",
    "jifen/tenants/notifications/delivery.py:deliver_all": "delivery: batch after batch",
    "jifen/tenants/notifications/digest.py:run": "staff digest job: writes the digests before sending them",
    "jifen/tenants/dividends/settlement.py:_claim": "settlement: claims one chunk",
    "jifen/tenants/dividends/settlement.py:_compute": "settlement: computes one chunk per transaction",
    "jifen/tenants/dividends/settlement.py:_fail": "settlement: records a failed run",
    "jifen/tenants/dividends/settlement.py:_finish": "settlement: totals the finished chunks",
    "jifen/tenants/dividends/settlement.py:resume_all": "settlement sweeper: frees a dead run's chunk claims "
                                                        "(committed) before computing its chunks",
    "jifen/tenants/households/roster_job.py:run": "roster import job: the check's outcome and first progress",
    "jifen/tenants/households/roster_job.py:_chunk": "roster import job: one chunk of households per transaction, "
                                                     "with its progress (resumes)",
    "jifen/tenants/households/roster_job.py:_finish": "roster import job: marks the import imported",
    "jifen/tenants/households/roster_job.py:stopped": "roster import job: records why it stopped",
    "jifen/platform/jobs/alerts.py:tell": "job alerts: their own transaction after the run's outcome is "
                                          "committed, so a failing listener never undoes the outcome",
    "jifen/demo.py:load": "the demo loader (`jifen demo`, a CLI command): one township at a time",
    "jifen/tenants/points/demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/points/demo.py:_load": "the demo loader: its history in steps",
    "jifen/tenants/points/demo.py:_fast_commits": "the demo loader: its history in steps",
    "jifen/tenants/points/demo.py:Demo.people": "the demo loader: its history in steps",
    "jifen/tenants/honours/demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/rankings/demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/store/order_demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/dividends/demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/funds/demo.py:load_demo": "the demo loader: its history in steps",
    "jifen/tenants/dividends/demo.py:_simulated": "the demo loader: a pool simulated, then computed",
    "jifen/tenants/cockpit/demo.py:load_demo": "the demo loader: its history in steps",
}


def keep_writes_with_refusal() -> None:
    """This request answers with an error but records what it found (a roster import that turned
    invalid when checked again): its writes commit with the error answer."""
    g.keep_writes = True


def trace_read(write) -> None:
    """A read request that must leave a trace (it showed full ID numbers: the audit entry saying
    so). The view itself stays read-only; `write()` runs once the view has answered with a success,
    in a transaction of its own that commits before the response goes out. If it fails, the answer
    is an error instead (nothing is shown without its trace)."""
    g.setdefault("read_traces", []).append(write)


def reading() -> bool:
    """Whether the current request is a read (GET, HEAD, OPTIONS): writes there go through `trace_read`."""
    return has_request_context() and request.method in READ_METHODS


def abandon() -> None:
    """Roll back after a unit failed. A statement interrupted halfway (a Celery soft time limit
    raised while the statement waited on a lock) leaves its connection busy: it can neither roll
    back nor run the next statement ("another command is already in progress"). Then the statement
    is cancelled on the server and the connection dropped from the pool; the session goes on with a
    fresh one, so the failure can still be recorded."""
    session = db.session()
    if session.in_transaction():
        raw = session.connection().connection.dbapi_connection
        info = getattr(raw, "info", None)  # psycopg; SQLite has no statement left running
        if info is not None and info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
            raw.cancel()
            session.invalidate()
            return
    try:
        session.rollback()
    except DBAPIError:
        session.invalidate()


def finish_request(response):
    """The request's one commit (or rollback), after the view and before the response goes out."""
    if request.method in READ_METHODS:
        traces = g.pop("read_traces", None)
        if traces and response.status_code < 400:
            db.session.info["read_only"] = False
            db.session.rollback()  # ends the read's autocommit connection; the traces get a transaction
            for write in traces:
                write()
            db.session.commit()
        return response
    if response.status_code < 400 or g.get("keep_writes"):
        db.session.commit()
    else:
        db.session.rollback()
    return response
