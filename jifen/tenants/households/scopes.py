"""What scopes contain a household: its village, every grid node above it, itself (villagers); for
one household (`household_path`) and, the same rule as SQL, for a list."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from jifen.platform.roles.registry import register_scope_kind, register_scope_path, register_scope_where
from jifen.platform.tenancy import tenant_get
from jifen.tenants.households.models import Household
from jifen.tenants.villages.models import GridNode
from jifen.tenants.villages.scopes import subtree_of

register_scope_kind("household", _l("household"), Household)


def household_path(household: Household) -> dict[str, set]:
    node = tenant_get(GridNode, household.grid_node_id)
    return {"village": {household.village_id}, "grid_node": set(node.ancestor_ids()) if node else set(),
            "household": {household.id}}


register_scope_path(Household, household_path)
register_scope_where(Household, {"village": lambda ids: Household.village_id.in_(list(ids)),
                                 "grid_node": lambda ids: Household.grid_node_id.in_(subtree_of(ids)),
                                 "household": lambda ids: Household.id.in_(list(ids))})
