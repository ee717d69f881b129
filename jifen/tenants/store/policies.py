"""Who may do each action of stores, catalog, stock, orders (a villager orders for their household, a storekeeper at the counter) and household cards."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, ALL_ROLES, Policy, register_policies

register_policies({
    "store.list": Policy(ALL_ROLES),
    "store.manage": Policy(ADMIN),
    "catalog.manage": Policy(ADMIN),
    "stock.view": Policy(ADMIN | {"village_admin", "storekeeper"}, scoped=True),
    "stock.move": Policy(ADMIN | {"storekeeper"}, scoped=True),
    "order.place": Policy(ADMIN | {"storekeeper", "villager"}, scoped=True),
    "order.list": Policy(ADMIN | {"village_admin", "storekeeper", "villager"}, scoped=True),
    "order.view": Policy(ADMIN | {"village_admin", "storekeeper", "villager"}, scoped=True),
    "order.cancel": Policy(ADMIN | {"storekeeper", "villager"}, scoped=True),
    "order.hand_over": Policy(ADMIN | {"storekeeper"}, scoped=True),
    "household_card.print": Policy(ADMIN | {"village_admin", "grid_worker", "storekeeper"}, scoped=True),
    "household_card.own": Policy({"villager"}, scoped=True),
})
