"""The four-level grid, its level names and village groups: tree rules, moves, retiring, scope,
staff, pages, API, audit, other townships."""
from __future__ import annotations

import uuid

import pytest
from flask_babel import force_locale
from sqlalchemy import event, func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.roles.authz import Actor, Grant, authorize
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.villages import demo, grid
from jifen.tenants.villages import service as village_service
from jifen.tenants.villages.models import GridLevelName, GridNode, Village, VillageGroup
from tests.conftest import api_token, bearer, csrf_token, make_world, page_login

API = "/api/v1/t/alpha/grid"
PAGES = "/t/alpha/grid"


def _count(model, **where) -> int:
    q = select(func.count()).select_from(model)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return db.session.execute(q).scalar()


def _node(node_id) -> GridNode:
    """The row as the database has it now."""
    return db.session.execute(select(GridNode).where(GridNode.id == node_id)
                              .execution_options(populate_existing=True)).scalar_one()


LOOP = "本身，或在它下面"  # the grid-loop error, in Chinese (the default language)


@pytest.fixture
def alpha(ctx):
    """(world, actor(role)) inside alpha's scope. The world's branch in 官田村: large › medium (the
    grid worker's) › small › micro with one active household."""
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        def actor(role="township_admin"):
            return actor_for(db.session.get(User, (tenant.id, world.a.user_id(role))))

        yield world, actor


def _branch(admin, village_id, prefix="礼坑") -> list[GridNode]:
    """A fresh four-level branch tied to a village, built through the service."""
    large = grid.create_node(admin, {"name": f"{prefix}大网格", "village_id": village_id})
    medium = grid.create_node(admin, {"parent_id": large.id, "name": f"{prefix}东片"})
    small = grid.create_node(admin, {"parent_id": medium.id, "name": f"{prefix}上屋组"})
    micro = grid.create_node(admin, {"parent_id": small.id, "name": f"{prefix}上屋组第1微网格"})
    return [large, medium, small, micro]


def _household(node: GridNode, plate: str, status="active") -> Household:
    h = Household(village_id=node.village_id, grid_node_id=node.id, door_plate=plate, head_name="李四", status=status)
    db.session.add(h)
    db.session.flush()
    return h


# --- building the tree ------------------------------------------------------------------------

def test_a_full_branch_gets_levels_village_paths_and_audit(alpha):
    world, actor = alpha
    admin = actor()
    village = world.a.villages[1]
    large, medium, small, micro = _branch(admin, village)
    assert [n.level for n in (large, medium, small, micro)] == [1, 2, 3, 4]
    assert {n.village_id for n in (large, medium, small, micro)} == {village}  # inherited below the tie
    assert micro.path == f"/{large.id}/{medium.id}/{small.id}/{micro.id}/"
    assert micro.ancestor_ids() == [large.id, medium.id, small.id, micro.id]
    tree = grid.list_tree(admin, village_id=village)
    assert [(n.name, depth) for n, depth in tree] == [("礼坑大网格", 0), ("礼坑东片", 1), ("礼坑上屋组", 2),
                                                     ("礼坑上屋组第1微网格", 3)]
    assert grid.micro_nodes(village) == [micro]
    assert grid.subtree_ids(medium) == {medium.id, small.id, micro.id}
    entries = db.session.execute(select(AuditEntry).where(AuditEntry.action == "grid.create")
                                 .order_by(AuditEntry.seq)).scalars().all()
    assert [e.after["name"] for e in entries][-4:] == ["礼坑大网格", "礼坑东片", "礼坑上屋组", "礼坑上屋组第1微网格"]
    assert entries[-1].after["village_id"] == str(village)


def test_siblings_sort_by_order_then_pinyin(alpha):
    world, actor = alpha
    admin = actor()
    root = grid.create_node(admin, {"name": "测试大网格"})
    for name, order in (("张屋", 0), ("王屋", 0), ("李屋", 0), ("最先", -1)):
        grid.create_node(admin, {"parent_id": root.id, "name": name, "sort_order": order})
    names = [n.name for n, _ in grid.list_tree(admin) if n.parent_id == root.id]
    assert names == ["最先", "李屋", "王屋", "张屋"]


