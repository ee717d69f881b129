"""What a grid worker's or village admin's scope contains, for the grid (see roles.registry and
roles.reach): for one object (`*_path`) and, the same rule as SQL, for a list (`*_where`)."""
from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased

from jifen.platform.db import db
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles.registry import register_scope_kind, register_scope_path, register_scope_where
from jifen.tenants.villages.models import GridNode, Village, VillageGroup


def village_choices() -> list[tuple]:
    villages = db.session.execute(select(Village)).scalars().all()
    return [(v.id, v.name) for v in sort_by_pinyin(villages, key=lambda v: v.name)]


def grid_node_choices() -> list[tuple]:
    """Active nodes in tree order (paths of time-ordered ids sort parents first), indented by level."""
    nodes = db.session.execute(select(GridNode).where(GridNode.retired_at.is_(None)).order_by(GridNode.path))
    return [(n.id, "\u3000" * (n.level - 1) + n.name) for n in nodes.scalars()]


def subtree_of(node_ids) -> select:
    """`SELECT id` of every node in the subtrees rooted at `node_ids` (themselves included): one
    prefix match of the materialized paths (ids and slashes only, so no LIKE escaping needed)."""
    top = aliased(GridNode)
    return (select(GridNode.id).join(top, GridNode.path.startswith(top.path))
            .where(top.id.in_(list(node_ids))))


def village_area_path(village_id) -> dict[str, set]:
    """For things that belong to a whole village (a notice, an activity, a village's ranking): the
    village, and every grid node in it or above one of its nodes, so a grid worker reaches them
    when their subtree holds part of the village (a large grid spanning villages included)."""
    paths = db.session.execute(select(GridNode.path).where(GridNode.village_id == village_id)).scalars()
    return {"village": {village_id}, "grid_node": {i for path in paths for i in _ids(path)}}


def village_area_where(column) -> dict:
    """`village_area_path` as SQL on a village-id column."""
    return {"village": lambda ids: column.in_(list(ids)),
            "grid_node": lambda ids: column.in_(select(GridNode.village_id).where(GridNode.id.in_(subtree_of(ids))))}


def _ids(path: str) -> list[uuid.UUID]:
    return [uuid.UUID(p) for p in path.strip("/").split("/") if p]


register_scope_kind("village", _l("village"), Village, village_choices)
register_scope_path(Village, lambda v: {"village": {v.id}})
register_scope_where(Village, {"village": lambda ids: Village.id.in_(list(ids))})
register_scope_path(VillageGroup, lambda group: {"village": {group.village_id}})
register_scope_where(VillageGroup, {"village": lambda ids: VillageGroup.village_id.in_(list(ids))})
register_scope_kind("grid_node", _l("grid node"), GridNode, grid_node_choices)


def grid_node_path(node: GridNode) -> dict[str, set]:
    """A node lies in its village and in every node from the root down to itself."""
    return {"village": {node.village_id} if node.village_id else set(), "grid_node": set(node.ancestor_ids())}


register_scope_path(GridNode, grid_node_path)
register_scope_where(GridNode, {"village": lambda ids: GridNode.village_id.in_(list(ids)),
                                "grid_node": lambda ids: GridNode.id.in_(subtree_of(ids))})
