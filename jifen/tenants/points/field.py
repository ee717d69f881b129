"""What a grid worker's phone keeps for capture without signal (issue 14, offline capture): the
active households of their grid, and, for each village those households live in, the rules in
force today. The phone sends what it captured through the same services as the pages
(`applications.record_conduct`, `applications.proxy_apply`), each with its idempotency key."""
from __future__ import annotations

from flask_babel import get_locale
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.points.applications import items_for
from jifen.tenants.rulebook.models import AWARD
from jifen.tenants.villages.models import Village


def _item(e, english: bool) -> dict:
    item = e.item
    return {"id": str(item.id), "code": item.code, "title": (item.title_en if english and item.title_en
                                                             else item.title_zh),
            "direction": item.direction, "points": e.points, "fixed": e.overridden,
            "points_min": item.points_min, "points_max": item.points_max,
            "photo_needed": item.evidence_required,
            "household_applies": item.direction == AWARD and item.initiator == "household"}


@action("field.capture")
def field_data(actor: Actor) -> dict:
    """The grid's active households (by the reach rule, in pinyin order of the head's name) and
    the rules in force today in their villages (the rulebook's order)."""
    authorize(actor, "field.capture")
    query = reach.filtered(select(Household).where(Household.status == ACTIVE), actor, "field.capture", Household)
    households = sorted(db.session.execute(query).scalars(), key=lambda h: (pinyin_key(h.head_name), h.door_plate))
    village_ids = {h.village_id for h in households}
    villages = db.session.execute(select(Village).where(Village.id.in_(village_ids))).scalars() if village_ids else []
    english = str(get_locale() or "") == "en"
    return {
        "today": clock.today().isoformat(),
        "households": [{"id": str(h.id), "head_name": h.head_name, "door_plate": h.door_plate,
                        "village_id": str(h.village_id)} for h in households],
        "villages": [{"id": str(v.id), "name": v.name,
                      "items": [_item(e, english) for _category, group in items_for(v.id, household=False)
                                for e in group]}
                     for v in sorted(villages, key=lambda v: pinyin_key(v.name))],
    }
