"""Rankings: dated snapshots of the nightly ranking.

`RankingSnapshot` is one row per township and date (the job's local date): which period it ranks,
how many households, and which earlier snapshot (still kept, same period) its movement is
measured against.

`RankingEntry` is one row per household per snapshot, written by one `INSERT … SELECT … RANK()
OVER (…)` statement (see service.py): the household's scopes at that date (village, the grid node
of each level), its earned points and its rank in each scope. Movement is read by comparing the
rows shown with the same households' rows in the previous snapshot.

The entries table is a derived, rebuildable record written a million rows at a time, so it is
kept lean on purpose (measured in bench/ranking_bench.py):
* its primary key is (tenant_id, taken_on, village_id, rank_village, household_id): no UUID of its
  own to generate in SQL, and the job writes a snapshot in exactly this order (the village window
  is its last), so the key's index grows at its right edge instead of taking a million random
  inserts, and a village's rows lie together on disk: a village's ranking (the page most opened),
  the grid nodes inside a village (filtered within it) and a household's row (in its village) are
  short reads of the key; a grid node spanning villages is read through its villages;
* no other index: every secondary index takes a million random inserts a night (measured: an
  index on (tenant_id, taken_on, rank_township) for the township pages made the job's statement
  1.3-1.6x slower at a million households). The township ranking reads the snapshot's key range
  and keeps the top rows (see bench/README.md for what that costs at a million households);
* no foreign keys: each would be a per-row check on a million inserted rows. The snapshot row
  (which has them) owns its entries; the job deletes entries explicitly with their snapshot.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db

# the scopes a household is ranked in; the entry's columns are rank_<scope>
SCOPES = ("village", "grid1", "grid2", "grid3", "grid4", "township")


class RankingSnapshot(TenantScoped, db.Model):
    __tablename__ = "ranking_snapshots"
    __table_args__ = (UniqueConstraint("tenant_id", "taken_on"),
                      Index("ix_ranking_snapshots_tenant_period", "tenant_id", "period", "taken_on"))
    taken_on: Mapped[date]  # the job's local date
    period: Mapped[int]  # the points period ranked (the year of taken_on)
    previous_on: Mapped[date | None]  # the snapshot movement is measured against (kept, same period), if any
    households: Mapped[int] = mapped_column(default=0)  # active households ranked
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RankingEntry(TenantScoped, db.Model):
    __tablename__ = "ranking_entries"
    # the key: no FK to tenants (a per-row check on every inserted row; the snapshot row has it)
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-20)
    id = None  # no id of its own: the key is (tenant_id, taken_on, village_id, rank_village, household_id)
    taken_on: Mapped[date] = mapped_column(primary_key=True, sort_order=-15)
    village_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-14)  # its village that day
    rank_village: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, sort_order=-13)
    household_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-12)
    # where else the household stood on that date
    grid1: Mapped[uuid.UUID | None]  # large grid node
    grid2: Mapped[uuid.UUID | None]  # medium
    grid3: Mapped[uuid.UUID | None]  # small
    grid4: Mapped[uuid.UUID | None]  # micro
    earned: Mapped[int]
    rank_township: Mapped[int]
    rank_grid1: Mapped[int | None]
    rank_grid2: Mapped[int | None]
    rank_grid3: Mapped[int | None]
    rank_grid4: Mapped[int | None]
