"""The grid tree (大/中/小/微网格), its level names, and village groups (村民小组).

Nodes keep a materialized path of ids ("/<root>/<child>/…/<self>/"): a subtree is one prefix match,
so scope checks, household counts and moves touch only the subtree. Every change is checked
against the tree's rules before anything is written:
- a root is a large grid (level 1) and a child sits exactly one level below its parent; micro
  grids (level 4) have no children;
- below a node tied to a village every node belongs to that village;
- names are unique among active siblings; retired nodes take no children and no changes.
"""
from __future__ import annotations

import uuid
from collections import defaultdict

from flask import g
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import String, and_, case, func, literal, or_, select, update

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.audit.service import record
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, InputConflict, Invalid
from jifen.platform.input import Text, Uuid, Whole, check, value
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.roles.registry import AREA_CADRE, GRID_WORKER, VILLAGE_ADMIN
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import current_tenant_id, register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.villages import scopes  # noqa: F401 - registers the grid scope kind and paths
from jifen.tenants.villages.models import LARGE, LEVELS, MICRO, GridLevelName, GridNode, Village, VillageGroup

register_url_object("grid_node_id", GridNode)
register_url_object("group_id", VillageGroup)

DEFAULT_LEVEL_NAMES = {1: ("大网格", "Large grid"), 2: ("中网格", "Medium grid"), 3: ("小网格", "Small grid"),
                       4: ("微网格", "Micro grid")}
STAFF_ORDER = {VILLAGE_ADMIN: 0, AREA_CADRE: 1, GRID_WORKER: 2}
MAX_ORDER = 1_000_000


MAX_NAME = 64  # a node's or a village group's name (their columns)
MAX_LEVEL_NAME = 32  # a level's Chinese or English name (GridLevelName's columns)


def _name(value, errors: dict, limit: int = MAX_NAME, field: str = "name") -> str:
    required = _("Enter a name (at most %(n)d characters).", n=limit)
    return check(Text(limit, required=True, required_message=required), value, field, errors) or ""


def _order(value, errors: dict) -> int:
    return check(Whole(-MAX_ORDER, MAX_ORDER), value, "sort_order", errors) or 0


def _ids_in(path: str) -> list[uuid.UUID]:
    return [uuid.UUID(p) for p in path.strip("/").split("/") if p]


def _under(path: str):
    """SQL condition: a node lies in the subtree whose root has this path (itself included)."""
    return GridNode.path.startswith(path, autoescape=True)


# --- village groups (村民小组) ----------------------------------------------------------------

def _group_snapshot(group: VillageGroup) -> dict:
    return {"village_id": str(group.village_id), "name": group.name, "sort_order": group.sort_order}


def _group_key(group: VillageGroup) -> tuple:
    return group.sort_order, pinyin_key(group.name)


@action("village_group.list")
def list_groups(actor: Actor, village_id=None) -> list[VillageGroup]:
    """One village's groups (or every village's, village by village), by order then pinyin."""
    query = select(VillageGroup)
    if village_id not in (None, ""):
        village = tenant_get_or_404(Village, village_id)
        query = query.where(VillageGroup.village_id == village.id)
    groups = db.session.execute(query).scalars().all()
    names = dict(db.session.execute(select(Village.id, Village.name)).all())
    return sorted(groups, key=lambda gr: (pinyin_key(names.get(gr.village_id, "")), *_group_key(gr)))


@action("village_group.list")
def get_group(actor: Actor, group_id) -> VillageGroup:
    group = tenant_get_or_404(VillageGroup, group_id)
    return group


def _check_group(data: dict, errors: dict, group: VillageGroup | None = None) -> dict:
    name = _name(data.get("name", group.name if group else ""), errors)
    order = _order(data.get("sort_order", group.sort_order if group else 0), errors)
    return {"name": name, "sort_order": order}


