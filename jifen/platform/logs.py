"""Logging: one line per event, JSON in production and readable text in development, and on every
line of a request its request id, on every line of a job its job-run id.

* `configure(app)` puts one handler on the root logger (stderr) with the chosen format and level
  (`LOG_FORMAT`: json | text, default json in production; `LOG_LEVEL`, default INFO), so the app's
  own INFO lines are kept: Flask's `app.logger` has no level of its own and inherited the root's
  WARNING, which is how "the web logger drops INFO" happened.
* The ids come from where they live, at the moment a record is made (a log-record factory), so
  every handler sees them, gunicorn's, Celery's and pytest's included: `request_id` from the
  request (`g.request_id`, set first thing by the web pipeline), `job`/`task_id`/`job_run_id` from
  `bind()`, which the Celery task wrapper and the daily-job runner enter around a job's body.
"""
from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from flask import g, has_request_context
from flask.logging import default_handler

CONTEXT_FIELDS = ("request_id", "job", "task_id", "job_run_id")
_job: ContextVar[tuple] = ContextVar("jifen_log_context", default=())  # ((name, value), ...)
_HANDLER_MARK = "jifen_log_handler"
# attributes every LogRecord has: anything else on a record came from `extra=` and goes in the JSON
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", *CONTEXT_FIELDS}


@contextmanager
def bind(**fields):
    """Add `fields` (e.g. job_run_id=…) to every log line written inside the block."""
    merged = dict(_job.get()) | {k: (str(v) if v is not None else None) for k, v in fields.items()}
    token = _job.set(tuple(merged.items()))
    try:
        yield
    finally:
        _job.reset(token)


def context() -> dict:
    """The ids in force here (request and job), without the empty ones."""
    found = dict(_job.get())
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
