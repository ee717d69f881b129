"""Who may do each action of villages, village groups and the grid (scoped: a grid worker reaches the subtree of their nodes)."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, ALL_ROLES, STAFF, Policy, register_policies

register_policies({
    "village.list": Policy(ALL_ROLES),
    "village.view": Policy(ADMIN | {"village_admin", "area_cadre", "panel_member"}, scoped=True),
    "village.create": Policy(ADMIN),
    "village.update": Policy(ADMIN | {"village_admin"}, scoped=True),
    "village_group.list": Policy(ALL_ROLES),
    "village_group.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "grid.view": Policy(STAFF, scoped=True),
    "grid.manage": Policy(ADMIN),
})
