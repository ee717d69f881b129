from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import db, new_id


class County(db.Model):
    """The platform-level organisation (county operator) that onboards townships."""

    __tablename__ = "counties"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Tenant(db.Model):
    """A township. Everything tenant-owned keys on its id."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("status in ('active', 'suspended')", name="status"),)
    ACTIVE, SUSPENDED = "active", "suspended"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    county_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("counties.id"), index=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default=clock.DEFAULT_ZONE)
    default_locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    status_changed_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(String(200))
    # offboarding: set when an operator offboards the (suspended) township; its rows are deleted
    # after this moment by `townships.offboarding.delete_due` (cleared again if cancelled)
    delete_after: Mapped[datetime | None]
    # the deletion under way, committed with each chunk (offboarding.delete_township): {"started_at",
    # "total" rows when it began, "deleted" so far, "table" being deleted, "rows" per table done,
    # "objects": whether the bucket holds its uploads}; shown on the county console and its API
    deletion: Mapped[dict | None] = mapped_column(JSON)

    @property
    def is_active(self) -> bool:
        return self.status == self.ACTIVE


class CountyRecord(db.Model):
    """A county-level record of what an operator did to a township that must outlive it (its own
    audit chain is deleted with it): offboarding asked, cancelled, exports taken, the deletion and
    its row counts. No foreign key to the township, on purpose."""

    __tablename__ = "county_records"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    county_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("counties.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID]
    tenant_slug: Mapped[str] = mapped_column(String(40))
    tenant_name: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict | None] = mapped_column(JSON)
