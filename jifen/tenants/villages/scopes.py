"""What a grid worker's or village admin's scope contains, for the grid (see roles.registry)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from jifen.platform.roles.registry import register_scope_kind, register_scope_path
from jifen.tenants.villages.models import GridNode, Village

register_scope_kind("village", _l("village"), Village)
register_scope_path(Village, lambda v: {"village": {v.id}})
register_scope_kind("grid_node", _l("grid node"), GridNode)


def grid_node_path(node: GridNode) -> dict[str, set]:
    """A node lies in its village and in every node from the root down to itself."""
    return {"village": {node.village_id} if node.village_id else set(), "grid_node": set(node.ancestor_ids())}


register_scope_path(GridNode, grid_node_path)
