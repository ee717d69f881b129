"""A township ready for points: an adopted rulebook in alpha's first village (官田村), a second
household with its own villager account, and a three-member certification panel there.

`setup_points(world)` builds it through the real services (inside an app context) and returns
plain ids, like the world itself."""
from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import date

from jifen.platform.db import db

ADOPTED_ON = date(2025, 1, 1)

# code -> (direction, (min, max, default), cap (points, period) or None, evidence, initiator, review)
ITEMS = {
    "A1": ("award", (1, 5, 2), None, True, "household", "certification"),  # needs a photo
    "A2": ("award", (3, 3, 3), (6, "month"), False, "household", "certification"),  # capped
    "D1": ("deduction", (2, 10, 5), None, False, "staff", "certification"),
    "V1": ("award", (1, 1, 1), None, False, "household", "verification"),  # verification only
    "S1": ("award", (2, 8, 4), (10, "year"), False, "staff", "certification"),
}


@dataclass
class PointsWorld:
    slug: str
    village: uuid.UUID
    items: dict  # code -> item id
    household: uuid.UUID  # 张三伟, 1号, villager account "villager"
    household2: uuid.UUID  # 李四, 2号, villager account "villager2"
    panel: list = field(default_factory=list)  # usernames of the three panel members of 官田村
    users: dict = field(default_factory=dict)  # username -> user id


def setup_points(world, township="a") -> PointsWorld:
    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.staff import service as staff
    from jifen.platform.tenancy import tenant_get, tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household, Resident
    from jifen.tenants.rulebook import adoption, service
    from tests.conftest import set_password

    t = getattr(world, township)
    tenant = db.session.get(Tenant, t.tenant_id)
    with tenant_scope(tenant):
        admin = actor_for(tenant_get(User, t.user_id()))
        categories = service.add_standard_categories(admin)
        version = service.create_version(admin, {"title": "积分管理实施细则"})
        ids = {}
        for n, (code, (direction, (low, high, default), cap, photo, who, review)) in enumerate(ITEMS.items()):
            item = service.create_item(admin, version.id, {
                "code": code, "category_id": categories[0].id, "title_zh": f"测试项{code}",
                "title_en": f"Item {code}", "direction": direction, "points_min": low, "points_max": high,
                "points_default": default, "unit": "occurrence", "cap_points": cap[0] if cap else None,
                "cap_period": cap[1] if cap else None, "evidence_required": photo, "initiator": who,
                "review": review, "sort_order": n})
            ids[code] = item.id
        resolution = {"assembly_date": date(2024, 12, 20), "attendance": 40, "votes_for": 38,
                      "votes_against": 1, "votes_abstain": 1, "adopted_on": ADOPTED_ON}
        service.adopt_version(admin, version.id, resolution)
        village = t.villages[0]
        vr = adoption.start_village_rulebook(admin, village)
        adoption.adopt_village_rulebook(admin, vr.id, resolution)
        household2 = Household(village_id=village, grid_node_id=t.grid[-1], door_plate="2号", head_name="李四",
                               head_pinyin="lisi", head_initials="ls")
        db.session.add(household2)
        db.session.flush()
        db.session.add(Resident(household_id=household2.id, name="李四", name_pinyin="lisi", name_initials="ls",
                                relation="head", phone="13800000002"))
        users = {}
        for username, role, scope in (("villager2", "villager", household2.id),
                                      ("panel1", "panel_member", village), ("panel2", "panel_member", village),
                                      ("panel3", "panel_member", village)):
            user, _ = staff.invite(admin, {"username": username, "display_name": username,
                                           "roles": [{"role": role, "scope_ids": [scope]}]})
            set_password(user)
            users[username] = user.id
        db.session.commit()
    return PointsWorld(t.slug, village, ids, t.household, household2.id, ["panel1", "panel2", "panel3"], users)


def jpeg() -> io.BytesIO:
    """A small real JPEG, for photo uploads."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 120, 30)).save(buf, "JPEG")
    buf.seek(0)
    return buf


def in_alpha(app, world, fn):
    """Run `fn()` inside township alpha (its own app context) and return what it returns."""
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            result = fn()
            db.session.commit()  # the test runs its own unit of work: services never commit
            return result
