"""An activity tied to a rule item, the households that signed up, and who attended."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk


class Activity(TenantScoped, db.Model):
    """Attendance earns the points of `item_code` as the village's rules of `held_on` give them.

    `checkin_code` is the short code staff read out or post at the site; attendees enter it on
    their phone while the activity is open for check-in."""

    __tablename__ = "activities"
    __table_args__ = (tenant_fk(["village_id"], "villages"),
                      Index("ix_activities_tenant_village_held", "tenant_id", "village_id", "held_on"))
    OPEN, CLOSED = "open", "closed"
    village_id: Mapped[uuid.UUID]
    item_code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    held_on: Mapped[date]
    checkin_code: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)  # closed: no more sign-up or check-in
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ActivitySignup(TenantScoped, db.Model):
    __tablename__ = "activity_signups"
    __table_args__ = (UniqueConstraint("tenant_id", "activity_id", "household_id"),
                      tenant_fk(["activity_id"], "activities"), tenant_fk(["household_id"], "households"))
    activity_id: Mapped[uuid.UUID] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID]
    signed_up_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Attendance(TenantScoped, db.Model):
    """A household attended; `checked_in` when the attendee entered the code themselves (their
    application then waits for verification), otherwise staff marked it."""

    __tablename__ = "activity_attendance"
    __table_args__ = (UniqueConstraint("tenant_id", "activity_id", "household_id"),
                      tenant_fk(["activity_id"], "activities"), tenant_fk(["household_id"], "households"),
                      tenant_fk(["application_id"], "applications"),
                      Index("ix_activity_attendance_device", "tenant_id", "device_hash",
                            sqlite_where=text("device_hash IS NOT NULL"),
                            postgresql_where=text("device_hash IS NOT NULL")))
    activity_id: Mapped[uuid.UUID] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID]
    checked_in: Mapped[bool] = mapped_column(default=False)
    marked_by: Mapped[uuid.UUID | None]
    marked_by_name: Mapped[str] = mapped_column(String(100), default="")
    application_id: Mapped[uuid.UUID | None]
    # a self check-in: the SHA-256 of the phone's long-lived device cookie (integrity/devices.py),
    # so many households checked in from one phone can be noticed; never the cookie itself
    device_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
