"""Statements that read or write across townships' shards on Citus: the list of allowed ones, and the
watch that catches any other.

Almost every statement is scoped to one township (the tenant guard adds `tenant_id = :current`), so
Citus routes it to the one worker holding that township. A statement without that scope runs on
every shard ("fans out"): fine for a deliberate, bounded county read, a scaling bug anywhere else.

With `JIFEN_CITUS=1` every connection asks Citus to send a NOTICE for each statement that runs as
more than one task (`citus.multi_task_query_log_level`), and the watch matches it to the statement
being executed. A statement is allowed when its execution options carry `fan_out(name)` with a name
in `ALLOWED`; any other is reported with the line of Jifen's code that ran it: logged
(`CITUS_FAN_OUT=log`, production) or raised as `UnlistedFanOut` (`raise`: the Citus test pass, so a
new unscoped query fails a test). Statements run from outside the package (tests, benchmarks,
scripts) are not Jifen's queries and are not reported.
"""
from __future__ import annotations

import logging
import os
import traceback

from sqlalchemy import event

log = logging.getLogger(__name__)

NOTICE = "multi-task query about to be executed"

# name -> why it must read across townships, and what bounds it
ALLOWED: dict[str, str] = {
    "county.township_list": "the county console's townships with their active accounts: one count per "
                            "township of one county (tens of rows)",
    "county.cockpit": "the county cockpit's aggregates: the county's townships' fact rows of a few months "
                      "(cockpit/county.py), read per county, kept between commits",
    "beat.stale_claims": "the beat, every minute: job runs claimed and not picked up; an index scan of "
                         "claimed rows only (a handful), on every worker",
    "beat.due_retries": "the beat, every minute: failed runs due again and runs stuck running; an index "
                        "scan of those rows only, on every worker",
    "beat.claim": "the beat, every minute: which due runs are claimed already, by their unique key "
                  "(an index probe per township and job due), and the new claims inserted (one row per "
                  "township and job a day)",
    "outbox.drain": "the job outbox's relay: rows waiting to be published (a handful; deleted when sent)",
    "notifications.due": "delivery: notifications due to be sent across townships, a batch at a time",
    "county.placement": "onboarding a township: the bytes of Jifen's shards on each worker (citus_shards), "
                        "once per new township",
    "metrics.gauges": "/metrics: a few counts across townships, once per scrape (every 30 s or so)",
}


class UnlistedFanOut(RuntimeError):
    """A statement of Jifen's ran on every shard without being on `ALLOWED`."""


def fan_out(name: str) -> dict:
    """Execution options for a statement that reads across townships on purpose: the tenant guard's
    `all_tenants` and the name the watch checks against `ALLOWED`."""
    if name not in ALLOWED:
        raise KeyError(f"{name!r} is not in citus.fan_out.ALLOWED: add it there, with why and what bounds it")
    return {"all_tenants": True, "fan_out": name}


class _Running:
    """What a connection is executing: the statement, its fan-out name, and a report pending."""

    __slots__ = ("statement", "name", "unlisted")

    def __init__(self):
        self.statement, self.name, self.unlisted = None, None, None


_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # .../jifen
_HERE = os.path.dirname(os.path.abspath(__file__))


def _jifen_caller() -> str | None:
    """The innermost frame of Jifen's own code (not this package) on the stack, as file:line."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(_PACKAGE) and not frame.filename.startswith(_HERE):
            return f"{os.path.relpath(frame.filename, os.path.dirname(_PACKAGE))}:{frame.lineno} {frame.name}"
    return None


def _noticed(running: _Running, diagnostic) -> None:
    if diagnostic.message_primary != NOTICE or running.name in ALLOWED:
        return
    caller = _jifen_caller()
    if caller is not None:
        running.unlisted = (caller, (running.statement or "").strip())


def watch(engine, mode: str) -> None:
    """Watch every connection of `engine` (a Citus coordinator's) for statements fanning out."""

    @event.listens_for(engine, "connect")
    def _ask(dbapi_connection, record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET citus.multi_task_query_log_level TO notice")
        dbapi_connection.commit()
        running = record.info["citus_fan_out"] = _Running()
        dbapi_connection.add_notice_handler(lambda d: _noticed(running, d))

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany) -> None:
        running = conn.info.get("citus_fan_out")
        if running is not None:
            running.statement, running.unlisted = statement, None
            running.name = context.execution_options.get("fan_out") if context is not None else None

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany) -> None:
        running = conn.info.get("citus_fan_out")
        if running is None or running.unlisted is None:
            return
        caller, sql = running.unlisted
        running.unlisted = None
        message = f"statement fans out across townships and is not in citus.fan_out.ALLOWED ({caller}): {sql[:300]}"
        if mode == "raise":
            raise UnlistedFanOut(message)
        log.warning(message)


def init_app(app) -> None:
    """On a Citus deployment, watch the app's database connections."""
    if app.config["CITUS"]:
        from jifen.platform.db import db

        with app.app_context():
            watch(db.engine, app.config["CITUS_FAN_OUT"])