@pytest.mark.parametrize("case,field,refusal", [
    ("root_level_2", "level", InputConflict), ("child_wrong_level", "level", InputConflict),
    ("under_micro", "parent_id", InputConflict), ("unknown_parent", "parent_id", InputConflict),
    ("junk_parent", "parent_id", Invalid), ("other_village", "village_id", InputConflict),
    ("unknown_village", "village_id", InputConflict), ("group_of_other_village", "group_id", InputConflict),
    ("group_without_village", "group_id", InputConflict), ("empty_name", "name", Invalid),
    ("long_name", "name", Invalid), ("sibling_name", "name", InputConflict), ("bad_order", "sort_order", Invalid),
])
def test_bad_nodes_are_refused_naming_the_field_and_write_nothing(alpha, case, field, refusal):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid
    other_group = grid.create_group(admin, {"village_id": world.a.villages[1], "name": "上屋组"})
    db.session.commit()
    data = {
        "root_level_2": {"name": "x", "level": 2},
        "child_wrong_level": {"parent_id": large, "name": "x", "level": 3},
        "under_micro": {"parent_id": micro, "name": "x"},
        "unknown_parent": {"parent_id": "00000000-0000-0000-0000-000000000000", "name": "x"},
        "junk_parent": {"parent_id": "not-an-id", "name": "x"},
        "other_village": {"parent_id": large, "name": "x", "village_id": world.a.villages[1]},
        "unknown_village": {"name": "x", "village_id": "00000000-0000-0000-0000-000000000000"},
        "group_of_other_village": {"parent_id": large, "name": "x", "group_id": other_group.id},
        "group_without_village": {"name": "x", "group_id": other_group.id},
        "empty_name": {"parent_id": large, "name": "  "},
        "long_name": {"parent_id": large, "name": "网" * 65},
        "sibling_name": {"parent_id": large, "name": "中网格"},
        "bad_order": {"parent_id": large, "name": "x", "sort_order": "first"},
    }[case]
    nodes, audits = _count(GridNode), _count(AuditEntry)
    with pytest.raises(refusal) as e:
        grid.create_node(admin, data)
    assert field in e.value.errors, e.value.errors
    db.session.rollback()
    assert (_count(GridNode), _count(AuditEntry)) == (nodes, audits)


def test_retired_parents_take_no_children_and_names_free_up(alpha):
    world, actor = alpha
    admin = actor()
    large = world.a.grid[0]
    extra = grid.create_node(admin, {"parent_id": large, "name": "北片"})
    grid.retire_node(admin, extra.id)
    with pytest.raises(InputConflict) as e:
        grid.create_node(admin, {"parent_id": extra.id, "name": "x"})
    assert "已停用" in e.value.errors["parent_id"][0]
    again = grid.create_node(admin, {"parent_id": large, "name": "北片"})  # unique among active siblings only
    assert again.id != extra.id
    with pytest.raises(Conflict):
        grid.update_node(admin, extra.id, {"name": "改名"})


# --- moving ---------------------------------------------------------------------------------

def test_moves_that_break_the_tree_are_refused(alpha):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid
    other_large = grid.create_node(admin, {"name": "另一大网格", "village_id": world.a.villages[0]})
    retired_medium = grid.create_node(admin, {"parent_id": other_large.id, "name": "旧片"})
    grid.retire_node(admin, retired_medium.id)
    db.session.commit()
    audits = _count(AuditEntry)
    cases = [(medium, medium, LOOP), (medium, small, LOOP), (medium, micro, LOOP),
             (small, other_large.id, "只能放在"), (large, other_large.id, "最高一级"),
             (small, retired_medium.id, "已停用"), (small, None, "请选择")]
    for node, parent, words in cases:
        with pytest.raises(Invalid if parent is None else InputConflict) as e:
            grid.move_node(admin, node, parent)
        assert words in e.value.errors["parent_id"][0], (node, parent, e.value.errors)
    with pytest.raises(Conflict):
        grid.move_node(admin, retired_medium.id, other_large.id)
    db.session.rollback()
    assert _count(AuditEntry) == audits
    assert _node(small).path == f"/{large}/{medium}/{small}/"


