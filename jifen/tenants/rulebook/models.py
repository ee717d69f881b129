"""Rulebook versions and items, each village's adoption of a version, and households' signatures."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

DRAFT, ADOPTED, RETIRED = "draft", "adopted", "retired"
AWARD, DEDUCTION = "award", "deduction"
UNITS = ("occurrence", "day", "month")
CAP_PERIODS = ("month", "year")
INITIATORS = ("household", "staff")  # household: self-application allowed; staff: staff only
REVIEWS = ("certification", "verification")  # certification panel, or verification only


class Resolution:
    """The villagers' representative assembly resolution that adopted a version (township or village)."""

    assembly_date: Mapped[date | None]
    attendance: Mapped[int | None]
    votes_for: Mapped[int | None]
    votes_against: Mapped[int | None]
    votes_abstain: Mapped[int | None]
    scan_file_id: Mapped[uuid.UUID | None]
    adopted_on: Mapped[date | None]  # in force from this day (inclusive)
    retired_on: Mapped[date | None]  # in force until the day before
    adopted_by: Mapped[uuid.UUID | None]


class RuleCategory(TenantScoped, db.Model):
    """人居环境, 文明新风, 志愿服务 …: editable per township, shared by all its versions."""

    __tablename__ = "rule_categories"
    __table_args__ = (UniqueConstraint("tenant_id", "name_zh"),)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(default=0)


class RulebookVersion(Resolution, TenantScoped, db.Model):
    """A version of the township rulebook: draft → adopted (read-only) → retired."""

    __tablename__ = "rulebook_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "number"), tenant_fk(["scan_file_id"], "stored_files"),
                      tenant_fk(["based_on_id"], "rulebook_versions"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    based_on_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RuleItem(TenantScoped, db.Model):
    """One line of a version. Points are a magnitude (min ≤ max, both > 0); `direction` gives the
    sign. `code` stays the same for the same rule across versions."""

    __tablename__ = "rule_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "version_id", "code"),
        tenant_fk(["version_id"], "rulebook_versions", ondelete="CASCADE"),
        tenant_fk(["category_id"], "rule_categories"),
        CheckConstraint("points_min > 0 AND points_min <= points_max", name="points_range"),
        CheckConstraint("points_default BETWEEN points_min AND points_max", name="points_default"),
        CheckConstraint("cap_points IS NULL OR cap_points > 0", name="cap_points"),
    )
    version_id: Mapped[uuid.UUID] = mapped_column(index=True)
    category_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(32))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    direction: Mapped[str] = mapped_column(String(16))
    points_min: Mapped[int]
    points_max: Mapped[int]
    points_default: Mapped[int]
    unit: Mapped[str] = mapped_column(String(16), default="occurrence")
    cap_points: Mapped[int | None]  # most points (magnitude) per household per cap period
    cap_period: Mapped[str | None] = mapped_column(String(16))
    evidence_required: Mapped[bool] = mapped_column(default=False)
    initiator: Mapped[str] = mapped_column(String(16), default="household")
    review: Mapped[str] = mapped_column(String(16), default="certification")
    sort_order: Mapped[int] = mapped_column(default=0)


class VillageRulebook(Resolution, TenantScoped, db.Model):
    """A village's adoption of a township version, with its own assembly resolution."""

    __tablename__ = "village_rulebooks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "village_id", "version_id"),
        tenant_fk(["village_id"], "villages"),
        tenant_fk(["version_id"], "rulebook_versions"),
        tenant_fk(["scan_file_id"], "stored_files"),
    )
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class VillageItemSetting(TenantScoped, db.Model):
    """A village's choice for one item: switched off, or its own points within the item's range."""

    __tablename__ = "village_item_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "village_rulebook_id", "item_id"),
        tenant_fk(["village_rulebook_id"], "village_rulebooks", ondelete="CASCADE"),
        tenant_fk(["item_id"], "rule_items"),
    )
    village_rulebook_id: Mapped[uuid.UUID]
    item_id: Mapped[uuid.UUID]
    enabled: Mapped[bool] = mapped_column(default=True)
    points: Mapped[int | None]  # None: the item's default


class CommitmentSignature(TenantScoped, db.Model):
    """全员签约: a household signed its village's rulebook."""

    __tablename__ = "commitment_signatures"
    __table_args__ = (
        UniqueConstraint("tenant_id", "village_rulebook_id", "household_id"),
        tenant_fk(["village_rulebook_id"], "village_rulebooks"),
        tenant_fk(["household_id"], "households"),
        tenant_fk(["scan_file_id"], "stored_files"),
    )
    village_rulebook_id: Mapped[uuid.UUID] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(index=True)
    signed_on: Mapped[date]
    signer_name: Mapped[str] = mapped_column(String(64))
    witness_name: Mapped[str] = mapped_column(String(64), default="")
    scan_file_id: Mapped[uuid.UUID | None]
    recorded_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
