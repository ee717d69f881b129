"""The cockpit's facts: small tables the nightly job (`facts.py`) writes from the ledger and the
registers, so that dashboards never scan the ledger at request time.

Grains, and why:
* `DayFact`: a day (the day the conduct happened, `occurred_on`, so a late correction lands on the
  day it corrects), a village, a grid node (the household's micro node), a rule item (None for
  store spending and year-end entries): the base, recomputed per (day, village) when it changed;
* `HouseholdMonth`: a household's month, for participation (households with a posted item) and
  the villager's own chart;
* `MonthFact`: the month's sums per scope (township, village, each grid node at every level) and
  rule item, plus the month's participating households on the all-items row (`item_id` None):
  what every dashboard reads, a few hundred rows per scope and year;
* `CoverageFact`: households registered, with a villager account, signed the commitment, and
  active grid workers, per scope, as of each night (month-ends kept for ever, the last 7 nights);
* `PointsHistogram`: earned points per household in a period, in buckets, per scope;
* `FactsState`: how far the facts are built (the newest ledger transaction id counted).

The day facts, household months and month facts are keyed by their grain (`TenantFacts`: no
surrogate id, no per-row key check: a full build writes millions of them). A primary key holds
no NULL, so `NO_ID` stands for "none" in their keys: a flow without a rule item, a household
without a grid node, the township's rows' village, and a month fact's all-flows row's item.

A household's village and grid node are taken as they are when the facts are built: a household
that moves takes its history with it (the dashboards answer "how is this village doing", by the
households it has now).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantFacts, TenantScoped, db

TOWNSHIP, VILLAGE, GRID = "township", "village", "grid"  # scope kinds
NO_ID = uuid.UUID(int=0)  # "none" in a fact's key (see the module docstring)
MEASURES = ("issued", "deducted", "corrected", "redeemed", "expired", "carried", "entries")


class _Measures:
    """Points moved, by what moved them (all >= 0 except `corrected`, which is signed):
    issued/deducted: earned points of posted items (awards / deductions, the full amount);
    corrected: the earned change of corrections; redeemed: points spent in the store;
    expired / carried: available points expired or carried into the next year at period close;
    entries: posted items (applications and attendances)."""

    issued: Mapped[int] = mapped_column(default=0)
    deducted: Mapped[int] = mapped_column(default=0)
    corrected: Mapped[int] = mapped_column(default=0)
    redeemed: Mapped[int] = mapped_column(default=0)
    expired: Mapped[int] = mapped_column(default=0)
    carried: Mapped[int] = mapped_column(default=0)
    entries: Mapped[int] = mapped_column(default=0)


class DayFact(_Measures, TenantFacts, db.Model):
    __tablename__ = "cockpit_day_facts"
    # village before day: a build after a late correction reads one village's month, a range of the key
    village_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    grid_node_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # NO_ID: the household has none
    item_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # NO_ID: store spending, year-end entries


class HouseholdMonth(_Measures, TenantFacts, db.Model):
    __tablename__ = "cockpit_household_months"
    __table_args__ = (Index("ix_cockpit_household_months_tenant_month_village", "tenant_id", "month", "village_id"),)
    household_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)  # the first day of the month
    village_id: Mapped[uuid.UUID]
    grid_node_id: Mapped[uuid.UUID | None]


class MonthFact(_Measures, TenantFacts, db.Model):
    __tablename__ = "cockpit_month_facts"
    __table_args__ = (Index("ix_cockpit_month_facts_tenant_month_village", "tenant_id", "month", "village_id"),)
    scope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the tenant's id for the township
    month: Mapped[date] = mapped_column(primary_key=True)
    village_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the scope's village (NO_ID: the township's)
    item_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # NO_ID: every flow of the scope's month
    scope_kind: Mapped[str] = mapped_column(String(16))
    participants: Mapped[int] = mapped_column(default=0)  # households with an entry (on the NO_ID row)


class CoverageFact(TenantScoped, db.Model):
    __tablename__ = "cockpit_coverage_facts"
    __table_args__ = (Index("ix_cockpit_coverage_facts_tenant_scope", "tenant_id", "scope_id", "day"),
                      Index("ix_cockpit_coverage_facts_tenant_day_kind", "tenant_id", "day", "scope_kind"))
    day: Mapped[date]
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID | None]
    households: Mapped[int] = mapped_column(default=0)  # active households
    with_account: Mapped[int] = mapped_column(default=0)  # of them, with a villager account
    signed: Mapped[int] = mapped_column(default=0)  # of them, signed the village's commitment
    grid_workers: Mapped[int] = mapped_column(default=0)  # grid workers who recorded or verified in 30 days


class PointsHistogram(TenantScoped, db.Model):
    __tablename__ = "cockpit_points_histograms"
    __table_args__ = (Index("ix_cockpit_points_histograms_tenant_scope", "tenant_id", "scope_id", "period"),)
    period: Mapped[int]
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[uuid.UUID]
    bucket: Mapped[int]  # the bucket's lower bound, in points
    width: Mapped[int]
    households: Mapped[int]


class FactsState(TenantScoped, db.Model):
    __tablename__ = "cockpit_facts_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    counted_through: Mapped[uuid.UUID | None]  # the newest ledger transaction id in the facts
    rescan_from: Mapped[uuid.UUID | None]  # the next build reads transactions from this id on
    built_on: Mapped[date | None]  # the local date of the last build (coverage and histogram)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
