"""Applications, their judging, public notices, objections, and the points ledger.

The state an application is in, and how it gets from one to the next, is decided in
`workflow.py` only; these classes hold the data.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform.db import TenantScoped, db, tenant_fk, utcnow

# where an application came from
SELF, PROXY, STAFF, ACTIVITY = "self", "proxy", "staff", "activity"
ORIGINS = (SELF, PROXY, STAFF, ACTIVITY)


class PointsSettings(TenantScoped, db.Model):
    """The township's settings for judging points: how many panel members must approve, and how
    many days a public notice stays up."""

    __tablename__ = "points_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("quorum BETWEEN 1 AND 9", name="quorum"),
        CheckConstraint("notice_days BETWEEN 1 AND 30", name="notice_days"),
    )
    quorum: Mapped[int] = mapped_column(default=2)
    notice_days: Mapped[int] = mapped_column(default=5)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Batch(TenantScoped, db.Model):
    """A staff batch sheet: one rule item scored for many households at once (e.g. the monthly
    sanitation inspection of a micro grid)."""

    __tablename__ = "point_batches"
    __table_args__ = (tenant_fk(["village_id"], "villages"), tenant_fk(["grid_node_id"], "grid_nodes"),
                      tenant_fk(["item_id"], "rule_items"))
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    grid_node_id: Mapped[uuid.UUID | None]
    item_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(String(200))
    occurred_on: Mapped[date]
    row_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Application(TenantScoped, db.Model):
    """积分申请: a claim (or a staff record) of `points` on one rule item for one household.

    `points` is signed (awards > 0, deductions < 0) and is what the application currently asks
    for; verification may adjust it within the item's range. The rule item is the one in force in
    the village on `occurred_on`, so a late application is judged by the rules of its day.
    """

    __tablename__ = "applications"
    __table_args__ = (
        tenant_fk(["household_id"], "households"),
        tenant_fk(["village_id"], "villages"),
        tenant_fk(["item_id"], "rule_items"),
        tenant_fk(["version_id"], "rulebook_versions"),
        tenant_fk(["notice_id"], "notices"),
        tenant_fk(["batch_id"], "point_batches"),
        tenant_fk(["activity_id"], "activities"),
        CheckConstraint("points <> 0", name="points_nonzero"),
        Index("ix_applications_tenant_state_village", "tenant_id", "state", "village_id"),
        Index("ix_applications_tenant_household", "tenant_id", "household_id", "created_at"),
        Index("ix_applications_tenant_notice", "tenant_id", "notice_id"),
        # an activity attendance turns into one application, however often it is marked
        Index("uq_applications_activity_household", "tenant_id", "activity_id", "household_id", unique=True,
              sqlite_where=text("activity_id IS NOT NULL"), postgresql_where=text("activity_id IS NOT NULL")),
    )
    household_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID]
    item_id: Mapped[uuid.UUID]
    item_code: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[uuid.UUID]
    points: Mapped[int]
    occurred_on: Mapped[date]
    description: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[uuid.UUID | None]
    submitted_by_name: Mapped[str] = mapped_column(String(100), default="")
    confirmed_at: Mapped[datetime | None]  # a proxy application the household has confirmed
    batch_id: Mapped[uuid.UUID | None]
    activity_id: Mapped[uuid.UUID | None]
    verified_by: Mapped[uuid.UUID | None]
    verified_by_name: Mapped[str] = mapped_column(String(100), default="")
    verified_at: Mapped[datetime | None]
    certified_by_names: Mapped[str] = mapped_column(String(300), default="")  # who approved, for the ledger
    certified_at: Mapped[datetime | None]
    notice_id: Mapped[uuid.UUID | None]
    posted_points: Mapped[int | None]  # what reached the ledger after the cap
    capped_points: Mapped[int | None]  # what the cap held back (reported, not dropped silently)
    posted_at: Mapped[datetime | None]
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApplicationPhoto(TenantScoped, db.Model):
    """Evidence photos of an application (stored files)."""

    __tablename__ = "application_photos"
    __table_args__ = (tenant_fk(["application_id"], "applications"), tenant_fk(["file_id"], "stored_files"))
    application_id: Mapped[uuid.UUID] = mapped_column(index=True)
    file_id: Mapped[uuid.UUID]
    sort_order: Mapped[int] = mapped_column(default=0)


class ApplicationStep(TenantScoped, db.Model):
    """One step in an application's history: who did what, from which state to which, and why.
    Pages show it; the audit log holds the same fact in its hash chain."""

    __tablename__ = "application_steps"
    __table_args__ = (tenant_fk(["application_id"], "applications"),
                      Index("ix_application_steps_tenant_app", "tenant_id", "application_id", "created_at"))
    application_id: Mapped[uuid.UUID]
    step: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    points: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CertificationVote(TenantScoped, db.Model):
    """A panel member's decision on a verified application; one per member."""

    __tablename__ = "certification_votes"
    __table_args__ = (UniqueConstraint("tenant_id", "application_id", "member_id"),
                      tenant_fk(["application_id"], "applications"),
                      CheckConstraint("decision in ('approve', 'reject')", name="decision"))
    application_id: Mapped[uuid.UUID] = mapped_column(index=True)
    member_id: Mapped[uuid.UUID]
    member_name: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notice(TenantScoped, db.Model):
    """公示: a village's certified items, public from `opens_on` to `closes_on` (inclusive).

    `public_token` makes the public page's link unguessable; anyone holding it may read."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("tenant_id", "village_id", "number"), UniqueConstraint("tenant_id", "public_token"),
                      tenant_fk(["village_id"], "villages"),
                      CheckConstraint("closes_on >= opens_on", name="period"))
    OPEN, CLOSED = "open", "closed"
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    number: Mapped[int]  # 1, 2, 3 … per village
    opens_on: Mapped[date]
    closes_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    public_token: Mapped[str] = mapped_column(String(32))
    item_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class Objection(TenantScoped, db.Model):
    """异议: a villager of the village contests one notice item; the panel upholds or dismisses."""

    __tablename__ = "objections"
    __table_args__ = (tenant_fk(["application_id"], "applications"), tenant_fk(["notice_id"], "notices"),
                      tenant_fk(["household_id"], "households"),
                      CheckConstraint("status in ('open', 'upheld', 'dismissed')", name="status"))
    OPEN, UPHELD, DISMISSED = "open", "upheld", "dismissed"
    application_id: Mapped[uuid.UUID] = mapped_column(index=True)
    notice_id: Mapped[uuid.UUID] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID | None]  # the objector's household
    objector_id: Mapped[uuid.UUID | None]
    objector_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    decided_by: Mapped[uuid.UUID | None]
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


# --- the ledger --------------------------------------------------------------------------------

# what a ledger transaction comes from (unique per tenant with its source id)
APPLICATION_SOURCE, CORRECTION, REDEMPTION, PERIOD_CLOSE = "application", "correction", "redemption", "period_close"
SOURCES = (APPLICATION_SOURCE, "activity", CORRECTION, REDEMPTION, PERIOD_CLOSE)
# accounts: each household's, and the township's system accounts on the other side
HOUSEHOLD, ISSUED, DEDUCTED, REDEEMED, RESERVED, EXPIRED = (
    "household", "issued", "deducted", "redeemed", "reserved", "expired")
ACCOUNTS = (HOUSEHOLD, ISSUED, DEDUCTED, REDEEMED, RESERVED, EXPIRED)


class LedgerTransaction(TenantScoped, db.Model):
    """One event in the ledger (积分流水): an application posted, a correction, a spend.

    Append-only: rows are never updated or deleted. `points` is the change to the household's
    earned points for the period; the postings carry the double-entry detail."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source_kind", "source_id"),  # nothing posts twice
        tenant_fk(["household_id"], "households"),
        tenant_fk(["item_id"], "rule_items"),
        tenant_fk(["version_id"], "rulebook_versions"),
        tenant_fk(["reverses_id"], "ledger_transactions"),
        Index("ix_ledger_transactions_tenant_household", "tenant_id", "household_id", "period", "created_at"),
        Index("ix_ledger_transactions_tenant_item", "tenant_id", "household_id", "item_code", "occurred_on"),
    )
    source_kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID]
    period: Mapped[int]  # the calendar year
    points: Mapped[int]  # change to earned points
    item_id: Mapped[uuid.UUID | None]
    item_code: Mapped[str | None] = mapped_column(String(32))
    version_id: Mapped[uuid.UUID | None]  # the rulebook version applied
    occurred_on: Mapped[date]
    memo: Mapped[str] = mapped_column(String(300), default="")  # what happened, as the passbook prints it
    certified_by: Mapped[str] = mapped_column(String(300), default="")
    reverses_id: Mapped[uuid.UUID | None]  # a correction points at the transaction it corrects
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerPosting(TenantScoped, db.Model):
    """One leg of a transaction. The `available` legs of a transaction sum to zero over accounts;
    `earned` moves only on the household's leg (spending does not lower it)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        tenant_fk(["transaction_id"], "ledger_transactions"),
        tenant_fk(["household_id"], "households"),
        CheckConstraint("(account = 'household') = (household_id IS NOT NULL)", name="household_account"),
        CheckConstraint("account = 'household' OR earned = 0", name="earned_on_household"),
        Index("ix_ledger_postings_tenant_household", "tenant_id", "household_id", "period"),
        Index("ix_ledger_postings_tenant_transaction", "tenant_id", "transaction_id"),
    )
    transaction_id: Mapped[uuid.UUID]
    account: Mapped[str] = mapped_column(String(16))
    household_id: Mapped[uuid.UUID | None]
    period: Mapped[int]
    available: Mapped[int]
    earned: Mapped[int] = mapped_column(default=0)


class HouseholdBalance(TenantScoped, db.Model):
    """Cached balances of a household for a period, updated in the same transaction as the postings
    they sum; `jifen points check-balances` recomputes them from the postings."""

    __tablename__ = "household_balances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "household_id", "period"),
        tenant_fk(["household_id"], "households"),
        CheckConstraint("available >= 0", name="available_not_negative"),
    )
    household_id: Mapped[uuid.UUID]
    period: Mapped[int]
    earned: Mapped[int] = mapped_column(default=0)
    available: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