def test_move_rewrites_the_subtree_in_one_update_and_scope_follows(alpha):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid  # the grid worker `gridder` looks after `medium`
    east = grid.create_node(admin, {"parent_id": large, "name": "东片"})
    east_small = grid.create_node(admin, {"parent_id": east.id, "name": "下屋组"})
    east_micro = grid.create_node(admin, {"parent_id": east_small.id, "name": "下屋组第1微网格"})
    household = _household(east_micro, "下屋8号")
    east_worker = Actor("user", world.a.user_id("panel_member"), "东片网格员", tenant_id=world.a.tenant_id,
                        grants=(Grant("grid_worker", frozenset({east.id})),))
    gridder = actor("grid_worker")
    authorize(east_worker, "household.view", household)
    with pytest.raises(NotFound):
        authorize(gridder, "household.view", household)
    db.session.commit()

    statements = []
    listener = lambda conn, cursor, sql, *args: statements.append(sql)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        moved = grid.move_node(admin, east_small.id, medium)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE GRID_NODES")]
    assert len(updates) == 1, updates
    db.session.commit()
    assert moved.parent_id == medium
    assert _node(east_small.id).path == f"/{large}/{medium}/{east_small.id}/"
    assert _node(east_micro.id).path == f"/{large}/{medium}/{east_small.id}/{east_micro.id}/"
    authorize(gridder, "household.view", household)  # now under the gridder's medium grid
    with pytest.raises(NotFound):
        authorize(east_worker, "household.view", household)
    seen = {n.id for n, _ in grid.list_tree(gridder)}
    assert {east_small.id, east_micro.id} <= seen and east.id not in seen
    counts = grid.household_counts([_node(large), _node(medium), east])
    assert (counts[large], counts[medium], counts[east.id]) == (2, 2, 0)
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "grid.move")).scalar_one()
    assert entry.before["parent_id"] == str(east.id) and entry.after["parent_id"] == str(medium)
    assert entry.after["subtree_nodes"] == 2


# --- villages ---------------------------------------------------------------------------------

def test_nodes_below_a_village_stay_in_it(alpha):
    world, actor = alpha
    admin = actor()
    v0, v1, v2 = world.a.villages
    large, medium, small, micro = world.a.grid
    with pytest.raises(InputConflict) as e:  # inherited village: cannot name another
        grid.update_node(admin, small, {"village_id": v1})
    assert "village_id" in e.value.errors
    # the village of a subtree that holds households is fixed
    with pytest.raises(InputConflict) as e:
        grid.update_node(admin, large, {"village_id": v1})
    assert "1 户" in e.value.errors["village_id"][0]
    # an untied root: tie it later, the subtree follows and drops groups of other villages
    root = grid.create_node(admin, {"name": "片区大网格"})
    child = grid.create_node(admin, {"parent_id": root.id, "name": "一片"})
    assert child.village_id is None
    group = grid.create_group(admin, {"village_id": v2, "name": "岭下组"})
    grid.update_node(admin, root.id, {"village_id": v2, "group_id": group.id})
    assert (_node(root.id).village_id, _node(child.id).village_id, _node(root.id).group_id) == (v2, v2, group.id)
    grid.update_node(admin, child.id, {"group_id": group.id})
    grid.update_node(admin, root.id, {"village_id": v1})  # no households: allowed, groups of v2 dropped
    assert (_node(child.id).village_id, _node(child.id).group_id, _node(root.id).group_id) == (v1, None, None)


def test_moving_into_another_village(alpha):
    world, actor = alpha
    admin = actor()
    v0, v1, _v2 = world.a.villages
    large, medium, small, micro = world.a.grid  # in v0, one household on micro
    other = grid.create_node(admin, {"name": "礼坑大网格", "village_id": v1})
    other_medium = grid.create_node(admin, {"parent_id": other.id, "name": "礼坑东片"})
    with pytest.raises(InputConflict) as e:  # the small grid carries a household of v0
        grid.move_node(admin, small, other_medium.id)
    assert "1 户" in e.value.errors["parent_id"][0]
    empty = grid.create_node(admin, {"parent_id": medium, "name": "空小网格"})
    leaf = grid.create_node(admin, {"parent_id": empty.id, "name": "空微网格"})
    grid.move_node(admin, empty.id, other_medium.id)  # its tie was inherited, no households: joins v1
    assert (_node(empty.id).village_id, _node(leaf.id).village_id) == (v1, v1)
    # an untied branch whose lower node chose a village of its own cannot be pulled into v1
    free = grid.create_node(admin, {"name": "跨村大网格"})
    free_medium = grid.create_node(admin, {"parent_id": free.id, "name": "跨村一片", "village_id": v0})
    with pytest.raises(InputConflict) as e:
        grid.move_node(admin, free_medium.id, other.id)
    assert "关联的村不是" in e.value.errors["parent_id"][0]


# --- retiring ---------------------------------------------------------------------------------

