"""Fund coverage: the township's settings, its funding records, and the nightly coverage snapshots.

Money is integer fen everywhere. A funding record is never changed or deleted: a mistake is
reversed by a second record of the opposite amount that points at it (`reverses_id`, at most one
per original), like a ledger correction; a wrong amount is reversed and recorded again.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

BUDGET, DONATION, COLLECTIVE_INCOME = "budget", "donation", "collective_income"
KINDS = (BUDGET, DONATION, COLLECTIVE_INCOME)
DEFAULT_WARN_PCT = 100


class FundSettings(TenantScoped, db.Model):
    """One row per township (none: the defaults). `point_value_fen` null: derived from the catalog
    (see coverage.derived_point_value); `coverage_warn_pct`: a scope whose coverage is below this
    percentage is shown in red and told to the township admins when it falls below."""

    __tablename__ = "fund_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("point_value_fen IS NULL OR point_value_fen > 0", name="point_value_positive"),
        CheckConstraint("coverage_warn_pct BETWEEN 1 AND 1000", name="warn_pct_range"),
    )
    point_value_fen: Mapped[int | None]
    coverage_warn_pct: Mapped[int] = mapped_column(default=DEFAULT_WARN_PCT)
    updated_by_name: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class FundRecord(TenantScoped, db.Model):
    """Money received for the points stores: for one store (and so its village, or the township
    for the township's store) or, with no store, for the township as a whole. Append-only."""

    __tablename__ = "fund_records"
    __table_args__ = (
        tenant_fk(["store_id"], "stores"),
        tenant_fk(["reverses_id"], "fund_records"),
        CheckConstraint("kind IN ('budget', 'donation', 'collective_income')", name="kind"),
        CheckConstraint("(reverses_id IS NULL AND amount_fen > 0) OR (reverses_id IS NOT NULL AND amount_fen < 0)",
                        name="amount_sign"),
        Index("ix_fund_records_tenant_received", "tenant_id", "received_on"),
        # an original is reversed at most once
        Index("uq_fund_records_reverses", "tenant_id", "reverses_id", unique=True,
              sqlite_where=text("reverses_id IS NOT NULL"), postgresql_where=text("reverses_id IS NOT NULL")),
    )
    kind: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int]
    received_on: Mapped[date]
    store_id: Mapped[uuid.UUID | None]
    note: Mapped[str] = mapped_column(Text, default="")
    reverses_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(Text, default="")  # why a reversal was made
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class FundCoverage(TenantScoped, db.Model):
    """One scope's coverage on one night: the township (`village_id` null) or a village with a
    store. Figures in fen (points where named); the ratios are worked out from them when shown.
    `below`: coverage under the threshold of that night; `crossed`: below tonight and not on the
    scope's previous night (the admins were told); rewritten when the night's job runs again."""

    __tablename__ = "fund_coverage"
    __table_args__ = (
        tenant_fk(["village_id"], "villages"),
        Index("uq_fund_coverage_village_day", "tenant_id", "taken_on", "village_id", unique=True,
              sqlite_where=text("village_id IS NOT NULL"), postgresql_where=text("village_id IS NOT NULL")),
        Index("uq_fund_coverage_township_day", "tenant_id", "taken_on", unique=True,
              sqlite_where=text("village_id IS NULL"), postgresql_where=text("village_id IS NULL")),
        Index("ix_fund_coverage_tenant_village", "tenant_id", "village_id", "taken_on"),
    )
    taken_on: Mapped[date]
    village_id: Mapped[uuid.UUID | None]
    point_value_fen: Mapped[int | None]  # null: no value set and none could be derived
    point_value_derived: Mapped[bool] = mapped_column(default=False)
    available_points: Mapped[int] = mapped_column(default=0)  # households' available points, open periods
    reserved_points: Mapped[int] = mapped_column(default=0)  # held by open store orders
    liability_fen: Mapped[int | None]
    received_fen: Mapped[int] = mapped_column(default=0)
    spent_fen: Mapped[int] = mapped_column(default=0)  # restocks: delta x unit cost
    stock_cost_fen: Mapped[int] = mapped_column(default=0)
    redeemed_points: Mapped[int] = mapped_column(default=0)  # over the three months up to taken_on
    monthly_redemption_fen: Mapped[int | None]
    warn_pct: Mapped[int] = mapped_column(default=DEFAULT_WARN_PCT)
    below: Mapped[bool] = mapped_column(default=False)
    crossed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def outstanding_points(self) -> int:
        return self.available_points + self.reserved_points

    @property
    def funds_left_fen(self) -> int:
        return self.received_fen - self.spent_fen

    @property
    def cover_fen(self) -> int:
        """What pays for the points: funds left plus the goods on the shelves at cost."""
        return self.funds_left_fen + self.stock_cost_fen

    @property
    def coverage_pct(self) -> float | None:
        """cover / liability in percent; None when nothing is owed (or no point value)."""
        if not self.liability_fen:
            return None
        return 100.0 * self.cover_fen / self.liability_fen

    @property
    def months_left(self) -> float | None:
        """How many months cover lasts at the last three months' redemption rate; None with no
        redemptions."""
        if not self.monthly_redemption_fen:
            return None
        return max(self.cover_fen, 0) / self.monthly_redemption_fen
