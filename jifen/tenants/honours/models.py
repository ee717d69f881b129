"""Star ratings, honour titles and recommendation lists: the tables.

* `HonourSettings` (one row per township): how the public honour wall shows names, how many
  households it lists.
* `StarLevel` (one row per configured star, 1–5): the minimum earned points and/or the top
  percentage of the village a household needs; `StarVeto`: rule items whose posted deduction in a
  period caps the rating (一票否决).
* `StarRating`: the nightly result, one row per household and period, with what capped it.
* `HonourTitle` (最美家庭 …) with its criteria and per-village quota; `HonourShortlist` per title,
  village and period; `HonourCandidate` per household on it, confirmed or declined by the panel.
* `RecommendationList` (村班子后备人选 …): criteria only; the members are computed when shown.
* `HonourWall`: the unguessable token of a village's public honour wall.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

MASKED, FULL = "masked", "full"
NAME_DISPLAYS = (MASKED, FULL)


class HonourSettings(TenantScoped, db.Model):
    __tablename__ = "honour_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),
                      CheckConstraint("name_display in ('masked', 'full')", name="name_display"),
                      CheckConstraint("wall_size BETWEEN 3 AND 50", name="wall_size"))
    name_display: Mapped[str] = mapped_column(String(8), default=MASKED)
    wall_size: Mapped[int] = mapped_column(default=10)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class StarLevel(TenantScoped, db.Model):
    """What `stars` stars need: earned points of the period at least `min_points`, and/or a place
    in the top `top_percent` % of the village (both, when both are set)."""

    __tablename__ = "star_levels"
    __table_args__ = (UniqueConstraint("tenant_id", "stars"),
                      CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
                      CheckConstraint("top_percent IS NULL OR top_percent BETWEEN 1 AND 100", name="top_percent"),
                      CheckConstraint("min_points IS NOT NULL OR top_percent IS NOT NULL", name="some_criterion"))
    stars: Mapped[int]
    min_points: Mapped[int | None]
    top_percent: Mapped[int | None]


class StarVeto(TenantScoped, db.Model):
    """一票否决: a deduction of `item_code` posted in the period caps the rating at `max_stars`."""

    __tablename__ = "star_vetoes"
    __table_args__ = (UniqueConstraint("tenant_id", "item_code"),
                      CheckConstraint("max_stars BETWEEN 0 AND 4", name="max_stars"))
    item_code: Mapped[str] = mapped_column(String(32))
    max_stars: Mapped[int] = mapped_column(default=0)


class StarRating(TenantScoped, db.Model):
    """A household's rating for a period as the nightly job last computed it. `points_stars` is
    what its points and place gave; `stars` is after the vetoes; `capped_by` lists the veto items."""

    __tablename__ = "star_ratings"
    __table_args__ = (UniqueConstraint("tenant_id", "household_id", "period"),
                      tenant_fk(["household_id"], "households"), tenant_fk(["village_id"], "villages"),
                      Index("ix_star_ratings_tenant_village_period", "tenant_id", "village_id", "period"),
                      CheckConstraint("stars BETWEEN 0 AND 5", name="stars"))
    household_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID]
    period: Mapped[int]
    stars: Mapped[int]
    points_stars: Mapped[int]
    earned: Mapped[int]
    village_rank: Mapped[int]
    village_households: Mapped[int]
    capped_by: Mapped[str] = mapped_column(String(200), default="")  # "ZF04,ZF05"
    computed_on: Mapped[date]


class HonourTitle(TenantScoped, db.Model):
    """最美家庭, 最美党员户 or a township's own title, with the criteria of its shortlist."""

    __tablename__ = "honour_titles"
    __table_args__ = (UniqueConstraint("tenant_id", "name_zh"),
                      CheckConstraint("quota BETWEEN 1 AND 100", name="quota"),
                      CheckConstraint("min_stars IS NULL OR min_stars BETWEEN 1 AND 5", name="min_stars"))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    quota: Mapped[int] = mapped_column(default=5)  # per village and period
    min_points: Mapped[int | None]
    min_stars: Mapped[int | None]
    required_tag: Mapped[str | None] = mapped_column(String(32))  # a household tag code
    no_veto: Mapped[bool] = mapped_column(default=True)  # no deduction of a veto item in the period
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class HonourShortlist(TenantScoped, db.Model):
    __tablename__ = "honour_shortlists"
    __table_args__ = (UniqueConstraint("tenant_id", "title_id", "village_id", "period"),
                      tenant_fk(["title_id"], "honour_titles"), tenant_fk(["village_id"], "villages"),
                      Index("ix_honour_shortlists_tenant_village_period", "tenant_id", "village_id", "period"))
    title_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID]
    period: Mapped[int]
    eligible: Mapped[int] = mapped_column(default=0)  # households meeting the criteria when drawn
    drawn_by: Mapped[uuid.UUID | None]
    drawn_by_name: Mapped[str] = mapped_column(String(100), default="")
    drawn_at: Mapped[datetime] = mapped_column(default=clock.now)


SHORTLISTED, CONFIRMED, DECLINED = "shortlisted", "confirmed", "declined"
CANDIDATE_STATES = (SHORTLISTED, CONFIRMED, DECLINED)


class HonourCandidate(TenantScoped, db.Model):
    """A household on a shortlist. `tied`: it shares the points of the last place within the quota
    with households beyond it, so all of them are on the list and the panel chooses."""

    __tablename__ = "honour_candidates"
    __table_args__ = (UniqueConstraint("tenant_id", "shortlist_id", "household_id"),
                      tenant_fk(["shortlist_id"], "honour_shortlists"), tenant_fk(["title_id"], "honour_titles"),
                      tenant_fk(["village_id"], "villages"), tenant_fk(["household_id"], "households"),
                      Index("ix_honour_candidates_tenant_household", "tenant_id", "household_id"),
                      Index("ix_honour_candidates_tenant_village_period", "tenant_id", "village_id", "period",
                            "status"),
                      CheckConstraint("status in ('shortlisted', 'confirmed', 'declined')", name="status"))
    shortlist_id: Mapped[uuid.UUID]
    title_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID]
    period: Mapped[int]
    household_id: Mapped[uuid.UUID]
    earned: Mapped[int]
    stars: Mapped[int]
    village_rank: Mapped[int]
    tied: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=SHORTLISTED)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[uuid.UUID | None]
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RecommendationList(TenantScoped, db.Model):
    """推荐参考: members of households meeting the criteria, for the village committees' reference."""

    __tablename__ = "recommendation_lists"
    __table_args__ = (UniqueConstraint("tenant_id", "name_zh"),
                      CheckConstraint("min_stars IS NULL OR min_stars BETWEEN 1 AND 5", name="min_stars"),
                      CheckConstraint("min_age IS NULL OR min_age BETWEEN 0 AND 120", name="min_age"),
                      CheckConstraint("max_age IS NULL OR max_age BETWEEN 0 AND 120", name="max_age"))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    min_points: Mapped[int | None]
    min_stars: Mapped[int | None]
    no_veto: Mapped[bool] = mapped_column(default=True)
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    required_tag: Mapped[str | None] = mapped_column(String(32))
    relation: Mapped[str | None] = mapped_column(String(16))  # a resident relation code (households.models)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class HonourWall(TenantScoped, db.Model):
    """The public honour wall of a village: anyone holding `public_token`'s link may read it."""

    __tablename__ = "honour_walls"
    __table_args__ = (UniqueConstraint("tenant_id", "village_id"), UniqueConstraint("tenant_id", "public_token"),
                      tenant_fk(["village_id"], "villages"))
    village_id: Mapped[uuid.UUID]
    public_token: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
