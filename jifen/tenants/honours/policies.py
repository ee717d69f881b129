"""Who may do each action of star ratings, honour titles, recommendation lists, the honour wall."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, ALL_ROLES, Policy, register_policies

register_policies({
    "stars.manage": Policy(ADMIN),
    "stars.view": Policy(ALL_ROLES, scoped=True),
    "honour.manage": Policy(ADMIN),
    "honour.shortlist": Policy(ADMIN | {"village_admin"}, scoped=True),
    "honour.confirm": Policy(frozenset({"panel_member"}), scoped=True),
    "honour.view": Policy(ALL_ROLES, scoped=True),
    "recommendation.manage": Policy(ADMIN),
    "recommendation.view": Policy(ADMIN | {"village_admin"}, scoped=True),
})
