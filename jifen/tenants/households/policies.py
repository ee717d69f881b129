"""Who may do each action of households and residents."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, STAFF, Policy, register_policies

register_policies({
    "household.list": Policy(STAFF | {"villager"}, scoped=True),
    "household.view": Policy(STAFF | {"villager"}, scoped=True),
    "household.create": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "household.update": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "household.split": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.merge": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.view_id_numbers": Policy(ADMIN | {"village_admin"}, scoped=True, check_only=True),
    # phones unmasked on pages and in the API: those who call households (grid workers too)
    "household.view_phones": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True, check_only=True),
    "household.import": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.export": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household_tag.manage": Policy(ADMIN),
})