def test_retire_is_refused_while_households_remain_then_retires_the_subtree(alpha):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid
    _household(_node(micro), "2号")
    db.session.commit()
    audits = _count(AuditEntry)
    with pytest.raises(Conflict) as e:
        grid.retire_node(admin, medium)
    assert "2" in e.value.message and "中网格" in e.value.message  # the count and the node, in any language
    db.session.rollback()
    assert _count(AuditEntry) == audits and _node(medium).retired_at is None
    for h in db.session.execute(select(Household)).scalars():
        h.status = "moved_out"
    grid.retire_node(admin, medium)
    assert all(_node(i).retired_at is not None for i in (medium, small, micro))
    assert _node(large).retired_at is None
    assert [n.id for n, _ in grid.list_tree(admin)] == [large]
    assert {n.id for n, _ in grid.list_tree(admin, include_retired=True)} == {large, medium, small, micro}
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "grid.retire")).scalar_one()
    assert entry.after["retired"] is True and entry.after["subtree_nodes"] == 3
    with pytest.raises(Conflict):
        grid.retire_node(admin, medium)


# --- scope ----------------------------------------------------------------------------------

def test_each_role_sees_its_own_part_of_the_tree(alpha):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid
    sibling = grid.create_node(admin, {"parent_id": large, "name": "西片"})
    other = grid.create_node(admin, {"name": "梅园大网格", "village_id": world.a.villages[2]})
    gridder = actor("grid_worker")
    assert [n.id for n, _ in grid.list_tree(gridder)] == [medium, small, micro]
    assert [d for _, d in grid.list_tree(gridder)] == [1, 2, 3]
    for outside in (large, sibling.id, other.id):
        with pytest.raises(NotFound):
            grid.get_node(gridder, outside)
    assert grid.get_node(gridder, micro).id == micro
    village_admin = {n.id for n, _ in grid.list_tree(actor("village_admin"))}
    assert village_admin == {large, medium, small, micro, sibling.id}
    assert {n.id for n, _ in grid.list_tree(actor("area_cadre"))} == village_admin  # 官田村 and 礼坑村
    with pytest.raises(NotFound):
        grid.get_node(actor("village_admin"), other.id)
    for role in ("storekeeper", "villager"):
        with pytest.raises(Forbidden):
            grid.list_tree(actor(role))
    with pytest.raises(Forbidden):
        grid.create_node(gridder, {"parent_id": micro, "name": "x"})


# --- staff ----------------------------------------------------------------------------------

def test_grid_workers_are_assigned_through_the_staff_service(alpha):
    world, actor = alpha
    admin = actor()
    large, medium, small, micro = world.a.grid
    panel = world.a.user_id("panel_member")
    grid.assign_grid_worker(admin, small, panel)
    grid.assign_grid_worker(admin, micro, panel)
    roles = {r["role"]: r["scope_ids"] for r in staff.roles_of([panel])[panel]}
    assert roles == {"panel_member": [world.a.villages[1]], "grid_worker": sorted([small, micro])}
    people = grid.staff_by_node([_node(i) for i in (large, medium, small, micro)])
    names = {k: [(p["user"].username, p["role"]) for p in v] for k, v in people.items()}
    assert names[large] == [("vadmin", "village_admin"), ("cadre", "area_cadre")]
    assert names[medium] == [("gridder", "grid_worker")]
    assert names[small] == [("panel", "grid_worker")]
    with pytest.raises(InputConflict) as e:
        grid.assign_grid_worker(admin, small, panel)
    assert "user_id" in e.value.errors
    grid.remove_grid_worker(admin, small, panel)
    assert {r["role"]: r["scope_ids"] for r in staff.roles_of([panel])[panel]}["grid_worker"] == [micro]
    grid.remove_grid_worker(admin, micro, panel)
    assert staff.roles_of([panel])[panel] == [{"role": "panel_member", "scope_ids": [world.a.villages[1]]}]
    with pytest.raises(InputConflict) as e:  # the gridder's only role
        grid.remove_grid_worker(admin, medium, world.a.user_id("grid_worker"))
    assert "user_id" in e.value.errors
    with pytest.raises(Invalid) as e:
        grid.assign_grid_worker(admin, small, "nobody")
    assert "user_id" in e.value.errors
    assert _count(AuditEntry, action="staff.set_roles") == 4


# --- level names and village groups ------------------------------------------------------------

