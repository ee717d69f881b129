"""A points store ready for orders, on top of the small world (tests/conftest.py).

Township alpha's store 积分超市 (官田村, storekeeper "keeper") stocks 牙膏 (10 points, 10 in stock)
and 毛巾 (8 points, 3 in stock); 洗衣粉 (15 points) is in the catalog but out of stock. The villager's
household (张三伟, 1号) has 100 available points; a second household (李四, 2号, villager account
"villager2") 20. A second store in 礼坑村 with its own storekeeper "keeper2" serves only 礼坑村.
Everything goes through the real services and ledger (the households are written as the world's are).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from jifen.platform import clock
from jifen.platform.db import db


@dataclass
class Shop:
    store: uuid.UUID
    other_store: uuid.UUID
    toothpaste: uuid.UUID
    towel: uuid.UUID
    powder: uuid.UUID
    household: uuid.UUID
    household2: uuid.UUID


def setup_shop(world, points=(100, 20)) -> Shop:
    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.staff import service as staff
    from jifen.platform.tenancy import tenant_get, tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household, Resident
    from jifen.tenants.points import ledger
    from jifen.tenants.store import service
    from tests.conftest import set_password

    t = world.a
    with tenant_scope(db.session.get(Tenant, t.tenant_id)):
        admin = actor_for(tenant_get(User, t.user_id()))
        household2 = Household(village_id=t.villages[0], grid_node_id=t.grid[-1], door_plate="2号", head_name="李四",
                               head_pinyin="lisi", head_initials="ls")
        db.session.add(household2)
        db.session.flush()
        db.session.add(Resident(household_id=household2.id, name="李四", name_pinyin="lisi", name_initials="ls",
                                relation="head"))
        items = {}
        for name, en, price, stock in (("牙膏", "Toothpaste", 10, 10), ("毛巾", "Towel", 8, 3), ("洗衣粉", "Washing powder", 15, 0)):
            item = service.create_catalog_item(admin, {"name": name, "name_en": en, "price_points": price, "unit": "个",
                                                       "category": "日用品"})
            if stock:
                service.move_stock(admin, t.store, item.id, "restock", stock, "collective_income")
            items[name] = item.id
        other = service.create_store(admin, {"name": "礼坑村积分超市", "village_id": t.villages[1]})
        service.move_stock(admin, other.id, items["牙膏"], "restock", 5, "donation")
        for username, role, scope in (("keeper2", "storekeeper", other.id), ("villager2", "villager", household2.id)):
            user, _ = staff.invite(admin, {"username": username, "display_name": username,
                                           "roles": [{"role": role, "scope_ids": [scope]}]})
            set_password(user)
        for household, amount in zip((t.household, household2.id), points, strict=True):
            ledger.earn(household_id=household, points=amount, occurred_on=clock.today(), source_kind="application",
                        source_id=uuid.uuid4(), memo="测试积分")
        db.session.commit()
        return Shop(t.store, other.id, items["牙膏"], items["毛巾"], items["洗衣粉"], t.household, household2.id)
