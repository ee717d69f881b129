"""Villages, village groups and the four-level grid tree."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

LARGE, MEDIUM, SMALL, MICRO = 1, 2, 3, 4
LEVELS = (LARGE, MEDIUM, SMALL, MICRO)


class Village(TenantScoped, db.Model):
    __tablename__ = "villages"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), UniqueConstraint("tenant_id", "code"))
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class VillageGroup(TenantScoped, db.Model):
    """村民小组: a sub-unit of a village, often the same people as one small or micro grid."""

    __tablename__ = "village_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "village_id", "name"), tenant_fk(["village_id"], "villages"))
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class GridLevelName(TenantScoped, db.Model):
    """A township's own names for the four grid levels; levels without a row use the defaults."""

    __tablename__ = "grid_level_names"
    __table_args__ = (UniqueConstraint("tenant_id", "level"), CheckConstraint("level BETWEEN 1 AND 4", name="level"))
    level: Mapped[int]
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(32))


class GridNode(TenantScoped, db.Model):
    """One node of the grid tree (level 1 large … 4 micro). Households sit on micro nodes.

    `path` is the materialized path of ids from the root down to this node ("/<id>/<id>/"), so a
    subtree is one indexed prefix match (grid workers' scope, household counts) and a move rewrites
    the paths of the moved subtree only. `village_id` is inherited by every node below a node tied
    to a village: nodes below the village level stay inside it.
    """

    __tablename__ = "grid_nodes"
    __table_args__ = (
        tenant_fk(["parent_id"], "grid_nodes"),
        tenant_fk(["village_id"], "villages"),
        tenant_fk(["group_id"], "village_groups"),
        CheckConstraint("level BETWEEN 1 AND 4", name="level"),
        Index("ix_grid_nodes_tenant_path", "tenant_id", "path"),
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    level: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    village_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    group_id: Mapped[uuid.UUID | None]
    path: Mapped[str] = mapped_column(String(200))
    sort_order: Mapped[int] = mapped_column(default=0)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    def ancestor_ids(self) -> list[uuid.UUID]:
        """Ids from the root down to and including this node."""
        return [uuid.UUID(p) for p in self.path.strip("/").split("/") if p]
