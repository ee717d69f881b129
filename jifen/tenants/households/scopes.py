"""What scopes contain a household: its village, every grid node above it, itself (villagers)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from jifen.platform.roles.registry import register_scope_kind, register_scope_path
from jifen.platform.tenancy import tenant_get
from jifen.tenants.households.models import Household
from jifen.tenants.villages.models import GridNode

register_scope_kind("household", _l("household"), Household)


def household_path(household: Household) -> dict[str, set]:
    node = tenant_get(GridNode, household.grid_node_id)
    return {"village": {household.village_id}, "grid_node": set(node.ancestor_ids()) if node else set(),
            "household": {household.id}}


register_scope_path(Household, household_path)
