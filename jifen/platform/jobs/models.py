from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db


class JobRun(TenantScoped, db.Model):
    """One (tenant, job, local date). The unique key is what makes a daily job run at most once.

    A failed run keeps `next_attempt_at` (the backoff, see schedule.py) while it has attempts left;
    a run that failed for good has none and is told to the admins once (`alerted_at`)."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "job", "local_date"),)
    CLAIMED, RUNNING, DONE, FAILED = "claimed", "running", "done", "failed"
    job: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default=CLAIMED)
    claimed_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(2000))
    next_attempt_at: Mapped[datetime | None]  # a failed run with attempts left is published again then
    alerted_at: Mapped[datetime | None]  # when its final failure or found problem was told to the admins

    @property
    def problems(self) -> int:
        """What a check job found wrong (its result's "problems"); 0 for other jobs."""
        return int((self.result or {}).get("problems") or 0)

    @property
    def gave_up(self) -> bool:
        return self.status == self.FAILED and self.next_attempt_at is None


class OutboxJob(TenantScoped, db.Model):
    """A job published by a request, written in the request's own transaction (see `outbox`). A row
    lives from the commit until the broker has taken its message; then it is deleted."""

    __tablename__ = "job_outbox"
    task: Mapped[str] = mapped_column(String(128))
    kwargs: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
