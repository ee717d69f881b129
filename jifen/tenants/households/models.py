"""Households, residents, tags and the history of splits and merges."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock, sealed
from jifen.platform.db import TenantScoped, db, tenant_fk

ACTIVE, MOVED_OUT, MERGED, DISSOLVED = "active", "moved_out", "merged", "dissolved"
STATUSES = (ACTIVE, MOVED_OUT, MERGED, DISSOLVED)


class Household(TenantScoped, db.Model):
    """户: the unit that holds points. It sits on one micro grid node of its village.

    `head_name` and its pinyin are copied from the head resident so that lists sort and search
    by the head without a join; the service keeps them in step.
    """

    __tablename__ = "households"
    __table_args__ = (
        tenant_fk(["village_id"], "villages"),
        tenant_fk(["grid_node_id"], "grid_nodes"),
        tenant_fk(["merged_into_id"], "households"),
        # one active household per door plate in a village (moved-out, merged, dissolved keep theirs)
        Index("uq_households_active_door_plate", "tenant_id", "village_id", "door_plate", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_households_tenant_head_pinyin", "tenant_id", "head_pinyin"),
    )
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    grid_node_id: Mapped[uuid.UUID] = mapped_column(index=True)
    door_plate: Mapped[str] = mapped_column(String(100))
    head_name: Mapped[str] = mapped_column(String(64), default="")
    head_pinyin: Mapped[str] = mapped_column(String(200), default="")
    head_initials: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    merged_into_id: Mapped[uuid.UUID | None]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


RELATIONS = ("head", "spouse", "child", "child_in_law", "grandchild", "parent", "grandparent", "sibling", "other")


class Resident(TenantScoped, db.Model):
    """A member of a household. `id_number` (身份证号) is masked everywhere except for admins
    allowed to see it (`household.view_id_numbers`), and stored sealed (platform/sealed.py):
    `id_number_sealed` encrypted with the configured key, `id_number_hmac` its keyed hash, which the
    unique index and look-ups compare. The `id_number` attribute reads and writes both."""

    __tablename__ = "residents"
    __table_args__ = (
        tenant_fk(["household_id"], "households"),
        Index("uq_residents_id_number_hmac", "tenant_id", "id_number_hmac", unique=True,
              sqlite_where=text("id_number_hmac IS NOT NULL AND left_on IS NULL"),
              postgresql_where=text("id_number_hmac IS NOT NULL AND left_on IS NULL")),
        Index("ix_residents_tenant_name_pinyin", "tenant_id", "name_pinyin"),
        Index("ix_residents_tenant_name_initials", "tenant_id", "name_initials"),
    )
    household_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_pinyin: Mapped[str] = mapped_column(String(200))  # "zhangsanwei"
    name_initials: Mapped[str] = mapped_column(String(64))  # "zsw"
    relation: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20))
    id_number_sealed: Mapped[str | None] = mapped_column(Text)
    id_number_hmac: Mapped[str | None] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(default=0)
    left_on: Mapped[date | None]  # moved to another household (split/merge) or left; history is kept
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def id_number(self) -> str | None:
        """The plain number, decrypted once per stored token (kept on the instance, never stored)."""
        token = self.id_number_sealed
        cached = self.__dict__.get("_id_number_plain")
        if cached is None or cached[0] != token:
            cached = (token, sealed.unseal(token))
            self.__dict__["_id_number_plain"] = cached
        return cached[1]

    @id_number.setter
    def id_number(self, value: str | None) -> None:
        self.id_number_sealed, self.id_number_hmac = sealed.seal(value), sealed.blind(value)
        self.__dict__["_id_number_plain"] = (self.id_number_sealed, value or None)


def sealed_id_columns(number: str | None) -> dict:
    """The stored columns for an ID number, for bulk inserts and updates (the roster import)."""
    return {"id_number_sealed": sealed.seal(number), "id_number_hmac": sealed.blind(number)}


class CustomTag(TenantScoped, db.Model):
    """A tag a township adds to the built-in ones (党员户, 脱贫户, 监测户, 低保户, 五保户, 军属)."""

    __tablename__ = "custom_tags"
    __table_args__ = (UniqueConstraint("tenant_id", "code"), UniqueConstraint("tenant_id", "name_zh"))
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class HouseholdTag(TenantScoped, db.Model):
    __tablename__ = "household_tags"
    __table_args__ = (UniqueConstraint("tenant_id", "household_id", "tag"),
                      tenant_fk(["household_id"], "households", ondelete="CASCADE"),
                      Index("ix_household_tags_tenant_tag", "tenant_id", "tag"))
    household_id: Mapped[uuid.UUID]
    tag: Mapped[str] = mapped_column(String(32))  # a built-in code or a CustomTag.code


class HouseholdEvent(TenantScoped, db.Model):
    """History of a household: created, split (from / into), merged (from / into), status changes.

    A split or merge writes one event on each side, each naming the other household, so either
    side's history shows what happened and who moved.
    """

    __tablename__ = "household_events"
    __table_args__ = (tenant_fk(["household_id"], "households"), tenant_fk(["other_household_id"], "households"))
    household_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(24))  # created|split_off|split_from|merged_into|merged_from|status
    other_household_id: Mapped[uuid.UUID | None]
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    happened_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RosterImport(TenantScoped, db.Model):
    """One uploaded roster (花名册): previewed with its errors, then imported by a job (roster_job),
    household by household, its progress in `rows_done` of `row_count`."""

    __tablename__ = "roster_imports"
    __table_args__ = (tenant_fk(["file_id"], "stored_files"), tenant_fk(["village_id"], "villages"))
    file_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID | None]  # None: the sheet names each row's village
    status: Mapped[str] = mapped_column(String(16))  # previewed | invalid | importing | failed | imported
    row_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list)  # [{"row": 5, "column": "门牌号", "message": ...}]
    summary: Mapped[dict] = mapped_column(JSON, default=dict)  # created / updated / unchanged counts
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    imported_at: Mapped[datetime | None]
    # the sheet as read on upload, JSON sealed like ID numbers (it is full of them): roster._staged
    rows_sealed: Mapped[str | None] = mapped_column(Text, deferred=True)
    rows_done: Mapped[int] = mapped_column(default=0, server_default="0")  # sheet rows written (or found unchanged)
    confirmed_by: Mapped[uuid.UUID | None]  # whose confirm the job imports as
    progress_at: Mapped[datetime | None]  # the job's last step (a stalled import offers "resume")
    failure: Mapped[str | None] = mapped_column(String(2000))  # why the job stopped
