"""A job run of township beta, for the `run_id` of the job-runs page and API."""
from __future__ import annotations

from datetime import date


def objects(found: dict) -> dict:
    from jifen.platform.jobs.models import JobRun

    run = found["add"](JobRun(job="jifen.purge_expired_credentials", local_date=date(2026, 1, 1), status="done",
                              attempts=1, result={"removed": 0, "rows": 0}))
    return {"run_id": run.id}
