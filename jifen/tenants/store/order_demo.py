"""Demo data: store orders for Longwo.

A few orders of the demo villagers' households, through the service functions (so stock, ledger and
audit agree): 官田村's villagers order on the phone (one handed over by the storekeeper 曾丽, one
waiting, one cancelled) and one is served at the counter; 礼坑村 and 梅园村 each have one waiting.
Idempotent: nothing is added once the township has any order.
"""
from __future__ import annotations

from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.authz import may
from jifen.tenants.store import orders
from jifen.tenants.store.models import Order

# villager username -> what happens to their order
PLAN = [("villager-guantian-1", "handed_over"), ("villager-guantian-1", "open"), ("villager-guantian-2", "cancelled"),
        ("villager-guantian-3", "counter"), ("villager-guantian-4", "open"), ("villager-likeng-1", "open"),
        ("villager-meiyuan-1", "open")]
STOREKEEPER = "zengli"


def _user(username: str):
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    return actor_for(user) if user is not None and user.is_active else None


def _lines(store, budget: int, skip: int) -> list[dict]:
    """A few affordable items in stock, cheapest first (starting at the `skip`-th, for variety)."""
    shelf = [r for r in orders.shelf(store) if r["quantity"] >= 3]
    shelf = shelf[skip % len(shelf):] + shelf[:skip % len(shelf)] if shelf else []
    lines, total = [], 0
    for row in shelf:
        price = row["item"].price_points
        quantity = 2 if price * 2 <= budget - total and price <= 10 else 1
        if total + price * quantity <= budget:
            lines.append({"catalog_item_id": str(row["item"].id), "quantity": quantity})
            total += price * quantity
        if len(lines) == 2:
            break
    return lines


def load_demo(admin_actor, villages: dict) -> str | None:
    existing = db.session.execute(select(func.count()).select_from(Order)).scalar_one()
    if not existing:
        keeper = _user(STOREKEEPER) or admin_actor
        for n, (username, outcome) in enumerate(PLAN):
            villager = _user(username)
            households = orders.own_households(villager) if villager else []
            if not households:
                continue
            household = households[0]
            stores = orders.stores_for(household)
            if not stores:
                continue
            lines = _lines(stores[0], orders.available_points(household.id) // 3, n)
            if not lines:
                continue
            data = {"household_id": str(household.id), "store_id": str(stores[0].id), "lines": lines}
            if outcome == "counter":
                orders.place_order(keeper if may(keeper, "order.hand_over", stores[0]) else admin_actor,
                                   data | {"hand_over": True})
            else:
                order = orders.place_order(villager, data)
                if outcome == "handed_over":
                    orders.hand_over(keeper if may(keeper, "order.hand_over", order) else admin_actor, order.id,
                                     order.pickup_code)
                elif outcome == "cancelled":
                    orders.cancel(villager, order.id, "买错了，下次再换")
            db.session.commit()
    states = dict(db.session.execute(select(Order.state, func.count()).group_by(Order.state)).all())
    if not states:
        return None
    return (f"store orders: {sum(states.values())} ({states.get('handed_over', 0)} handed over, "
            f"{states.get('open', 0)} waiting, {states.get('cancelled', 0) + states.get('expired', 0)} cancelled)")
