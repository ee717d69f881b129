from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db


class JobRun(TenantScoped, db.Model):
    """One (tenant, job, local date). The unique key is what makes a daily job run at most once."""

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


class OutboxJob(TenantScoped, db.Model):
    """A job published by a request, written in the request's own transaction (see `outbox`). A row
    lives from the commit until the broker has taken its message; then it is deleted."""

    __tablename__ = "job_outbox"
    task: Mapped[str] = mapped_column(String(128))
    kwargs: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