def _group_name_free(village_id, name: str, conflicts: dict, group: VillageGroup | None = None) -> None:
    clash = db.session.execute(select(VillageGroup.id).where(VillageGroup.village_id == village_id,
                                                             VillageGroup.name == name)).scalar()
    if clash and (group is None or clash != group.id):
        conflicts["name"] = [_("This village already has a group called “%(name)s”.", name=name)]


@action("village_group.manage")
def create_group(actor: Actor, data: dict) -> VillageGroup:
    errors: dict = {}
    village_id = check(Uuid(), data.get("village_id"), "village_id", errors)
    if village_id is None and "village_id" not in errors:
        errors["village_id"] = [_("Choose a village.")]
    clean = _check_group(data, errors)
    Invalid.raise_if(errors)
    village = tenant_get(Village, village_id)
    if village is None:
        raise InputConflict.field("village_id", _("Choose a village."))
    authorize(actor, "village_group.manage", village)
    conflicts: dict = {}
    _group_name_free(village.id, clean["name"], conflicts)
    InputConflict.raise_if(conflicts)
    group = VillageGroup(village_id=village.id, **clean)
    db.session.add(group)
    db.session.flush()
    record(actor, "village_group.create", group, after=_group_snapshot(group))
    return group


@action("village_group.manage")
def update_group(actor: Actor, group_id, data: dict) -> VillageGroup:
    """Rename or reorder; a group stays in its village."""
    group = get_group(actor, group_id)
    authorize(actor, "village_group.manage", group)
    errors: dict = {}
    clean = _check_group(data, errors, group)
    Invalid.raise_if(errors)
    conflicts: dict = {}
    _group_name_free(group.village_id, clean["name"], conflicts, group)
    InputConflict.raise_if(conflicts)
    before = _group_snapshot(group)
    group.name, group.sort_order = clean["name"], clean["sort_order"]
    db.session.flush()
    record(actor, "village_group.update", group, before=before, after=_group_snapshot(group))
    return group


# --- level names ------------------------------------------------------------------------------

def level_names() -> dict[int, tuple[str, str]]:
    """(zh, en) name of each level: the township's own, else the defaults. Read once per request."""
    cache = g.setdefault("grid_level_names", {})
    tenant_id = current_tenant_id()
    if tenant_id not in cache:
        own = {r.level: (r.name_zh, r.name_en) for r in db.session.execute(select(GridLevelName)).scalars()}
        cache[tenant_id] = {level: own.get(level, DEFAULT_LEVEL_NAMES[level]) for level in LEVELS}
    return cache[tenant_id]


def level_name(level: int) -> str:
    """The level's name in the current language (English for en, Chinese otherwise)."""
    zh, en = level_names()[level]
    locale = get_locale()
    return en if locale is not None and locale.language == "en" else zh


@action("grid.view")
def get_levels(actor: Actor) -> list[dict]:
    return [{"level": level, "name_zh": zh, "name_en": en, "name": level_name(level),
             "is_default": (zh, en) == DEFAULT_LEVEL_NAMES[level]} for level, (zh, en) in level_names().items()]


