"""Demo integrity signals for Longwo, made the way real ones would be: through the services, then
found by the detectors (run at the end of the demo load, over the whole history).

- 官田村's grid worker 刘强 (liuqiang) verifies a proxy application of his own household (the
  household whose head has his phone number);
- two households of 梅园村 send the same photo with their applications;
- one phone checks in three households of 官田村 at the evening patrol held today.

Loading twice changes nothing: the patrol activity marks that the cases were made, and the
detectors write a signal once.
"""
from __future__ import annotations

import io

from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.tenants.activities import service as activities
from jifen.tenants.activities.models import Activity
from jifen.tenants.households.models import ACTIVE, Household, Resident
from jifen.tenants.integrity import detectors, devices
from jifen.tenants.points import applications as apps
from jifen.tenants.points.demo import scene_photo
from jifen.tenants.villages.models import GridNode
from jifen.tenants.villages.scopes import subtree_of

PATROL = "夜间治安巡逻"
ITEM = "HJ01"  # 门前三包保持整洁: a household item every demo village keeps
PHONE_TOKEN = "demo-phone-of-one-villager-00001"  # the device cookie the three check-ins share
OWN, SHARED = "代填：门前三包落实到位", "门前屋后打扫干净"
MADE = (OWN, SHARED, PATROL)  # the descriptions of the applications this demo makes (check-ins: the title)


def load_demo(admin_actor: Actor, villages: dict) -> str | None:
    guantian, meiyuan = villages.get("官田村"), villages.get("梅园村")
    if guantian is None or meiyuan is None:
        return None
    if db.session.execute(select(Activity.id).where(Activity.title == PATROL)).first() is None:
        _own_household(admin_actor, guantian)
        _shared_photo(admin_actor, meiyuan)
        _one_phone(admin_actor, guantian)
        db.session.flush()
    result = detectors.run_all(clock.today(), hash_limit=1_000_000)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(result["by_kind"].items()))
    return (f"Integrity signals: {result['found']} found ({kinds}); {result['photos_hashed']} photos hashed; "
            "see /t/longwo/integrity/ as admin or chenfang.")


def _apply(admin_actor: Actor, household: Household, photo: bytes | None = None, description=SHARED):
    photos = [FileStorage(io.BytesIO(photo), filename="photo.jpg", content_type="image/jpeg")] if photo else None
    return apps.proxy_apply(admin_actor, household.id, {"item_code": ITEM, "occurred_on": clock.today().isoformat(),
                                                        "description": description}, photos)


def _own_household(admin_actor: Actor, village) -> None:
    worker = db.session.execute(select(User).where(User.username == "liuqiang")).scalar_one_or_none()
    large = db.session.execute(select(GridNode.id).where(GridNode.village_id == village.id, GridNode.level == 1)
                               .order_by(GridNode.path)).scalars().first()
    if worker is None or large is None:
        return
    household = db.session.execute(select(Household).where(
        Household.village_id == village.id, Household.status == ACTIVE, Household.grid_node_id.in_(subtree_of([large])))
        .order_by(Household.door_plate, Household.id)).scalars().first()
    head = db.session.execute(select(Resident).where(Resident.household_id == household.id,
                                                     Resident.relation == "head")).scalars().first()
    if head is None:
        return
    if not head.phone:
        head.phone = "13900001234"
    worker.phone = head.phone  # 刘强 is this household's head: the account's phone is the member's
    db.session.flush()
    app = _apply(admin_actor, household, scene_photo("integrity-own-household"), OWN)
    apps.verify(actor_for(worker), app.id)


def _shared_photo(admin_actor: Actor, village) -> None:
    households = db.session.execute(select(Household).where(Household.village_id == village.id,
                                                            Household.status == ACTIVE)
                                    .order_by(Household.door_plate, Household.id).limit(2)).scalars().all()
    if len(households) < 2:
        return
    photo = scene_photo("integrity-shared-photo", 2)
    for h in households:
        _apply(admin_actor, h, photo)


def _one_phone(admin_actor: Actor, village) -> None:
    activity = activities.create_activity(admin_actor, {
        "village_id": village.id, "item_code": "ZY02", "title": PATROL, "place": "村委会",
        "description": "党员和志愿者分组夜间巡逻。", "held_on": clock.today()})
    villagers = db.session.execute(select(User).where(User.username.like("villager-guantian-%"))
                                   .order_by(User.username).limit(3)).scalars().all()
    for user in villagers:
        activities.check_in(actor_for(user), activity.id, activity.checkin_code,
                            device_hash=devices.hashed(PHONE_TOKEN))
