from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db


class AuditEntry(TenantScoped, db.Model):
    """One change. `entry_hash` = sha256(prev_hash + canonical body), per tenant chain."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The tip of a tenant's chain, locked FOR UPDATE while appending so seq never forks."""

    __tablename__ = "audit_heads"
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))
