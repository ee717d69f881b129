"""Anchors of the audit chain: where each tenant's verified chain head is written down, out of the
audit tables' reach.

A hash chain proves that no entry was changed or removed *before* its head, but someone who can
write the audit tables can delete the newest entries and move the head back: the shorter chain
still verifies. So each night the chain check (a daily job) verifies the chain and, if it holds,
writes the head's (seq, hash) into its own job record (`job_runs.result["anchor"]`) and the log.
`verify_chain` then demands that the chain still reaches the newest anchor with the same hash.
The log line is the copy that survives even a rewrite of the job records.
"""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.jobs.models import JobRun

CHAIN_CHECK_JOB = "jifen.audit_chain_check"


def newest_anchor() -> dict | None:
    """The current tenant's highest anchored head: {"seq", "hash", "date"}, or None before the
    first nightly check. (One small row per night; all are read, so a rerun of an old date cannot
    hide a newer anchor.)"""
    runs = db.session.execute(
        select(JobRun.local_date, JobRun.result).where(JobRun.job == CHAIN_CHECK_JOB, JobRun.status == JobRun.DONE)
    ).all()
    anchors = [(r["anchor"], day) for day, r in runs if isinstance(r, dict) and isinstance(r.get("anchor"), dict)]
    if not anchors:
        return None
    anchor, day = max(anchors, key=lambda a: a[0]["seq"])
    return {"seq": int(anchor["seq"]), "hash": str(anchor["hash"]), "date": day.isoformat()}
