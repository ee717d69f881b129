"""Dividends (积分分红): pools, their settlement runs, the chunks a run is computed in, and payouts.

A pool is what a township or village sets up (amount, source, period, eligibility, formula). Each
simulation of a pool is a run; the run's chunks (household id ranges) are computed by workers and
tracked here, so a run survives a killed worker (`settlement.py`). Amounts are integer fen.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

# run states (the machine is in settlement.py)
COMPUTING, SIMULATED, FAILED, SUPERSEDED = "computing", "simulated", "failed", "superseded"
APPROVED, PUBLISHED, PAID = "approved", "published", "paid"
RUN_STATES = (COMPUTING, SIMULATED, FAILED, SUPERSEDED, APPROVED, PUBLISHED, PAID)
SETTLED = (APPROVED, PUBLISHED, PAID)  # amounts frozen: at most one such run per pool
PENDING, DONE = "pending", "done"


class DividendPool(TenantScoped, db.Model):
    """A money pool to split among the eligible households of a village (or, with no village, of
    the whole township) by their earned points of `period`.

    Formula: `base_percent` of the pool is shared equally by the eligible households, the rest in
    proportion to their earned points. Eligible: an active household of the pool's village or
    township with earned points of at least `min_points`, and no standing deduction of any item
    code in `veto_codes` in the period (一票否决)."""

    __tablename__ = "dividend_pools"
    __table_args__ = (
        tenant_fk(["village_id"], "villages"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("base_percent BETWEEN 0 AND 100", name="base_percent"),
        CheckConstraint("min_points >= 0", name="min_points"),
        Index("ix_dividend_pools_tenant_period", "tenant_id", "period"),
    )
    village_id: Mapped[uuid.UUID | None]  # None: a township pool
    title: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))  # one of store.models.FUNDING_SOURCES
    period: Mapped[int]  # the year whose earned points count
    min_points: Mapped[int] = mapped_column(default=0)
    veto_codes: Mapped[list] = mapped_column(JSON, default=list)
    base_percent: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None]
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class DividendRun(TenantScoped, db.Model):
    """One settlement run of a pool: simulate (computing → simulated) → approved → published (the
    public notice) → paid. A new simulation before approval supersedes the previous run (its
    payouts are deleted); once a run is approved its amounts are frozen. The pool's parameters are
    copied here when the simulation starts, with what the plan found (eligible households `households`,
    their earned points `earned_total`) and the formula's integer constants (`allocation.Formula`)."""

    __tablename__ = "dividend_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "pool_id", "number"),
        UniqueConstraint("tenant_id", "notice_token"),
        tenant_fk(["pool_id"], "dividend_pools"),
        tenant_fk(["village_id"], "villages"),
        # nothing is paid twice: one approved (then published, then paid) run per pool
        Index("uq_dividend_runs_settled_pool", "tenant_id", "pool_id", unique=True,
              sqlite_where=text("state IN ('approved', 'published', 'paid')"),
              postgresql_where=text("state IN ('approved', 'published', 'paid')")),
        CheckConstraint("state IN ('computing', 'simulated', 'failed', 'superseded', 'approved', 'published', "
                        "'paid')", name="state"),
        CheckConstraint("state <> 'paid' OR (paid_at IS NOT NULL AND payment_reference <> '')", name="paid"),
    )
    pool_id: Mapped[uuid.UUID]  # looked up through the unique (tenant_id, pool_id, number)
    number: Mapped[int]  # 1, 2, … per pool
    state: Mapped[str] = mapped_column(String(16), default=COMPUTING)
    # the pool as simulated
    village_id: Mapped[uuid.UUID | None]
    period: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    base_percent: Mapped[int]
    min_points: Mapped[int]
    veto_codes: Mapped[list] = mapped_column(JSON, default=list)
    # the plan
    households: Mapped[int] = mapped_column(default=0)  # eligible households
    earned_total: Mapped[int] = mapped_column(BigInteger, default=0)  # their earned points
    equal_weights: Mapped[bool] = mapped_column(default=False)  # nobody earned points: all weigh 1
    chunk_size: Mapped[int] = mapped_column(default=0)
    chunks_total: Mapped[int] = mapped_column(default=0)
    # the largest-remainder cut-off (allocation.Cutoff): the last household to get a leftover fen,
    # found by the plan; every chunk writes final amounts against it. All None: no fen left over.
    bonus_remainder: Mapped[Decimal | None] = mapped_column(Numeric(40, 0))
    bonus_earned: Mapped[int | None] = mapped_column(BigInteger)
    bonus_household_id: Mapped[uuid.UUID | None]
    # the result (when simulated)
    total_fen: Mapped[int | None] = mapped_column(BigInteger)
    min_fen: Mapped[int | None] = mapped_column(BigInteger)
    max_fen: Mapped[int | None] = mapped_column(BigInteger)
    leftover_fen: Mapped[int | None] = mapped_column(BigInteger)  # fen given by largest remainder (+1 each)
    error: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[uuid.UUID | None]
    started_by_name: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    computed_at: Mapped[datetime | None]
    approved_by: Mapped[uuid.UUID | None]
    approved_by_name: Mapped[str] = mapped_column(String(100), default="")
    approved_at: Mapped[datetime | None]
    # the public notice of the dividend list
    notice_token: Mapped[str | None] = mapped_column(String(32))
    notice_opens_on: Mapped[date | None]
    notice_closes_on: Mapped[date | None]
    published_by_name: Mapped[str] = mapped_column(String(100), default="")
    published_at: Mapped[datetime | None]
    # payment
    paid_by: Mapped[uuid.UUID | None]
    paid_by_name: Mapped[str] = mapped_column(String(100), default="")
    paid_at: Mapped[datetime | None]
    payment_reference: Mapped[str] = mapped_column(String(100), default="")


class DividendChunk(TenantScoped, db.Model):
    """A range of eligible households (by id, inclusive) of a run, computed in one transaction.

    `households` and `earned` are what the plan counted in the range; the chunk checks it finds the
    same when it writes its payouts. `claimed_at`/`attempts` are written in their own transaction
    before the work, so a chunk whose worker died shows as claimed and pending."""

    __tablename__ = "dividend_chunks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "run_id", "seq"),
        tenant_fk(["run_id"], "dividend_runs"),
        CheckConstraint("state IN ('pending', 'done')", name="state"),
    )
    run_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    first_household_id: Mapped[uuid.UUID]
    last_household_id: Mapped[uuid.UUID]
    households: Mapped[int]
    earned: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    floor_fen: Mapped[int | None] = mapped_column(BigInteger)  # sum of the floor shares written


class DividendPayout(TenantScoped, db.Model):
    """One household's amount in a run: the floor of its exact share, plus 1 fen if its remainder
    was among the largest (`bonus`: at or before the run's cut-off). `remainder` is the numerator
    left over (exact, over the run's denominator), kept for checking."""

    __tablename__ = "dividend_payouts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "run_id", "household_id"),
        tenant_fk(["run_id"], "dividend_runs"),
        tenant_fk(["household_id"], "households"),
        CheckConstraint("amount_fen >= 0", name="amount"),
    )
    run_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID]
    chunk_seq: Mapped[int]
    earned: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    remainder: Mapped[Decimal] = mapped_column(Numeric(40, 0))
    bonus: Mapped[bool] = mapped_column(default=False)