@action("grid.manage")
def set_level_names(actor: Actor, levels: list[dict]) -> list[dict]:
    """Rename levels: a list of {level, name_zh, name_en}; levels left out keep their names.
    A bad name is reported under `name_zh_<level>` / `name_en_<level>`."""
    errors: dict = {}
    given: list[tuple[int, str, str]] = []
    for item in levels if isinstance(levels, list) else [None]:
        level = item.get("level") if isinstance(item, dict) else None
        if isinstance(level, bool) or level not in LEVELS:
            errors["levels"] = [_("Each entry names a level from 1 to 4.")]
            continue
        given.append((level, _name(item.get("name_zh"), errors, MAX_LEVEL_NAME, f"name_zh_{level}"),
                      _name(item.get("name_en"), errors, MAX_LEVEL_NAME, f"name_en_{level}")))
    Invalid.raise_if(errors)
    if not given:
        return get_levels(actor)  # nothing to rename
    conflicts: dict = {}  # the entries against each other and against the names the other levels keep
    wanted = dict(level_names())
    seen = set()
    for level, zh, en in given:
        if level in seen:
            conflicts["levels"] = [_("Level %(level)d is given twice.", level=level)]
        seen.add(level)
        wanted[level] = (zh, en)
    for lang, index in (("zh", 0), ("en", 1)):
        taken: dict[str, int] = {}
        for level in LEVELS:
            text = wanted[level][index]
            if text in taken:
                conflicts[f"name_{lang}_{level}"] = [_("Level %(other)d already has this name.", other=taken[text])]
            taken.setdefault(text, level)
    InputConflict.raise_if(conflicts)
    before = {str(k): list(v) for k, v in level_names().items()}
    rows = {r.level: r for r in db.session.execute(select(GridLevelName)).scalars()}
    for level in sorted(seen):
        row = rows.get(level) or GridLevelName(level=level)
        row.name_zh, row.name_en = wanted[level]
        db.session.add(row)
    db.session.flush()
    g.pop("grid_level_names", None)
    record(actor, "grid.levels", object_type="grid_level_names", before=before,
           after={str(k): list(v) for k, v in level_names().items()})
    return get_levels(actor)


# --- reading the tree -----------------------------------------------------------------------

def tree_order(nodes) -> list[tuple[GridNode, int]]:
    """(node, depth) depth-first, siblings by sort order then pinyin. A node whose parent is not
    among `nodes` heads a tree of its own. Depth counts from the township's roots (level - 1)."""
    ids = {n.id for n in nodes}
    children = defaultdict(list)
    for n in nodes:
        children[n.parent_id if n.parent_id in ids else None].append(n)
    out: list[tuple[GridNode, int]] = []

    def walk(parent_id):
        for n in sorted(children.get(parent_id, []), key=lambda n: (n.sort_order, pinyin_key(n.name))):
            out.append((n, len(_ids_in(n.path)) - 1))
            walk(n.id)

    walk(None)
    return out


@action("grid.view")
def get_node(actor: Actor, grid_node_id) -> GridNode:
    node = tenant_get_or_404(GridNode, grid_node_id)
    authorize(actor, "grid.view", node)
    return node


@action("grid.view")
def list_tree(actor: Actor, village_id=None, include_retired: bool = False) -> list[tuple[GridNode, int]]:
    """The nodes the actor may see, in tree order with their depth."""
    query = reach.filtered(select(GridNode), actor, "grid.view", GridNode)
    if village_id not in (None, ""):
        village = tenant_get_or_404(Village, village_id)
        query = query.where(GridNode.village_id == village.id)
    if not include_retired:
        query = query.where(GridNode.retired_at.is_(None))
    return tree_order(db.session.execute(query).scalars().all())


def subtree_ids(node: GridNode) -> set[uuid.UUID]:
    """The node and every node below it (retired ones too)."""
    return set(db.session.execute(select(GridNode.id).where(_under(node.path))).scalars())


def micro_nodes(village_id) -> list[GridNode]:
    """The village's active micro grids in tree order (where its households may sit)."""
    nodes = db.session.execute(select(GridNode).where(GridNode.village_id == village_id,
                                                      GridNode.retired_at.is_(None))).scalars().all()
    return [n for n, _depth in tree_order(nodes) if n.level == MICRO]


def household_counts(nodes) -> dict[uuid.UUID, int]:
    """Active households under each node, its whole subtree included: one grouped query by micro
    node path, summed up the paths here."""
    nodes = list(nodes)
    counts = {n.id: 0 for n in nodes}
    tops = [n.path for n in nodes if not any(a in counts for a in _ids_in(n.path)[:-1])]
    if not tops:
        return counts
    rows = db.session.execute(
        select(GridNode.path, func.count(Household.id))
        .select_from(Household)
        .join(GridNode, (GridNode.id == Household.grid_node_id) & (GridNode.tenant_id == Household.tenant_id))
        .where(Household.status == ACTIVE, or_(*(_under(p) for p in tops)))
        .group_by(GridNode.path)).all()
    for path, n in rows:
        for node_id in _ids_in(path):
            if node_id in counts:
                counts[node_id] += n
    return counts


