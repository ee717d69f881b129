"""Demo grid for Longwo's nine villages: village groups (村民小组) and a full four-level branch per
village, built through the grid service. Running it again finds what exists and adds nothing."""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.tenants.villages import grid
from jifen.tenants.villages.models import GridNode, Village, VillageGroup

GROUP_NAMES = ("上屋组", "下屋组", "新村组", "老屋组", "坪田组", "塘背组", "岭下组", "河唇组", "高陂组", "围龙组",
               "石桥组", "竹园组")
AREAS = ("东片", "西片", "南片")


def _group(actor: Actor, village: Village, name: str, order: int) -> tuple[VillageGroup, bool]:
    found = db.session.execute(select(VillageGroup).where(VillageGroup.village_id == village.id,
                                                          VillageGroup.name == name)).scalar()
    if found:
        return found, False
    return grid.create_group(actor, {"village_id": village.id, "name": name, "sort_order": order}), True


def _node(actor: Actor, parent: GridNode | None, name: str, order: int, **extra) -> tuple[GridNode, bool]:
    found = db.session.execute(select(GridNode).where(GridNode.parent_id == (parent.id if parent else None),
                                                      GridNode.name == name,
                                                      GridNode.retired_at.is_(None))).scalar()
    if found:
        return found, False
    data = {"parent_id": parent.id if parent else None, "name": name, "sort_order": order} | extra
    return grid.create_node(actor, data), True


def load_demo(admin_actor: Actor, villages: dict[str, Village]) -> dict:
    """Per village (in the order given): 4-6 groups; one large grid tied to the village; 2-3 medium
    grids by area (东片, 西片, 南片); two small grids per medium grid, each for one group; 2-3 micro
    grids per small grid named after its group (上屋组第1微网格). Returns what was added."""
    added = {"groups": 0, "nodes": 0}
    for i, village in enumerate(villages.values()):
        mediums = 2 + i % 2
        n_groups = 2 * mediums + (1 if mediums == 2 and i % 3 == 0 else 0)
        names = [GROUP_NAMES[(i * 3 + k) % len(GROUP_NAMES)] for k in range(n_groups)]
        groups = []
        for k, name in enumerate(names):
            group, new = _group(admin_actor, village, name, k + 1)
            groups.append(group)
            added["groups"] += new
        large, new = _node(admin_actor, None, f"{village.name}大网格", 0, village_id=village.id)
        added["nodes"] += new
        for m in range(mediums):
            medium, new = _node(admin_actor, large, f"{AREAS[m]}中网格", m + 1)
            added["nodes"] += new
            for s in range(2):
                group = groups[2 * m + s]
                small, new = _node(admin_actor, medium, f"{group.name}小网格", s + 1, group_id=group.id)
                added["nodes"] += new
                for k in range(2 + (i + m + s) % 2):
                    _micro, new = _node(admin_actor, small, f"{group.name}第{k + 1}微网格", k + 1, group_id=group.id)
                    added["nodes"] += new
    db.session.flush()
    return added
