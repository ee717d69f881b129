"""荣誉墙: a village's public honour wall (top households of the period, their stars, the star count
of the village, the confirmed titles) and its printable A4 poster.

It is public like a notice: anyone with the village's link reads it, no sign-in. The link holds an
unguessable token per village (staff create it, and may replace it to retire a leaked link). Names
are shown as the township chooses: masked (张*伟, the default) or in full.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Invalid, NotFound
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.tenancy import current_tenant_id, tenant_get, tenant_get_or_404
from jifen.tenants.honours import stars, titles
from jifen.tenants.honours.common import VillageArea, optional_int
from jifen.tenants.honours.models import FULL, MASKED, NAME_DISPLAYS, HonourSettings, HonourWall, StarRating
from jifen.tenants.households.models import Household
from jifen.tenants.households.rules import mask_name
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_area_path

register_scope_path(HonourWall, lambda w: village_area_path(w.village_id))
MIN_WALL_SIZE, MAX_WALL_SIZE = 3, 50


# --- settings --------------------------------------------------------------------------------------

def settings() -> HonourSettings:
    """The township's row, or the defaults (not saved) when it has none."""
    row = db.session.execute(select(HonourSettings)).scalar_one_or_none()
    return row if row is not None else HonourSettings(name_display=MASKED, wall_size=10)


def settings_snapshot() -> dict:
    s = settings()
    return {"name_display": s.name_display, "wall_size": s.wall_size}


@action("honour.manage")
def update_settings(actor: Actor, data: dict) -> HonourSettings:
    data = data or {}
    errors: dict = {}
    current = settings()
    display = str(data.get("name_display", current.name_display) or "").strip()
    if display not in NAME_DISPLAYS:
        errors["name_display"] = [_("Choose masked or full names.")]
    size = optional_int(data, "wall_size", errors, MIN_WALL_SIZE, MAX_WALL_SIZE, current.wall_size)
    if size is None and "wall_size" not in errors:
        errors["wall_size"] = [_("Give how many households the wall lists.")]
    Invalid.raise_if(errors)
    before = settings_snapshot()
    row = db.session.execute(select(HonourSettings).with_for_update()).scalar_one_or_none()
    if row is None:
        row = HonourSettings()
        db.session.add(row)
    row.name_display, row.wall_size = display, size
    db.session.flush()
    if settings_snapshot() != before:
        record(actor, "honour.settings", object_type="honour_settings", object_id=current_tenant_id(),
               before=before, after=settings_snapshot())
    return row


def show_name(name: str, display: str | None = None) -> str:
    return name if (display or settings().name_display) == FULL else mask_name(name)


# --- the link --------------------------------------------------------------------------------------

def wall_of(village_id) -> HonourWall | None:
    return db.session.execute(select(HonourWall).where(HonourWall.village_id == village_id)).scalar_one_or_none()


@action("honour.view")
def wall_link(actor: Actor, village_id) -> HonourWall | None:
    """The village's wall (for its token), or None when nobody has created the link yet."""
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "honour.view", VillageArea(village.id))
    return wall_of(village.id)


@action("honour.shortlist")
def create_link(actor: Actor, village_id, renew: bool = False) -> HonourWall:
    """Create the village's public link; with `renew`, replace its token (the old link stops working)."""
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "honour.shortlist", village)
    wall = db.session.execute(select(HonourWall).where(HonourWall.village_id == village.id)
                              .with_for_update()).scalar_one_or_none()
    if wall is not None and not renew:
        return wall
    if wall is None:
        wall = HonourWall(village_id=village.id, created_by=actor.id)
        db.session.add(wall)
    wall.public_token = secrets.token_urlsafe(16)
    db.session.flush()
    record(actor, "honour_wall.renew" if renew else "honour_wall.create", wall, after={"village": village.name})
    return wall


def wall_by_token(token: str) -> HonourWall:
    """The public page: anyone with the link. The tenant comes from the URL."""
    wall = db.session.execute(select(HonourWall).where(HonourWall.public_token == str(token)[:32])).scalar_one_or_none()
    if wall is None:
        raise NotFound(_("Not found."))
    return wall


# --- what the wall shows -----------------------------------------------------------------------------

@dataclass
class WallRow:
    rank: int
    name: str
    earned: int
    stars: int
    titles: list = field(default_factory=list)  # title names


@dataclass
class Wall:
    village: Village
    period: int
    top: list  # WallRow
    distribution: dict  # stars 1..5 -> households
    titles: list  # (title name, [names])
    as_of: date | None  # the nightly rating the wall shows (None: computed now)
    name_display: str


def content(village: Village, period: int) -> Wall:
    """The wall of a village for a period, from the nightly ratings (or computed now before the
    first run): households ranked within the township's wall size by earned points (ties ranked
    equal, so a tie at the last place shows every tied household), households with no points
    left out."""
    conf = settings()
    rows = db.session.execute(select(StarRating, Household).join(Household, Household.id == StarRating.household_id)
                              .where(StarRating.village_id == village.id, StarRating.period == period)).all()
    if rows:
        entries = [(r.household_id, r.earned, r.village_rank, r.stars, h.head_name) for r, h in rows]
        as_of = max(r.computed_on for r, _h in rows)
    else:
        heads = dict(db.session.execute(select(Household.id, Household.head_name).where(
            Household.village_id == village.id)).all())
        entries = [(r.household_id, r.earned, r.rank, r.stars, heads.get(r.household_id, ""))
                   for r in stars.rate(period, village.id).values()]
        as_of = None
    awarded = titles.confirmed_in(village.id, period)
    titles_of: dict = {}
    for title, holders in awarded:
        for _c, h in holders:
            titles_of.setdefault(h.id, []).append(titles.title_name(title))
    top = sorted((e for e in entries if e[1] > 0 and e[2] <= conf.wall_size),
                 key=lambda e: (e[2], pinyin_key(e[4]), str(e[0])))
    distribution = {n: 0 for n in range(5, 0, -1)}
    for e in entries:
        if e[3]:
            distribution[e[3]] += 1
    return Wall(village, period, [WallRow(e[2], show_name(e[4], conf.name_display), e[1], e[3], titles_of.get(e[0], []))
                                  for e in top],
                distribution, [(titles.title_name(t), [show_name(h.head_name, conf.name_display) for _c, h in holders])
                               for t, holders in awarded], as_of, conf.name_display)


def public_content(token: str, period: int) -> Wall:
    wall = wall_by_token(token)
    return content(tenant_get(Village, wall.village_id), period)