def village_tops(nodes) -> dict[uuid.UUID, uuid.UUID]:
    """{node id: village id} for the nodes where a village's part of the tree begins (tied to a
    village, their parent not): where village admins and area cadres are shown."""
    nodes = list(nodes)
    villages = {n.id: n.village_id for n in nodes}
    missing = {n.parent_id for n in nodes if n.village_id and n.parent_id and n.parent_id not in villages}
    if missing:
        villages |= dict(db.session.execute(select(GridNode.id, GridNode.village_id)
                                            .where(GridNode.id.in_(list(missing)))).all())
    return {n.id: n.village_id for n in nodes if n.village_id and not (n.parent_id and villages.get(n.parent_id))}


def staff_by_node(nodes) -> dict[uuid.UUID, list[dict]]:
    """{node id: [{"user", "role"}]}: each node's grid workers, and on the node where a village's
    part of the tree begins, that village's admins and area cadres. Active accounts, pinyin order."""
    nodes = list(nodes)
    out: dict[uuid.UUID, list[dict]] = {n.id: [] for n in nodes}
    if not nodes:
        return out
    tops = village_tops(nodes)
    rows = db.session.execute(
        select(User, RoleAssignment.role, RoleScope.scope_id)
        .join(RoleAssignment, (RoleAssignment.user_id == User.id) & (RoleAssignment.tenant_id == User.tenant_id))
        .join(RoleScope, (RoleScope.assignment_id == RoleAssignment.id)
              & (RoleScope.tenant_id == RoleAssignment.tenant_id))
        .where(User.status == User.ACTIVE, or_(
            and_(RoleAssignment.role == GRID_WORKER, RoleScope.scope_kind == "grid_node",
                 RoleScope.scope_id.in_(list(out))),
            and_(RoleAssignment.role.in_((VILLAGE_ADMIN, AREA_CADRE)), RoleScope.scope_kind == "village",
                 RoleScope.scope_id.in_(list(set(tops.values()))))))).all()
    for user, role, scope_id in rows:
        targets = [scope_id] if role == GRID_WORKER else [n for n, v in tops.items() if v == scope_id]
        for node_id in targets:
            out[node_id].append({"user": user, "role": role})
    for people in out.values():
        people.sort(key=lambda p: (STAFF_ORDER[p["role"]], pinyin_key(p["user"].display_name)))
    return out


def describe(rows) -> list[dict]:
    """What pages and the API show per node: level name, village, group, active household count,
    staff and path ids. `rows` are nodes or (node, depth) pairs."""
    rows = [r if isinstance(r, tuple) else (r, len(_ids_in(r.path)) - 1) for r in rows]
    nodes = [n for n, _depth in rows]
    counts, people = household_counts(nodes), staff_by_node(nodes)
    villages = dict(db.session.execute(select(Village.id, Village.name)).all())
    group_ids = {n.group_id for n in nodes if n.group_id}
    groups = dict(db.session.execute(select(VillageGroup.id, VillageGroup.name)
                                     .where(VillageGroup.id.in_(list(group_ids)))).all()) if group_ids else {}
    return [{"node": n, "depth": depth, "level_name": level_name(n.level), "path_ids": _ids_in(n.path),
             "village_name": villages.get(n.village_id), "group_name": groups.get(n.group_id),
             "household_count": counts[n.id], "staff": people[n.id]} for n, depth in rows]


