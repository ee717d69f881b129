"""Demo activities for Longwo: in each village, a tree-planting day, a clean-up campaign and a Party
members' volunteer service in 2026, with sign-ups and the attendance of some 20–40 households each,
written through the services (so attendance makes its applications). Loading twice changes
nothing: an activity is looked up by village and title first."""
from __future__ import annotations

import random
from datetime import date

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.tenants.activities import service
from jifen.tenants.activities.models import Activity, ActivitySignup, Attendance
from jifen.tenants.households.models import ACTIVE, Household, HouseholdTag

# title, rule item code, day, place, description, tag whose households come first (or None)
ACTIVITIES = [
    ("义务植树", "ZY02", date(2026, 3, 12), "村后山林地", "植树节义务植树，自带锄头，村里提供树苗和午餐。", None),
    ("环境卫生集中整治", "HJ02", date(2026, 5, 16), "村委会门前广场集合",
     "清理房前屋后、河道沟渠垃圾，整治乱堆乱放。", None),
    ("党员志愿服务", "ZY01", date(2026, 7, 1), "党群服务中心", "党员户带头走访慰问独居老人，打扫公共区域。",
     "party_member"),
]


def load_demo(admin_actor: Actor, villages: dict) -> None:
    today = clock.today()
    for name, village in sorted(villages.items(), key=lambda kv: kv[0]):
        households = list(db.session.execute(select(Household).where(
            Household.village_id == village.id, Household.status == ACTIVE).order_by(Household.door_plate,
                                                                                      Household.id)).scalars())
        if not households:
            continue
        tagged = {}
        for hid, tag in db.session.execute(select(HouseholdTag.household_id, HouseholdTag.tag).where(
                HouseholdTag.household_id.in_([h.id for h in households]))):
            tagged.setdefault(tag, set()).add(hid)
        for title, code, day, place, description, first_tag in ACTIVITIES:
            held_on = min(day, today)
            activity = db.session.execute(select(Activity).where(Activity.village_id == village.id,
                                                                 Activity.title == title)).scalar_one_or_none()
            if activity is None:
                if service.effective_item(village.id, code, held_on) is None:
                    continue  # the village switched this item off
                activity = service.create_activity(admin_actor, {
                    "village_id": village.id, "item_code": code, "title": title, "place": place,
                    "description": description, "held_on": held_on})
            if db.session.execute(select(Attendance.id).where(Attendance.activity_id == activity.id)).first():
                continue
            rng = random.Random(f"{name}-{title}")  # the same people on every rerun
            preferred = [h for h in households if h.id in tagged.get(first_tag, set())] if first_tag else []
            others = [h for h in households if h not in preferred]
            rng.shuffle(others)
            size = min(len(households), rng.randint(20, 40))
            attended = (preferred + others)[:size]
            extra = others[size:size + rng.randint(2, 6)]  # signed up but did not come
            for h in attended[: size * 2 // 3] + extra:
                if held_on >= today:
                    service.sign_up(admin_actor, activity.id, h.id)
                else:
                    _signed(activity, h)
            service.mark_attendance(admin_actor, activity.id, [h.id for h in attended])
            if held_on < today:
                service.close_activity(admin_actor, activity.id)


def _signed(activity: Activity, household: Household) -> None:
    """Sign-ups of a past activity (the service takes sign-ups only before the day)."""
    if service.signup_of(activity.id, household.id) is None:
        db.session.add(ActivitySignup(activity_id=activity.id, household_id=household.id))
        db.session.flush()
