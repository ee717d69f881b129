"""One reach rule: every list shows exactly what the one-object check lets through.

For each list function and each role, every candidate object of the township is asked
`may(actor, action, obj)` and the answer must be "it is in the list". The world adds to the common
one a large grid tied to no village whose branches lie in two villages (礼坑村 and 梅园村), a grid
worker on it and one on a micro grid, an activity and a notice in every village, and more
households, stores and grid branches so that each scope cuts the township differently.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Forbidden
from jifen.platform.roles.authz import Actor, may
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.activities import service as activities
from jifen.tenants.activities.models import Activity
from jifen.tenants.dividends import pools
from jifen.tenants.dividends.models import DividendPool
from jifen.tenants.honours.common import may_village, villages_in_reach
from jifen.tenants.households import service as households
from jifen.tenants.households.models import MOVED_OUT, Household
from jifen.tenants.points import notices
from jifen.tenants.points.models import Notice
from jifen.tenants.rankings import service as rankings
from jifen.tenants.store import orders
from jifen.tenants.store.models import Order, Store
from jifen.tenants.villages import grid
from jifen.tenants.villages.models import GridNode, Village
from tests.conftest import set_password

ROLES = ("villager", "grid_worker_micro", "grid_worker", "grid_worker_large", "area_cadre", "village_admin",
         "panel_member", "storekeeper", "township_admin")


@dataclass
class ReachWorld:
    tenant_id: uuid.UUID
    users: dict  # role label -> user id
    large: uuid.UUID  # the large grid spanning 礼坑村 and 梅园村
    villages: list


def _branch(village_ids: list, top: GridNode | None = None) -> list[GridNode]:
    """Large → medium → small → micro; below a spanning `top`, the branch starts at medium."""
    nodes, parent = [], top
    for level in range(2 if top else 1, 5):
        node = GridNode(level=level, name=f"网格{level}-{uuid.uuid4().hex[:4]}", village_id=village_ids[0],
                        parent_id=parent.id if parent else None, path="")
        db.session.add(node)
        db.session.flush()
        node.path = f"{parent.path if parent else '/'}{node.id}/"
        nodes.append(node)
        parent = node
    return nodes


def _household(node: GridNode, plate: str, name: str, status: str | None = None) -> Household:
    household = Household(village_id=node.village_id, grid_node_id=node.id, door_plate=plate, head_name=name)
    if status:
        household.status = status
    db.session.add(household)
    return household


@pytest.fixture
def rw(app, world) -> ReachWorld:
    a = world.a
    v1, v2, v3 = a.villages
    with app.app_context():
        tenant = db.session.get(Tenant, a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_for(db.session.get(User, (tenant.id, a.user_id())))
            # 官田村: a second micro grid beside the villager's, under the same small grid
            small = db.session.get(GridNode, (tenant.id, a.grid[2]))
            second = GridNode(level=4, name="微网格二", village_id=v1, parent_id=small.id, path="")
            db.session.add(second)
            db.session.flush()
            second.path = f"{small.path}{second.id}/"
            _household(second, "2号", "李四")
            # a large grid tied to no village, with a branch in 礼坑村 and one in 梅园村
            large = GridNode(level=1, name="跨村大网格", village_id=None, parent_id=None, path="")
            db.session.add(large)
            db.session.flush()
            large.path = f"/{large.id}/"
            in_v2 = _branch([v2], large)
            in_v3 = _branch([v3], large)
            _household(in_v2[-1], "礼1号", "王五")
            _household(in_v3[-1], "梅1号", "赵六")
            _household(in_v3[-1], "梅2号", "钱七", status=MOVED_OUT)
            # 礼坑村 also has a grid of its own, outside the spanning one
            own_v2 = _branch([v2])
            _household(own_v2[-1], "礼2号", "孙八")
            # an activity and a notice in every village; a township store and one in 礼坑村
            for n, village_id in enumerate((v1, v2, v3), start=1):
                db.session.add(Activity(village_id=village_id, item_code="A1", title=f"活动{n}",
                                        held_on=date(2026, 5, n), checkin_code=f"{n:04d}"))
                db.session.add(Notice(village_id=village_id, number=1, opens_on=date(2026, 5, 1),
                                      closes_on=date(2026, 5, 8), public_token=uuid.uuid4().hex))
            db.session.add_all([Store(name="镇积分超市", village_id=None), Store(name="礼坑超市", village_id=v2)])
            db.session.flush()
            # an order of every household at every store it may use (the township's stores and its
            # village's: the storekeeper's store among them); a township dividend pool and one per village
            number = 0
            for household in _all(Household):
                for store in [s for s in _all(Store) if s.village_id in (None, household.village_id)]:
                    number += 1
                    db.session.add(Order(number=number, store_id=store.id, household_id=household.id,
                                         channel="counter", total_points=1, period=2026))
            for village_id in (None, v1, v2, v3):
                db.session.add(DividendPool(village_id=village_id, title="分红", amount_fen=100, source="donation",
                                            period=2026, base_percent=50))
            db.session.flush()
            users = {role: a.user_id(role) for role in ("villager", "grid_worker", "area_cadre", "village_admin",
                                                        "panel_member", "storekeeper", "township_admin")}
            for label, node_id in (("grid_worker_micro", a.grid[3]), ("grid_worker_large", large.id)):
                user, _ = staff.invite(admin, {"username": label.replace("_", ""), "display_name": label,
                                               "roles": [{"role": "grid_worker", "scope_ids": [node_id]}]})
                set_password(user)
                users[label] = user.id
            db.session.commit()
            return ReachWorld(tenant.id, users, large.id, [v1, v2, v3])


def _listed(fn) -> set | None:
    """The ids a list function gives, or None when the role may not list at all (403)."""
    try:
        return {getattr(o, "id", o) for o in fn()}
    except Forbidden:
        return None


def _all(model) -> list:
    return list(db.session.execute(db.select(model)).scalars())


def _active_nodes() -> list:
    return [n for n in _all(GridNode) if n.retired_at is None]


# list function -> (the list, the candidates, the one-object check)
LISTS = {
    "households": (lambda actor: [h["id"] for h in households.search_households(actor, status="all", per_page=100).items],
                   lambda: _all(Household), lambda actor, h: may(actor, "household.list", h)),
    "grid tree": (lambda actor: [n for n, _ in grid.list_tree(actor)],
                  _active_nodes, lambda actor, n: may(actor, "grid.view", n)),
    "activities": (activities.list_activities, lambda: _all(Activity),
                   lambda actor, a: may(actor, "activity.list", a)),
    "notices": (notices.list_notices, lambda: _all(Notice), lambda actor, n: may(actor, "notice.list", n)),
    "ranking villages": (rankings.villages_in_scope, lambda: _all(Village),
                         lambda actor, v: may(actor, rankings.ACTION, rankings.village_target(actor, v.id))),
    "ranking grid nodes": (lambda actor: [n for v in [None, *(v.id for v in _all(Village))]
                                          for n in rankings.grid_nodes_in_scope(actor, v)],
                           _active_nodes, lambda actor, n: may(actor, rankings.ACTION, rankings.grid_target(actor, n.id))),
    "honour wall villages": (lambda actor: villages_in_reach(actor, "honour.view"), lambda: _all(Village),
                             lambda actor, v: may_village(actor, "honour.view", v.id)),
    "orders": (lambda actor: orders.list_orders(actor, limit=500), lambda: _all(Order),
               lambda actor, o: may(actor, "order.view", o)),
    "dividend pools": (pools.list_pools, lambda: _all(DividendPool), lambda actor, p: may(actor, "dividend.view", p)),
}


def _actor(rw: ReachWorld, role: str) -> Actor:
    return actor_for(db.session.get(User, (rw.tenant_id, rw.users[role])))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(LISTS))
def test_list_equals_what_the_one_object_check_allows(app, rw, name, role):
    listing, candidates, check = LISTS[name]
    with app.app_context(), tenant_scope(db.session.get(Tenant, rw.tenant_id)):
        actor = _actor(rw, role)
        allowed = {obj.id for obj in candidates() if check(actor, obj)}
        listed = _listed(lambda: listing(actor))
        if listed is None:  # the role may not list: then it reaches none of them either
            assert allowed == set()
        else:
            assert listed == allowed


def _villages_of(model, ids) -> set:
    return {o.village_id for o in _all(model) if o.id in ids}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "storekeeper"])
def test_who_reaches_a_household_reaches_its_villages_activities(app, rw, role):
    """The disagreement issue 11 found: a grid worker on a large grid spanning villages saw the
    households but no activity of their villages."""
    with app.app_context(), tenant_scope(db.session.get(Tenant, rw.tenant_id)):
        actor = _actor(rw, role)
        seen = _listed(lambda: LISTS["households"][0](actor))
        activity_villages = _villages_of(Activity, _listed(lambda: activities.list_activities(actor)))
        assert _villages_of(Household, seen) <= activity_villages


def test_a_grid_worker_on_a_large_grid_across_villages(app, rw):
    v1, v2, v3 = rw.villages
    with app.app_context(), tenant_scope(db.session.get(Tenant, rw.tenant_id)):
        actor = _actor(rw, "grid_worker_large")
        plates = {h["door_plate"] for h in households.search_households(actor, status="all").items}
        assert plates == {"礼1号", "梅1号", "梅2号"}  # not 礼坑村's other grid, not 官田村
        assert {a.village_id for a in activities.list_activities(actor)} == {v2, v3}
        assert {n.village_id for n in notices.list_notices(actor)} == {v2, v3}
        assert {v.id for v in rankings.villages_in_scope(actor)} == {v2, v3}
        assert rw.large in {n.id for n in rankings.grid_nodes_in_scope(actor, None)}