def test_level_names_default_rename_and_follow_the_language(alpha):
    world, actor = alpha
    admin = actor()
    assert [r["name_zh"] for r in grid.get_levels(admin)] == ["大网格", "中网格", "小网格", "微网格"]
    with force_locale("en"):
        assert grid.level_name(4) == "Micro grid"
    grid.set_level_names(admin, [{"level": 1, "name_zh": "一级网格", "name_en": "Level-1 grid"}])
    assert grid.level_name(1) == "一级网格"
    with force_locale("en"):
        assert grid.level_name(1) == "Level-1 grid" and grid.level_name(2) == "Medium grid"
    assert _count(GridLevelName) == 1
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "grid.levels")).scalar_one()
    assert entry.before["1"] == ["大网格", "Large grid"] and entry.after["1"] == ["一级网格", "Level-1 grid"]
    for levels, field, refusal in (([{"level": 2, "name_zh": "", "name_en": "x"}], "name_zh_2", Invalid),
                                   ([{"level": 3, "name_zh": "一级网格", "name_en": "x"}], "name_zh_3", InputConflict),
                                   ([{"level": 2, "name_zh": "二级", "name_en": "x"}, {"level": 2, "name_zh": "二",
                                                                                     "name_en": "y"}],
                                    "levels", InputConflict),
                                   ([{"level": 5, "name_zh": "x", "name_en": "x"}], "levels", Invalid)):
        with pytest.raises(refusal) as e:
            grid.set_level_names(admin, levels)
        assert field in e.value.errors
    assert grid.set_level_names(admin, []) == grid.get_levels(admin)  # no level given: nothing renamed
    assert _count(AuditEntry, action="grid.levels") == 1
    with pytest.raises(Forbidden):
        grid.set_level_names(actor("village_admin"), [{"level": 1, "name_zh": "x", "name_en": "x"}])


def test_village_groups(alpha):
    world, actor = alpha
    admin = actor()
    v0, v1, _ = world.a.villages
    for name in ("上屋组", "新村组", "下屋组"):
        grid.create_group(admin, {"village_id": v0, "name": name})
    assert [gr.name for gr in grid.list_groups(admin, v0)] == ["上屋组", "下屋组", "新村组"]  # pinyin
    with pytest.raises(InputConflict) as e:
        grid.create_group(admin, {"village_id": v0, "name": "上屋组"})
    assert "name" in e.value.errors
    with pytest.raises(Invalid) as e:
        grid.create_group(admin, {"village_id": "nope", "name": "x"})
    assert "village_id" in e.value.errors
    grid.create_group(admin, {"village_id": v1, "name": "上屋组"})  # another village may use the name
    new = grid.list_groups(admin, v0)[2]
    grid.update_group(actor("village_admin"), new.id, {"name": "新屋组", "sort_order": -1})
    assert [gr.name for gr in grid.list_groups(admin, v0)] == ["新屋组", "上屋组", "下屋组"]
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "village_group.update")).scalar_one()
    assert (entry.before["name"], entry.after["name"]) == ("新村组", "新屋组")
    with pytest.raises(NotFound):  # a village admin of 官田村 does not manage 礼坑村's groups
        grid.create_group(actor("village_admin"), {"village_id": v1, "name": "x"})
    with pytest.raises(Forbidden):
        grid.create_group(actor("grid_worker"), {"village_id": v0, "name": "x"})


# --- demo -----------------------------------------------------------------------------------

def test_demo_builds_a_full_branch_per_village_once(alpha):
    world, actor = alpha
    admin = actor()
    names = ["礼坑村", "梅园村", "官田村", "彭坊村", "嶂下村", "竹径村", "光明村", "琴南村", "琴口村"]
    existing = {v.name: v for v in db.session.execute(select(Village)).scalars()}
    villages = {n: existing.get(n) or village_service.create_village(admin, {"name": n, "code": f"lw{i}"})
                for i, n in enumerate(names)}
    first = demo.load_demo(admin, villages)
    assert first["nodes"] > 9 * 15 and 9 * 4 <= first["groups"] <= 9 * 6
    assert demo.load_demo(admin, villages) == {"groups": 0, "nodes": 0}
    for village in villages.values():
        nodes = [n for n, _ in grid.list_tree(admin, village.id)]
        levels = [n.level for n in nodes]
        if village.name == "官田村":  # the test world's own branch sits there too
            continue
        assert levels.count(1) == 1 and 2 <= levels.count(2) <= 3 and levels.count(3) == 2 * levels.count(2)
        assert 2 * levels.count(3) <= levels.count(4) <= 3 * levels.count(3)
        assert 3 <= len(grid.list_groups(admin, village.id)) <= 6
    micro = grid.micro_nodes(villages["礼坑村"].id)
    assert micro[0].name == "上屋组第1微网格" and micro[0].group_id is not None
    assert [n.name for n in grid.ancestors(micro[0])] == ["礼坑村大网格", "东片中网格", "上屋组小网格"]


# --- pages ------------------------------------------------------------------------------------

