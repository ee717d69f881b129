"""Demo data: Zijin county (紫金县), Longwo township (龙窝镇) and its nine pilot villages.

Loading twice changes nothing. Later capabilities extend `load()` with their own demo data.
"""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform.accounts import passwords
from jifen.platform.accounts.models import Operator, User
from jifen.platform.accounts.service import actor_for, create_operator
from jifen.platform.db import db
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships import service as townships
from jifen.platform.townships.models import Tenant
from jifen.tenants.villages import service as villages
from jifen.tenants.villages.models import Village

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
        for username, name, role, where in STAFF:
            if db.session.execute(select(User.id).where(User.username == username)).first():
                continue
            scope = [ids[i] for i in (where if isinstance(where, list) else [where])]
            user, _secret = staff.invite(admin_actor, {"username": username, "display_name": name,
                                                       "roles": [{"role": role, "scope_ids": scope}]})
            user.password_hash = passwords.hash_password(PASSWORD)
    db.session.commit()
    return [
        "Demo loaded: 紫金县 / 龙窝镇 (longwo) with 9 villages.",
        f"County console:  {base_url}/county/login   operator / {PASSWORD}",
        f"Township (龙窝镇): {base_url}/t/longwo/login   admin / {PASSWORD}",
        f"  other staff, same password: {', '.join(s[0] for s in STAFF)}",
    ]

