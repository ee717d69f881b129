"""Helpers of the honours tests: households with points posted through the real ledger, star
settings through the real service, and valid resident ID numbers."""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db, new_id
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household, HouseholdTag, Resident
from jifen.tenants.households.rules import ID_CHECK, ID_WEIGHTS
from jifen.tenants.points import ledger
from jifen.tenants.points.models import APPLICATION_SOURCE, LedgerTransaction
from jifen.tenants.rulebook.models import RuleItem

# pinyin-distinct surnames, so sorting by name is predictable: an, bai, cao, deng, fang …
NAMES = ["安明", "白华", "曹军", "邓丽", "方强", "高峰", "韩梅", "蒋涛", "孔亮", "林芳", "马超", "倪红"]


def who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def in_tenant(app, tenant_id, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, tenant_id)):
            result = fn()
            db.session.commit()
            return result


def id_number(born: date, serial: int = 1) -> str:
    """A valid 18-character ID number (region 441622, 紫金县) with its check digit."""
    body = f"441622{born:%Y%m%d}{serial:03d}"
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


def micro_node(village_id) -> uuid.UUID:
    """A one-node grid in a village (households sit on a micro node; the ratings only read their village)."""
    from jifen.tenants.villages.models import GridNode

    node = GridNode(level=4, name="微网格", village_id=village_id, path="")
    db.session.add(node)
    db.session.flush()
    node.path = f"/{node.id}/"
    db.session.flush()
    return node.id


def add_household(village_id, grid_node_id, name: str, plate: str, tags=(), members=()) -> uuid.UUID:
    """A household written straight to the tables (setup, not under test); `members` are
    (name, relation, id_number or None) besides the head."""
    from jifen.platform.pinyin import person_pinyin

    syllables = person_pinyin(name)
    household = Household(village_id=village_id, grid_node_id=grid_node_id, door_plate=plate, head_name=name,
                          head_pinyin="".join(syllables), head_initials="".join(s[0] for s in syllables))
    db.session.add(household)
    db.session.flush()
    for n, (member, relation, idn) in enumerate([(name, "head", None), *members]):
        db.session.add(Resident(household_id=household.id, name=member, name_pinyin="".join(person_pinyin(member)),
                                name_initials="", relation=relation, id_number=idn, sort_order=n))
    for tag in tags:
        db.session.add(HouseholdTag(household_id=household.id, tag=tag))
    db.session.flush()
    return household.id


def give(household_id, points: int, code: str | None = None, day: date | None = None) -> LedgerTransaction:
    """Post points through the real ledger (an award, or a deduction when negative)."""
    code = code or ("A1" if points > 0 else "D1")
    item = db.session.execute(select(RuleItem).where(RuleItem.code == code)).scalars().first()
    posted = ledger.earn(household_id=household_id, points=points, occurred_on=day or clock.today(),
                         source_kind=APPLICATION_SOURCE, source_id=new_id(), item=item, memo=f"test {code}")
    db.session.flush()
    return posted.transaction


def set_levels(actor, levels: dict, vetoes: dict | None = None) -> None:
    """levels: {stars: (min_points, top_percent)}; vetoes: {item code: max stars}."""
    from jifen.tenants.honours import stars

    stars.update_settings(actor, {
        "levels": [{"stars": n, "min_points": p, "top_percent": t} for n, (p, t) in levels.items()],
        "vetoes": [{"item_code": c, "max_stars": m} for c, m in (vetoes or {}).items()]})
    db.session.flush()
