"""What a grid worker's or village admin's scope contains, for the grid (see roles.registry)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles.registry import register_scope_kind, register_scope_path
from jifen.tenants.villages.models import GridNode, Village, VillageGroup


def village_choices() -> list[tuple]:
    villages = db.session.execute(select(Village)).scalars().all()
    return [(v.id, v.name) for v in sort_by_pinyin(villages, key=lambda v: v.name)]


def grid_node_choices() -> list[tuple]:
    """Active nodes in tree order (paths of time-ordered ids sort parents first), indented by level."""
    nodes = db.session.execute(select(GridNode).where(GridNode.retired_at.is_(None)).order_by(GridNode.path))
    return [(n.id, "\u3000" * (n.level - 1) + n.name) for n in nodes.scalars()]


register_scope_kind("village", _l("village"), Village, village_choices)
register_scope_path(Village, lambda v: {"village": {v.id}})
register_scope_path(VillageGroup, lambda group: {"village": {group.village_id}})
register_scope_kind("grid_node", _l("grid node"), GridNode, grid_node_choices)


def grid_node_path(node: GridNode) -> dict[str, set]:
    """A node lies in its village and in every node from the root down to itself."""
    return {"village": {node.village_id} if node.village_id else set(), "grid_node": set(node.ancestor_ids())}


register_scope_path(GridNode, grid_node_path)


def village_area_path(village_id) -> dict[str, set]:
    """For things that belong to a whole village (a notice, an activity): the village, and every
    grid node in it, so grid workers of the village reach them too."""
    nodes = db.session.execute(select(GridNode.id).where(GridNode.village_id == village_id)).scalars()
    return {"village": {village_id}, "grid_node": set(nodes)}
