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
from jifen.tenants.villages.models import LEVELS, GridNode, Village, VillageGroup


def _level_id(k: int) -> str:
    """The id of the level-`k` node on a branch: the node itself or one of its three ancestors
    (a child sits exactly one level below its parent, so four steps reach the root)."""
    return (f"CASE {k} WHEN n.level THEN n.id WHEN p1.level THEN p1.id WHEN p2.level THEN p2.id "
            f"WHEN p3.level THEN p3.id END")


def branch_sql() -> str:
    """A select of every grid node of `:tenant_id` with the ids of the nodes on its branch, one
    column per level (node_id, grid1 … grid4; NULL below the node's own level): how set-based
    statements (the ranking, the cockpit's facts) count a household in every node above it."""
    levels = ", ".join(f"{_level_id(k)} AS grid{k}" for k in LEVELS)
    return f"""SELECT n.id AS node_id, {levels}
    FROM grid_nodes n
    LEFT JOIN grid_nodes p1 ON p1.tenant_id = n.tenant_id AND p1.id = n.parent_id
    LEFT JOIN grid_nodes p2 ON p2.tenant_id = n.tenant_id AND p2.id = p1.parent_id
    LEFT JOIN grid_nodes p3 ON p3.tenant_id = n.tenant_id AND p3.id = p2.parent_id
    WHERE n.tenant_id = :tenant_id"""


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