def test_tree_page_shows_levels_counts_and_staff_in_chinese(app, world):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    html = client.get(f"{PAGES}/").get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    for text in ("大网格", "中网格", "微网格", "官田村", "gridder", "vadmin", "1 户"):
        assert text in html, text
    node = client.get(f"{PAGES}/{world.a.grid[1]}").get_data(as_text=True)
    assert "gridder" in node and "小网格" in node and 'action="/t/alpha/grid/' in node
    assert client.get(f"{PAGES}/new?parent={world.a.grid[2]}").status_code == 200
    assert client.get(f"{PAGES}/levels").status_code == 200
    assert 'href="/t/alpha/grid/"' in client.get("/t/alpha/").get_data(as_text=True)  # the console tile
    groups = client.get(f"{PAGES}/villages/{world.a.villages[0]}/groups")
    assert groups.status_code == 200
    assert f"/grid/villages/{world.a.villages[0]}/groups" in client.get(
        f"/t/alpha/villages/{world.a.villages[0]}").get_data(as_text=True)
    client.post("/t/alpha/lang", data={"locale": "en", "next": "/t/alpha/", "csrf_token": csrf_token(client, PAGES + "/")})
    html = client.get(f"{PAGES}/").get_data(as_text=True)
    assert "Large grid" in html and "Micro grid" in html and "大网格" in html  # level names in English, data as is


def test_grid_worker_pages_show_only_their_subtree(app, world):
    client = app.test_client()
    page_login(client, "alpha", "gridder")
    html = client.get(f"{PAGES}/").get_data(as_text=True)
    assert "中网格" in html and "大网格" not in html.split("<main>")[1]
    assert client.get(f"{PAGES}/{world.a.grid[0]}").status_code == 404
    assert client.get(f"{PAGES}/{world.a.grid[3]}").status_code == 200
    assert client.get(f"{PAGES}/new").status_code == 403


