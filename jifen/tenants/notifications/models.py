from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform.db import TenantScoped, db, tenant_fk, utcnow


class Notification(TenantScoped, db.Model):
    """One message to a household. The text is rendered when shown, from `kind` and `params`, in
    the reader's language. `dedupe_key` makes writing the same event twice write one row."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("tenant_id", "dedupe_key"), tenant_fk(["household_id"], "households"),
                      Index("ix_notifications_tenant_household", "tenant_id", "household_id", "created_at"))
    PENDING = "pending"
    household_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(300), default="")  # path inside the tenant, e.g. applications/<id>
    dedupe_key: Mapped[str] = mapped_column(String(120))
    delivery: Mapped[str] = mapped_column(String(16), default=PENDING)  # for the channel workers (issue 5)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