def ancestors(node: GridNode) -> list[GridNode]:
    """The nodes above this one, root first."""
    ids = _ids_in(node.path)[:-1]
    found = {n.id: n for n in db.session.execute(select(GridNode).where(GridNode.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found]


def children(node: GridNode, include_retired: bool = False) -> list[GridNode]:
    query = select(GridNode).where(GridNode.parent_id == node.id)
    if not include_retired:
        query = query.where(GridNode.retired_at.is_(None))
    return [n for n, _depth in tree_order(db.session.execute(query).scalars().all())]


def parent_choices(node: GridNode | None = None) -> list[tuple[GridNode, str]]:
    """Active nodes that can take children (all but micro grids), labelled by their path of names,
    in tree order; for moving `node`: those one level above it, outside its subtree."""
    nodes = db.session.execute(select(GridNode).where(GridNode.retired_at.is_(None),
                                                      GridNode.level < MICRO)).scalars().all()
    names = {n.id: n.name for n in nodes}
    return [(n, " › ".join(names.get(i, "?") for i in _ids_in(n.path))) for n, _depth in tree_order(nodes)
            if node is None or (n.level == node.level - 1 and not n.path.startswith(node.path))]


# --- changing the tree -----------------------------------------------------------------------

def _snapshot(node: GridNode) -> dict:
    return {"name": node.name, "level": node.level, "parent_id": str(node.parent_id) if node.parent_id else None,
            "village_id": str(node.village_id) if node.village_id else None,
            "group_id": str(node.group_id) if node.group_id else None, "sort_order": node.sort_order,
            "path": node.path, "retired": node.retired_at is not None}


def _node_named(node_id, field: str, conflicts: dict) -> GridNode | None:
    node = tenant_get(GridNode, node_id) if node_id else None
    if node_id and node is None:
        conflicts[field] = [_("There is no such grid.")]
    return node


def _active_node(grid_node_id) -> GridNode:
    node = tenant_get_or_404(GridNode, grid_node_id)
    if node.retired_at is not None:
        raise Conflict(_("“%(name)s” has been retired and cannot be changed.", name=node.name))
    return node


def _village_name(village_id) -> str:
    village = tenant_get(Village, village_id) if village_id else None
    return village.name if village else _("no village")


def _check_village(parent: GridNode | None, village_id, conflicts: dict) -> uuid.UUID | None:
    """The village a node under `parent` belongs to: the parent's, or the one named (or none)."""
    if parent is not None and parent.village_id:
        if village_id and village_id != parent.village_id:
            conflicts["village_id"] = [_("Grids below “%(parent)s” belong to its village, %(village)s.",
                                         parent=parent.name, village=_village_name(parent.village_id))]
        return parent.village_id
    if village_id and tenant_get(Village, village_id) is None:
        conflicts["village_id"] = [_("Choose one of the township's villages.")]
        return None
    return village_id


def _check_group_of(village_id, group_id, conflicts: dict) -> uuid.UUID | None:
    if group_id is None:
        return None
    group = tenant_get(VillageGroup, group_id)
    if group is None or group.village_id != village_id or not village_id:
        conflicts["group_id"] = [_("Choose a group of the grid's own village.") if village_id
                                 else _("Tie the grid to a village before choosing a village group.")]
        return None
    return group_id


def _check_sibling_name(parent_id, name: str, conflicts: dict, field: str = "name", node: GridNode | None = None):
    if not name or field in conflicts:
        return
    clash = db.session.execute(select(GridNode.id).where(GridNode.parent_id == parent_id, GridNode.name == name,
                                                         GridNode.retired_at.is_(None))).scalar()
    if clash and (node is None or clash != node.id):
        conflicts[field] = [_("Another grid at this place in the tree is already called “%(name)s”.", name=name)]


def _households_under(node: GridNode, *, active_only: bool = False, outside_village=None) -> int:
    query = select(func.count()).select_from(Household).where(
        Household.grid_node_id.in_(select(GridNode.id).where(_under(node.path))))
    if active_only:
        query = query.where(Household.status == ACTIVE)
    if outside_village is not None:
        query = query.where(Household.village_id != outside_village)
    return db.session.execute(query).scalar_one()


@action("grid.manage")
def create_node(actor: Actor, data: dict) -> GridNode:
    """A large grid (no parent) or a grid one level below its parent."""
    errors: dict = {}
    parent_id = check(Uuid(), data.get("parent_id"), "parent_id", errors)
    given = check(Whole(LARGE, MICRO), data.get("level"), "level", errors)
    wanted_village = check(Uuid(), data.get("village_id"), "village_id", errors)
    wanted_group = check(Uuid(), data.get("group_id"), "group_id", errors)
    name = _name(data.get("name"), errors)
    order = _order(data.get("sort_order"), errors)
    Invalid.raise_if(errors)
    conflicts: dict = {}
    parent = _node_named(parent_id, "parent_id", conflicts)
    if parent is not None and parent.retired_at is not None:
        conflicts["parent_id"] = [_("“%(name)s” has been retired and takes no new grids.", name=parent.name)]
    elif parent is not None and parent.level == MICRO:
        conflicts["parent_id"] = [_("“%(name)s” is a %(level)s, the lowest level: it has no grids below it.",
                                    name=parent.name, level=level_name(MICRO))]
    level = parent.level + 1 if parent is not None else LARGE
    if given is not None and given != level and "parent_id" not in conflicts:
        if parent is None:
            conflicts["level"] = [_("A grid without a parent is a %(level)s (level 1); choose its parent to add a "
                                    "lower level.", level=level_name(LARGE))]
        else:
            conflicts["level"] = [_("Below a %(parent_level)s comes a %(level)s (level %(n)d).",
                                    parent_level=level_name(parent.level), level=level_name(level), n=level)]
    village_id = _check_village(parent, wanted_village, conflicts)
    group_id = _check_group_of(village_id, wanted_group, conflicts)
    _check_sibling_name(parent.id if parent else None, name, conflicts)
    InputConflict.raise_if(conflicts)
    node_id = new_id()
    node = GridNode(id=node_id, parent_id=parent.id if parent else None, level=level, name=name,
                    village_id=village_id, group_id=group_id, sort_order=order,
                    path=f"{parent.path if parent else '/'}{node_id}/")
    db.session.add(node)
    db.session.flush()
    record(actor, "grid.create", node, after=_snapshot(node))
    return node


@action("grid.manage")
def update_node(actor: Actor, grid_node_id, data: dict) -> GridNode:
    """Rename, reorder, tie to a village or a village group; keys left out stay as they are.

    The village can change only while the node's subtree holds no households; the whole subtree
    follows it (and drops village groups of the old village)."""
    node = _active_node(grid_node_id)
    errors: dict = {}
    name = _name(data["name"], errors) if "name" in data else node.name
    order = _order(data["sort_order"], errors) if "sort_order" in data else node.sort_order
    wanted_village = check(Uuid(), data["village_id"], "village_id", errors) if "village_id" in data else None
    wanted_group = check(Uuid(), data["group_id"], "group_id", errors) if "group_id" in data else None
    Invalid.raise_if(errors)
    conflicts: dict = {}
    _check_sibling_name(node.parent_id, name, conflicts, node=node)
    parent = tenant_get(GridNode, node.parent_id) if node.parent_id else None
    village_id = _check_village(parent, wanted_village, conflicts) if "village_id" in data else node.village_id
    moving_village = "village_id" not in conflicts and village_id != node.village_id
    if moving_village:
        held = _households_under(node)
        if held:
            conflicts["village_id"] = [ngettext(
                "“%(name)s” and the grids below it hold %(num)d household; the village can change only while "
                "they hold none.", "“%(name)s” and the grids below it hold %(num)d households; the village can "
                "change only while they hold none.", held, name=node.name)]
        elif village_id and node.village_id is None and db.session.execute(
                select(GridNode.id).where(_under(node.path), GridNode.village_id.is_not(None),
                                          GridNode.village_id != village_id)).first():
            conflicts["village_id"] = [_("Grids below “%(name)s” are tied to another village.", name=node.name)]
    if "group_id" in data:
        group_id = _check_group_of(village_id, wanted_group, conflicts)
    else:
        group_id = node.group_id if not moving_village else None
    InputConflict.raise_if(conflicts)
    before = _snapshot(node)
    if moving_village:
        db.session.execute(update(GridNode).where(_under(node.path), GridNode.id != node.id).values(
            village_id=village_id,
            group_id=case((GridNode.village_id == village_id, GridNode.group_id), else_=None)))
    node.name, node.sort_order, node.village_id, node.group_id = name, order, village_id, group_id
    db.session.flush()
    record(actor, "grid.update", node, before=before, after=_snapshot(node))
    return node


def _own_ties_outside(node: GridNode, village_id) -> bool:
    """Does the subtree hold a node tied to a village other than `village_id` by its own choice
    (not inherited from the node's current parent)?"""
    parent = tenant_get(GridNode, node.parent_id) if node.parent_id else None
    rows = db.session.execute(select(GridNode.id, GridNode.parent_id, GridNode.village_id)
                              .where(_under(node.path))).all()
    villages = {r.id: r.village_id for r in rows} | ({parent.id: parent.village_id} if parent else {})
    return any(r.village_id and r.village_id != village_id and not villages.get(r.parent_id) for r in rows)


@action("grid.manage")
def move_node(actor: Actor, grid_node_id, parent_id) -> GridNode:
    """Move a node with its subtree under another node one level up. One UPDATE rewrites the
    subtree's paths (and the node's parent); under a village-tied parent the subtree joins that
    village."""
    node = _active_node(grid_node_id)
    errors: dict = {}
    parent_id = check(Uuid(), parent_id, "parent_id", errors)
    if parent_id is None and not errors and node.level != LARGE:
        errors["parent_id"] = [_("Choose the grid to move it under.")]
    Invalid.raise_if(errors)
    conflicts: dict = {}
    parent = _node_named(parent_id, "parent_id", conflicts)
    if node.level == LARGE:
        conflicts["parent_id"] = [_("A %(level)s is a top-level grid and has no parent.", level=level_name(LARGE))]
    elif parent is not None:
        if parent.path.startswith(node.path):
            conflicts["parent_id"] = [_("Grid loop: “%(parent)s” is “%(name)s” itself or lies below it.",
                                        parent=parent.name, name=node.name)]
        elif parent.retired_at is not None:
            conflicts["parent_id"] = [_("“%(name)s” has been retired and takes no new grids.", name=parent.name)]
        elif parent.level != node.level - 1:
            conflicts["parent_id"] = [
                _("“%(name)s” is a %(level)s and can only go under a %(needed)s; “%(parent)s” is a %(parent_level)s.",
                  name=node.name, level=level_name(node.level), parent=parent.name,
                  parent_level=level_name(parent.level), needed=level_name(node.level - 1))]
        elif parent.id != node.parent_id:
            _check_sibling_name(parent.id, node.name, conflicts, field="parent_id")
    if "parent_id" not in conflicts and parent.village_id and parent.village_id != node.village_id:
        held = _households_under(node, outside_village=parent.village_id)
        if held:
            conflicts["parent_id"] = [ngettext(
                "“%(name)s” holds %(num)d household of %(village)s; it cannot move into %(other)s.",
                "“%(name)s” holds %(num)d households of %(village)s; it cannot move into %(other)s.", held,
                name=node.name, village=_village_name(node.village_id), other=_village_name(parent.village_id))]
        elif _own_ties_outside(node, parent.village_id):
            conflicts["parent_id"] = [_("“%(name)s” or grids below it are tied to another village than %(other)s; "
                                        "untie them first.", name=node.name, other=_village_name(parent.village_id))]
    InputConflict.raise_if(conflicts)
    if parent.id == node.parent_id:
        return node
    before = _snapshot(node)
    old, new = node.path, f"{parent.path}{node.id}/"
    values = {"path": literal(new, String) + func.substr(GridNode.path, len(old) + 1, type_=String),
              "parent_id": case((GridNode.id == node.id, parent.id), else_=GridNode.parent_id)}
    if parent.village_id and parent.village_id != node.village_id:
        values |= {"village_id": parent.village_id,
                   "group_id": case((GridNode.village_id == parent.village_id, GridNode.group_id), else_=None)}
    moved = db.session.execute(update(GridNode).where(_under(old)).values(**values),
                               execution_options={"synchronize_session": "fetch"}).rowcount
    db.session.refresh(node)
    record(actor, "grid.move", node, before=before, after=_snapshot(node) | {"subtree_nodes": moved})
    return node


@action("grid.manage")
def retire_node(actor: Actor, grid_node_id) -> GridNode:
    """Retire a node and its whole subtree, once no active household is left under it."""
    node = _active_node(grid_node_id)
    held = _households_under(node, active_only=True)
    if held:
        raise Conflict(ngettext(
            "%(num)d active household is still under “%(name)s”; move it to another micro grid first.",
            "%(num)d active households are still under “%(name)s”; move them to other micro grids first.",
            held, name=node.name))
    before = _snapshot(node)
    retired = db.session.execute(update(GridNode).where(_under(node.path), GridNode.retired_at.is_(None))
                                 .values(retired_at=clock.now())).rowcount
    db.session.refresh(node)
    record(actor, "grid.retire", node, before=before, after=_snapshot(node) | {"subtree_nodes": retired})
    return node


# --- grid workers: roles stay the staff service's business ------------------------------------

def _staff_member(user_id) -> User:
    user_uuid = value(Uuid(), user_id, "user_id")
    if user_uuid is None:
        raise Invalid.field("user_id", _("Choose a person from the township's staff."))
    user = tenant_get(User, user_uuid)
    if user is None:
        raise InputConflict.field("user_id", _("Choose a person from the township's staff."))
    return user


def _worker_nodes(user: User) -> tuple[set, list[dict]]:
    """The grid nodes of the user's grid worker role, and their other roles."""
    roles = staff.roles_of([user.id]).get(user.id, [])
    nodes = {i for r in roles if r["role"] == GRID_WORKER for i in r["scope_ids"]}
    return nodes, [r for r in roles if r["role"] != GRID_WORKER]


@action("grid.manage")
def assign_grid_worker(actor: Actor, grid_node_id, user_id) -> User:
    """Make the person a grid worker of this node too, keeping their other roles and nodes."""
    node = _active_node(grid_node_id)
    user = _staff_member(user_id)
    if not user.is_active:
        raise InputConflict.field("user_id", _("This account is disabled."))
    nodes, others = _worker_nodes(user)
    if node.id in nodes:
        raise InputConflict.field("user_id", _("%(name)s is already a grid worker of this grid.", name=user.display_name))
    return staff.set_roles(actor, user.id, others + [{"role": GRID_WORKER, "scope_ids": sorted(nodes | {node.id})}])


@action("grid.manage")
def remove_grid_worker(actor: Actor, grid_node_id, user_id) -> User:
    node = tenant_get_or_404(GridNode, grid_node_id)
    user = _staff_member(user_id)
    nodes, others = _worker_nodes(user)
    if node.id not in nodes:
        raise InputConflict.field("user_id", _("%(name)s is not a grid worker of this grid.", name=user.display_name))
    rest = sorted(nodes - {node.id})
    roles = others + ([{"role": GRID_WORKER, "scope_ids": rest}] if rest else [])
    if not roles:
        raise InputConflict.field("user_id", _("This is the person's only role: give them another role or disable "
                                         "the account on the staff page."))
    return staff.set_roles(actor, user.id, roles)
