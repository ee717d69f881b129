"""Who may do each action of the rulebook, its village adoption and commitment signing."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, ALL_ROLES, STAFF, Policy, register_policies

register_policies({
    "rulebook.view": Policy(ALL_ROLES),
    "rulebook.manage": Policy(ADMIN),
    "village_rulebook.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "commitment.record": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "commitment.report": Policy(STAFF, scoped=True),
})
