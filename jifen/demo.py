"""Demo data: Zijin county (紫金县), Longwo township (龙窝镇), its nine pilot villages, their grid,
generated households, the Longwo rulebook adopted by every village, stores and the catalog.

Loading twice changes nothing. Each capability's `load_demo` does its own part, in dependency order.
"""
from __future__ import annotations

from sqlalchemy import func, select

from jifen.platform.accounts import passwords
from jifen.platform.accounts.models import Operator, User
from jifen.platform.accounts.service import actor_for, create_operator
from jifen.platform.db import db
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships import service as townships
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit import demo as cockpit_demo
from jifen.tenants.dividends import demo as dividend_demo
from jifen.tenants.funds import demo as fund_demo
from jifen.tenants.honours import demo as honour_demo
from jifen.tenants.households import demo as household_demo
from jifen.tenants.households.models import Household
from jifen.tenants.integrity import demo as integrity_demo
from jifen.tenants.notifications import delivery_demo
from jifen.tenants.points import demo as points_demo
from jifen.tenants.points.models import LedgerTransaction
from jifen.tenants.rankings import demo as ranking_demo
from jifen.tenants.rulebook import demo as rulebook_demo
from jifen.tenants.store import demo as store_demo
from jifen.tenants.store import order_demo
from jifen.tenants.store.models import Store
from jifen.tenants.villages import demo as grid_demo
from jifen.tenants.villages import service as villages
from jifen.tenants.villages.models import GridNode, Village

PASSWORD = "Longwo-demo-2026"
VILLAGES = ["礼坑村", "梅园村", "官田村", "彭坊村", "嶂下村", "竹径村", "光明村", "琴南村", "琴口村"]
VILLAGE_CODES = ["likeng", "meiyuan", "guantian", "pengfang", "zhangxia", "zhujing", "guangming",
                 "qinnan", "qinkou"]
STAFF = [  # username, name, role, village index or None
    ("liwei", "李伟", "village_admin", 2),
    ("chenfang", "陈芳", "panel_member", 2),
    ("huangming", "黄明", "area_cadre", [0, 2]),
    ("zhanghua", "张华", "village_admin", 0),
]
GRID_WORKER = ("liuqiang", "刘强", "官田村")  # grid worker of this village's large grid
STOREKEEPER = ("zengli", "曾丽", "官田村积分超市")
# after the points history, in this order: each returns a line for the summary (or None)
REWARDS = [order_demo.load_demo, ranking_demo.load_demo, honour_demo.load_demo, dividend_demo.load_demo,
           delivery_demo.load_demo, fund_demo.load_demo, integrity_demo.load_demo,  # integrity: after the points it reads
           cockpit_demo.load_demo]


def load(base_url: str = "http://127.0.0.1:5000") -> list[str]:
    county = townships.get_or_create_county("紫金县", "zijin")
    op = db.session.execute(select(Operator).where(Operator.username == "operator")).scalar_one_or_none()
    if op is None:
        op = create_operator(county, "operator", "紫金县运营员", PASSWORD)
    db.session.flush()
    tenant = db.session.execute(select(Tenant).where(Tenant.slug == "longwo")).scalar_one_or_none()
    if tenant is None:
        tenant, admin, _secret = townships.onboard(actor_for(op), {
            "slug": "longwo", "name": "龙窝镇", "timezone": "Asia/Shanghai", "default_locale": "zh_CN",
            "admin_username": "admin", "admin_display_name": "龙窝镇管理员"})
    with tenant_scope(tenant):
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        if admin.password_hash is None:
            admin.password_hash = passwords.hash_password(PASSWORD)
        admin_actor = actor_for(admin)
        existing = {v.name: v for v in db.session.execute(select(Village)).scalars()}
        for order, (name, code) in enumerate(zip(VILLAGES, VILLAGE_CODES, strict=True), start=1):
            if name not in existing:
                existing[name] = villages.create_village(admin_actor, {"name": name, "code": code,
                                                                       "sort_order": order})
        ids = [existing[n].id for n in VILLAGES]
        people = [(u, n, r, [ids[i] for i in (w if isinstance(w, list) else [w])]) for u, n, r, w in STAFF]
        by_name = {name: existing[name] for name in VILLAGES}
        grid_demo.load_demo(admin_actor, by_name)
        store_demo.load_demo(admin_actor, by_name)
        household_demo.load_demo(admin_actor, by_name)
        rulebook_demo.load_demo(admin_actor, by_name)
        people.append((*GRID_WORKER[:2], "grid_worker", [_large_grid(existing[GRID_WORKER[2]])]))
        people.append((*STOREKEEPER[:2], "storekeeper", [_store(STOREKEEPER[2])]))
        for username, name, role, scope in people:
            if db.session.execute(select(User.id).where(User.username == username)).first():
                continue
            user, _secret = staff.invite(admin_actor, {"username": username, "display_name": name,
                                                       "roles": [{"role": role, "scope_ids": scope}]})
            user.password_hash = passwords.hash_password(PASSWORD)
        db.session.commit()
        points = points_demo.load_demo(admin_actor, by_name)
        # rankings, stars, honours, orders and dividends are made of points: none without a history
        has_points = db.session.execute(select(LedgerTransaction.id).limit(1)).first() is not None
        rewards = [loader(admin_actor, by_name) for loader in REWARDS] if has_points else []
        count = db.session.execute(select(func.count()).select_from(Household)).scalar()
    db.session.commit()
    usernames = [s[0] for s in STAFF] + [GRID_WORKER[0], STOREKEEPER[0]]
    return [
        f"Demo loaded: 紫金县 / 龙窝镇 (longwo) with 9 villages, their grid, {count} households, "
        "the Longwo rulebook and the points stores.",
        f"County console:  {base_url}/county/login   operator / {PASSWORD}",
        f"Township (龙窝镇): {base_url}/t/longwo/login   admin / {PASSWORD}",
        f"  other staff, same password: {', '.join(usernames)}",
        (f"Points history from January 1 to today: {points['applications']} applications "
         f"({points['batches']} batch sheets), {points['notices']} public notices, "
         f"{points['objections']} objections, {points['corrections']} corrections; panel members "
         f"panel-<village>-1/2, grid workers grid-<village>, villagers villager-<village>-<n> "
         f"(e.g. {points_demo.DEMO_VILLAGER}), same password." if points else
         "Points history: already loaded (nothing added)."),
        *[line for line in rewards if line],
    ]



def _large_grid(village: Village):
    return db.session.execute(select(GridNode.id).where(GridNode.village_id == village.id, GridNode.level == 1,
                                                        GridNode.retired_at.is_(None))).scalars().first()


def _store(name: str):
    return db.session.execute(select(Store.id).where(Store.name == name)).scalar_one()