def test_page_forms_show_errors_next_to_fields(app, world):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    large, medium, small, micro = world.a.grid
    token = csrf_token(client, f"{PAGES}/new")
    resp = client.post(f"{PAGES}/new", data={"csrf_token": token, "parent_id": str(micro), "name": "x"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="e-parent_id"' in html and "最低一级" in html
    resp = client.post(f"{PAGES}/{medium}/move", data={"csrf_token": token, "parent_id": str(small)})
    assert resp.status_code == 422 and 'id="e-parent_id"' in resp.get_data(as_text=True)
    assert LOOP in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/{medium}/retire", data={"csrf_token": token})
    assert resp.status_code == 422 and "1 户在册农户" in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/{small}/edit", data={"csrf_token": token, "name": ""})
    assert resp.status_code == 422 and 'id="e-name"' in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/levels", data={"csrf_token": token, "name_zh_1": "", "name_en_1": "Big"})
    assert resp.status_code == 422 and 'id="e-name_zh_1"' in resp.get_data(as_text=True)
    groups = f"{PAGES}/villages/{world.a.villages[0]}/groups"
    assert client.post(groups, data={"csrf_token": token, "name": "上屋组"}).status_code == 302
    resp = client.post(groups, data={"csrf_token": token, "name": "上屋组"})
    assert resp.status_code == 422 and "本村已有名为" in resp.get_data(as_text=True)
    # and the good paths
    resp = client.post(f"{PAGES}/new", data={"csrf_token": token, "parent_id": str(small), "name": "上屋组第2微网格"})
    assert resp.status_code == 302
    resp = client.post(f"{PAGES}/{small}/workers", data={"csrf_token": token, "user_id": str(world.a.user_id(
        "panel_member"))})
    assert resp.status_code == 302 and "panel" in client.get(f"{PAGES}/{small}").get_data(as_text=True)
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            assert _count(GridNode, name="上屋组第2微网格") == 1 and _count(VillageGroup) == 1


# --- API ----------------------------------------------------------------------------------------

def test_api_builds_moves_and_retires_with_named_field_errors(app, world):
    client = app.test_client()
    h = bearer(api_token(client, "alpha", "admin"))
    large, medium, small, micro = (str(i) for i in world.a.grid)
    resp = client.post(f"{API}/nodes", json={"parent_id": micro, "name": "x"}, headers=h)
    assert resp.status_code == 409 and "parent_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{API}/nodes", json={"parent_id": large, "name": "西片", "tenant_id": large}, headers=h)
    assert resp.status_code == 422 and "tenant_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{API}/nodes", json={"parent_id": large, "name": "西片"}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    west = resp.get_json()
    assert (west["level"], west["level_name"], west["depth"], west["household_count"]) == (2, "中网格", 1, 0)
    assert west["path_ids"] == [large, west["id"]] and west["village_name"] == "官田村"
    resp = client.post(f"{API}/nodes/{medium}/move", json={"parent_id": micro}, headers=h)
    assert resp.status_code == 409 and LOOP in resp.get_json()["errors"]["json"]["parent_id"][0]
    resp = client.post(f"{API}/nodes/{small}/move", json={"parent_id": west["id"]}, headers=h)
    assert resp.status_code == 200 and resp.get_json()["path_ids"] == [large, west["id"], small]
    assert client.get(f"{API}/nodes/{west['id']}", headers=h).get_json()["household_count"] == 1
    resp = client.post(f"{API}/nodes/{west['id']}/retire", headers=h)
    assert resp.status_code == 409 and "1 户在册农户" in resp.get_json()["message"]
    resp = client.patch(f"{API}/nodes/{medium}", json={"name": "老片", "sort_order": 2}, headers=h)
    assert resp.status_code == 200 and resp.get_json()["name"] == "老片"
    assert client.post(f"{API}/nodes/{medium}/retire", headers=h).get_json()["retired_at"]
    listed = client.get(f"{API}/nodes", headers=h).get_json()
    assert [n["name"] for n in listed] == ["大网格", "西片", "小网格", "微网格"]
    assert listed[0]["household_count"] == 1 and listed[0]["staff"][0]["role"] == "village_admin"
    assert len(client.get(f"{API}/nodes?include_retired=true", headers=h).get_json()) == 5
    gridder = bearer(api_token(client, "alpha", "gridder"))
    assert client.get(f"{API}/nodes/{large}", headers=gridder).status_code == 404
    assert client.post(f"{API}/nodes", json={"name": "x"}, headers=gridder).status_code == 403


def test_api_levels_and_groups(app, world):
    client = app.test_client()
    h = bearer(api_token(client, "alpha", "admin"))
    levels = client.get(f"{API}/levels", headers=h).get_json()
    assert [lv["name"] for lv in levels] == ["大网格", "中网格", "小网格", "微网格"]
    resp = client.put(f"{API}/levels", json=[{"level": 2, "name_zh": "片区", "name_en": ""}], headers=h)
    assert resp.status_code == 422 and "name_en" in resp.get_json()["errors"]["json"]["0"]  # the entry, by position
    resp = client.put(f"{API}/levels", json=[{"level": 2, "name_zh": "片区", "name_en": "Area"}], headers=h)
    assert resp.status_code == 200 and resp.get_json()[1]["name_zh"] == "片区"
    village = str(world.a.villages[0])
    resp = client.post(f"{API}/groups", json={"village_id": village, "name": "下屋组"}, headers=h)
    assert resp.status_code == 201
    group = resp.get_json()["id"]
    resp = client.post(f"{API}/groups", json={"village_id": village, "name": "下屋组"}, headers=h)
    assert resp.status_code == 409 and "name" in resp.get_json()["errors"]["json"]
    resp = client.patch(f"{API}/groups/{group}", json={"name": "上屋组"}, headers=h)
    assert resp.status_code == 200 and resp.get_json()["name"] == "上屋组"
    resp = client.patch(f"{API}/groups/{group}", json={"village_id": village}, headers=h)
    assert resp.status_code == 422 and "village_id" in resp.get_json()["errors"]["json"]
    assert [gr["name"] for gr in client.get(f"{API}/groups?village_id={village}", headers=h).get_json()] == ["上屋组"]
    resp = client.post(f"{API}/nodes", json={"parent_id": str(world.a.grid[0]), "name": "上屋片", "group_id": group},
                       headers=h)
    assert resp.status_code == 201 and resp.get_json()["group_name"] == "上屋组"


def test_other_townships_grid_is_not_found(app, world):
    with app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            beta_admin = actor_for(db.session.get(User, (beta.id, world.b.user_id())))
            group = grid.create_group(beta_admin, {"village_id": world.b.villages[0], "name": "一组"})
            db.session.commit()
    client = app.test_client()
    h = bearer(api_token(client, "alpha", "admin"))
    node = world.b.grid[1]
    for method, url, body in (("get", f"{API}/nodes/{node}", None), ("patch", f"{API}/nodes/{node}", {"name": "x"}),
                              ("post", f"{API}/nodes/{node}/move", {"parent_id": str(world.b.grid[0])}),
                              ("post", f"{API}/nodes/{node}/retire", None),
                              ("patch", f"{API}/groups/{group.id}", {"name": "x"})):
        assert getattr(client, method)(url, json=body, headers=h).status_code == 404, url
    resp = client.post(f"{API}/nodes", json={"parent_id": str(world.b.grid[0]), "name": "x"}, headers=h)
    assert resp.status_code == 409 and "parent_id" in resp.get_json()["errors"]["json"]
    page_login(client, "alpha", "admin")
    assert client.get(f"{PAGES}/{node}").status_code == 404
    assert client.get(f"{PAGES}/villages/{world.b.villages[0]}/groups").status_code == 404


def test_api_document_states_the_input_rules_and_data_conflicts_are_409(app, world):
    """A rule about the input alone is in the API document, with the service's own limit (breaking it
    is a 422 naming the field); what the township's data refuses is a 409 naming the field."""
    client = app.test_client()
    h = bearer(api_token(client, "alpha", "admin"))
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["GridNodeCreate"]["properties"]["name"]["maxLength"] == grid.MAX_NAME
    assert schemas["GridNodeCreate"]["properties"]["level"]["maximum"] == 4
    order = schemas["GridNodePatch"]["properties"]["sort_order"]
    assert (order["minimum"], order["maximum"]) == (-grid.MAX_ORDER, grid.MAX_ORDER)
    assert schemas["GridLevel"]["properties"]["name_en"]["maxLength"] == grid.MAX_LEVEL_NAME
    assert schemas["VillageGroup"]["properties"]["name"]["maxLength"] == grid.MAX_NAME
    assert schemas["Village"]["properties"]["name"]["maxLength"] == village_service.MAX_NAME
    assert schemas["Village"]["properties"]["code"]["maxLength"] == village_service.MAX_CODE
    assert "name" in schemas["Village"]["required"] and "pattern" in schemas["Village"]["properties"]["code"]
    large = str(world.a.grid[0])
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            before = (_count(GridNode), _count(Village), _count(AuditEntry))
    for url, body, field in ((f"{API}/nodes", {"parent_id": large, "name": "网" * (grid.MAX_NAME + 1)}, "name"),
                             (f"{API}/nodes", {"parent_id": large, "name": "x", "sort_order": grid.MAX_ORDER + 1},
                              "sort_order"),
                             ("/api/v1/t/alpha/villages/", {"name": " ", "code": "x"}, "name")):
        resp = client.post(url, json=body, headers=h)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.get_json()
    for url, body, field in ((f"{API}/nodes", {"parent_id": str(uuid.uuid4()), "name": "x"}, "parent_id"),
                             (f"{API}/nodes", {"parent_id": large, "name": "中网格"}, "name"),
                             (f"{API}/nodes", {"name": "x", "level": 2}, "level"),
                             (f"{API}/groups", {"village_id": str(world.b.villages[0]), "name": "x"}, "village_id"),
                             ("/api/v1/t/alpha/villages/", {"name": "官田村", "code": "new"}, "name")):
        resp = client.post(url, json=body, headers=h)
        assert resp.status_code == 409 and field in resp.get_json()["errors"]["json"], resp.get_json()
    resp = client.patch(f"/api/v1/t/alpha/villages/{world.a.villages[1]}", json={"name": "官田村"}, headers=h)
    assert resp.status_code == 409 and "name" in resp.get_json()["errors"]["json"]
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            assert (_count(GridNode), _count(Village), _count(AuditEntry)) == before
            assert db.session.get(Village, (tenant.id, world.a.villages[1])).name != "官田村"


NASTY = [{"name": "a\x00b"}, {"name": "x", "sort_order": 10 ** 20}, {"name": ["x"]}, {"name": "x", "parent_id": 5},
         {"name": "x", "level": True}, {"name": "x", "village_id": "nope"}, {"parent_id": "../.."}, {}, [],
         {"name": "x", "group_id": None, "village_id": None, "parent_id": None, "level": 1, "sort_order": -1}]


def test_api_never_answers_bad_bodies_with_a_500(app, world):
    client = app.test_client()
    h = bearer(api_token(client, "alpha", "admin"))
    large, medium, small, micro = world.a.grid
    for body in NASTY:
        for method, url in (("post", f"{API}/nodes"), ("patch", f"{API}/nodes/{small}"),
                            ("post", f"{API}/nodes/{small}/move"), ("put", f"{API}/levels"),
                            ("post", f"{API}/groups")):
            resp = getattr(client, method)(url, json=body, headers=h)
            assert resp.status_code < 500, (method, url, body, resp.get_data(as_text=True)[:300])
    for levels in ([{"level": 1, "name_zh": "a\x00", "name_en": "x"}], [{"level": 1}], {"level": 1}, [None]):
        assert client.put(f"{API}/levels", json=levels, headers=h).status_code == 422
