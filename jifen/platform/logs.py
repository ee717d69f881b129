"""Logging: one line per event, JSON in production and readable text in development, and on every
line of a request its request id, on every line of a job its job-run id.

* `configure(app)` puts one handler on the root logger (stderr) with the chosen format and level
  (`LOG_FORMAT`: json | text, default json in production; `LOG_LEVEL`, default INFO), so the app's
  own INFO lines are kept: Flask's `app.logger` has no level of its own and inherited the root's
  WARNING, which is how "the web logger drops INFO" happened.
* The ids come from where they live, at the moment a record is made (a log-record factory), so
  every handler sees them, gunicorn's, Celery's and pytest's included: `request_id` from the
  request (`g.request_id`, set first thing by the web pipeline), `job`/`task_id` from the Celery
  task being run (its name and request id, in force from Celery's first line about the run to its
  last: the "succeeded" or "raised unexpected" line with the traceback is written after the task's
  own code returned), `job_run_id` from `bind()`, which the daily-job runner enters once it has
  claimed its run; inside a task what `bind()` adds stays on the task's lines to its end, so the
  failure's traceback line names the run too.
* gunicorn's own lines (its error log: "Booting worker", "WORKER TIMEOUT"; its access log) go
  through the same formatters: `deploy/gunicorn.conf.py` gives gunicorn `gunicorn_logconfig(...)`
  as its `logconfig_dict`, so a production web writes nothing but JSON lines.
* Python's warnings are logged (`py.warnings`) rather than printed, for the same reason.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from celery import current_task
from flask import g, has_request_context
from flask.logging import default_handler

CONTEXT_FIELDS = ("request_id", "job", "task_id", "job_run_id")
_job: ContextVar[tuple] = ContextVar("jifen_log_context", default=())  # ((name, value), ...)
_HANDLER_MARK = "jifen_log_handler"
# attributes every LogRecord has: anything else on a record came from `extra=` and goes in the JSON
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", *CONTEXT_FIELDS}


@contextmanager
def bind(**fields):
    """Add `fields` (e.g. job_run_id=…) to every log line written inside the block and, inside a
    Celery task, to the task's later lines too (Celery's own line on how it ended)."""
    fields = {k: (str(v) if v is not None else None) for k, v in fields.items()}
    task = _running_task()
    if task is not None:
        task.request.jifen_log_ids = getattr(task.request, "jifen_log_ids", {}) | fields
    token = _job.set(tuple((dict(_job.get()) | fields).items()))
    try:
        yield
    finally:
        _job.reset(token)


def _running_task():
    """The Celery task being run here (by a worker, or eagerly), if any."""
    task = current_task._get_current_object()
    return None if task is None or task.request.called_directly else task


def context() -> dict:
    """The ids in force here (request and job), without the empty ones."""
    found = {}
    task = _running_task()
    if task is not None:
        found = {"job": task.name, "task_id": task.request.id} | getattr(task.request, "jifen_log_ids", {})
    found |= dict(_job.get())
    if has_request_context():
        found.setdefault("request_id", g.get("request_id"))
    return {k: v for k, v in found.items() if v}


def _install_record_factory() -> None:
    old = logging.getLogRecordFactory()
    if getattr(old, "jifen", False):
        return

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        ids = context()
        for name in CONTEXT_FIELDS:
            setattr(record, name, ids.get(name))
        return record

    factory.jifen = True
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the ids, any
    `extra=` fields, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Development: `12:00:01 INFO jifen [rid=… run=…] message`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{short}={getattr(record, name)}" for name, short in
                       (("request_id", "rid"), ("job", "job"), ("job_run_id", "run"))
                       if getattr(record, name, None))
        record.ids = f" [{ids}]" if ids else ""
        return super().format(record)


def formatter_for(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def format_from_environment(environ=None) -> str:
    """The log format a process started from this environment uses, as `config` decides it for the
    app: JIFEN_LOG_FORMAT, else json when JIFEN_ENV=production, else text (for gunicorn's master,
    which has no app config)."""
    environ = os.environ if environ is None else environ
    fmt = environ.get("JIFEN_LOG_FORMAT", "").strip().lower()
    if fmt:
        return fmt
    return "json" if environ.get("JIFEN_ENV", "").strip() == "production" else "text"


def gunicorn_logconfig(loglevel: str = "info", accesslog: str | None = "-", environ=None) -> dict:
    """gunicorn's `logconfig_dict`: its error log (stderr) and access log (stdout, a file, or none)
    written by our formatter (`formatter_for`, so JSON in production). Neither propagates to the root
    logger, where a worker's app puts its own handler (lines would be written twice); the root gets
    no handler from gunicorn (its default would print the app's lines a second time, unformatted)."""
    access_handlers = []
    handlers = {"jifen_error": {"class": "logging.StreamHandler", "formatter": "jifen",
                                "stream": "ext://sys.stderr"}}
    if accesslog == "-":
        handlers["jifen_access"] = {"class": "logging.StreamHandler", "formatter": "jifen",
                                    "stream": "ext://sys.stdout"}
        access_handlers = ["jifen_access"]
    elif accesslog:
        handlers["jifen_access"] = {"class": "logging.FileHandler", "formatter": "jifen",
                                    "filename": accesslog, "encoding": "utf-8"}
        access_handlers = ["jifen_access"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"jifen": {"()": "jifen.platform.logs.formatter_for",
                                 "fmt": format_from_environment(environ)}},
        "handlers": handlers,
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["jifen_error"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if access_handlers else "CRITICAL",
                                "handlers": access_handlers, "propagate": False},
        },
    }


def configure(config) -> None:
    """Install the handler on the root logger (again replaces it: the tests build many apps)."""
    _install_record_factory()
    level = logging.getLevelName(str(config["LOG_LEVEL"]).upper())
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter_for(config["LOG_FORMAT"]))
    root.addHandler(handler)
    root.setLevel(level)
    app_logger = logging.getLogger("jifen")
    app_logger.setLevel(logging.NOTSET)  # the app's logger follows the root
    app_logger.removeHandler(default_handler)  # Flask's own: lines would be written twice
    logging.captureWarnings(True)  # a warning is a log line too, not a bare line on stderr
