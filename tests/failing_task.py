"""A daily-job task that always fails, for a real worker to load (`celery worker --include
tests.failing_task`): how a failed job's lines look where operators read them (test_observability)."""
from __future__ import annotations

import logging

from celery import shared_task

from jifen.platform.jobs.runner import run_daily

NAME = "tests.failing_job"


def _body(tenant, day):
    logging.getLogger("jifen").warning("about to fail")
    raise RuntimeError("the job broke")


@shared_task(name=NAME)
def failing_job(tenant_id, local_date):
    return run_daily(NAME, tenant_id, local_date, _body)
