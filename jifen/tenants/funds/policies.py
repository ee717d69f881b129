"""Who may do each action of fund coverage: the township admin records funding and sets the point
value; area cadres and village admins read the coverage of the villages they reach (a village's
row exists when the village has a store; the township's row needs a township-wide role)."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, Policy, register_policies

register_policies({
    "funds.view": Policy(ADMIN | {"village_admin", "area_cadre"}, scoped=True),
    "funds.manage": Policy(ADMIN),
})
