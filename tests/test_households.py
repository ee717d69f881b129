"""Households and residents: create with members, search, scope, masking, splits and merges,
tags, audit, API errors, pages. Grid nodes are written straight to the table (a level 1-4 chain
with its materialized path) so these tests do not lean on the grid service."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households import rules, service
from jifen.tenants.households.models import Household, HouseholdEvent, Resident
from jifen.tenants.households.rules import ID_CHECK, ID_WEIGHTS
from jifen.tenants.villages.models import GridNode
from tests.conftest import api_token, bearer, csrf_token, make_world, page_login


def idn(seq: int) -> str:
    """A valid resident ID number (right check digit)."""
    body = f"44162219900101{seq:03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def bad_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


@contextmanager
def alpha(world):
    with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        yield


def actor(world, role="township_admin") -> Actor:
    return actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id(role))))


def branch(village_id, under: GridNode | None = None) -> list[GridNode]:
    """Grid nodes from below `under` (or a new large node) down to a micro node."""
    nodes, parent = [], under
    for level in range(under.level + 1 if under else 1, 5):
        node = GridNode(level=level, name=f"网格{level}-{uuid.uuid4().hex[:4]}", village_id=village_id,
                        parent_id=parent.id if parent else None, path="")
        db.session.add(node)
        db.session.flush()
        node.path = (parent.path if parent else "/") + f"{node.id}/"
        nodes.append(node)
        parent = node
    return nodes


def new_household(who: Actor, village_id, node_id, plate: str, head: str, *others, tags=(), head_id=None):
    members = [{"name": head, "relation": "户主", "id_number": head_id}]
    members += [{"name": n, "relation": r} for n, r in others]
    return service.create_household(who, {"village_id": village_id, "grid_node_id": node_id, "door_plate": plate,
                                          "tags": list(tags), "members": members})


def counts() -> tuple[int, int, int]:
    def n(model):
        return db.session.execute(select(func.count()).select_from(model).execution_options(all_tenants=True)).scalar()

    return n(Household), n(Resident), n(AuditEntry)


def named(errors: dict, prefix: str = "") -> set[str]:
    """The fields a 422 or 409 names, nested ones (the API document's checks) as "members.0.phone"
    like the service names them."""
    out = set()
    for key, value in errors.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= named(value, f"{prefix}{key}.")
    return out


def names(page) -> list[str]:
    return [r["head_name"] for r in page.items]


@pytest.fixture
def admin_api(app, world):
    client = app.test_client()
    return client, bearer(api_token(client, "alpha", "admin"))


def body(world, **over) -> dict:
    return {"village_id": str(world.a.villages[0]), "grid_node_id": str(world.a.grid[3]), "door_plate": "8号",
            "tags": ["party_member"],
            "members": [{"name": "王五", "relation": "户主", "phone": "13800138000", "id_number": idn(1)},
                        {"name": "李梅", "relation": "配偶"}]} | over


# --- create ------------------------------------------------------------------------------------

def test_create_household_with_members_event_and_masked_audit(ctx, world):
    with alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "2号", "王五", ("李梅", "配偶"),
                          ("王小明", "子"), tags=["党员户", "low_income"], head_id=idn(7))
        db.session.commit()
        assert (h.head_name, h.head_pinyin, h.head_initials, h.status) == ("王五", "wangwu", "ww", "active")
        members = service.current_members(h.id)
        assert [(r.name, r.relation) for r in members] == [("王五", "head"), ("李梅", "spouse"), ("王小明", "child")]
        assert members[2].name_pinyin == "wangxiaoming" and members[2].name_initials == "wxm"
        assert service.tag_codes(h.id) == ["low_income", "party_member"]
        events = db.session.execute(select(HouseholdEvent).where(HouseholdEvent.household_id == h.id)).scalars().all()
        assert [(e.kind, e.details["members"]) for e in events] == [("created", ["王五", "李梅", "王小明"])]
        entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "household.create",
                                                            AuditEntry.object_id == str(h.id))).scalar_one()
        dumped = json.dumps(entry.after, ensure_ascii=False)
        assert idn(7) not in dumped and "4416**********" in dumped and "王小明" in dumped


ERRORS = {
    "two heads": (lambda w, ids: {"members": [{"name": "王五", "relation": "户主"}, {"name": "王六", "relation": "head"}]},
                  "members.1.relation", 409),
    "no head": (lambda w, ids: {"members": [{"name": "王五", "relation": "配偶"}]}, "members", 409),
    "no members": (lambda w, ids: {"members": []}, "members", 422),
    "non-micro node": (lambda w, ids: {"grid_node_id": str(w.a.grid[2])}, "grid_node_id", 409),
    "node of another village": (lambda w, ids: {"grid_node_id": ids["other_micro"]}, "grid_node_id", 409),
    "unknown node": (lambda w, ids: {"grid_node_id": str(uuid.uuid4())}, "grid_node_id", 409),
    "duplicate door plate": (lambda w, ids: {"door_plate": "1号"}, "door_plate", 409),
    "duplicate ID number": (lambda w, ids: {"members": [{"name": "王五", "relation": "户主", "id_number": idn(50)}]},
                            "members.0.id_number", 409),
    "same ID twice": (lambda w, ids: {"members": [{"name": "王五", "relation": "户主", "id_number": idn(2)},
                                                  {"name": "王六", "relation": "子", "id_number": idn(2)}]},
                      "members.1.id_number", 409),
    "bad phone": (lambda w, ids: {"members": [{"name": "王五", "relation": "户主", "phone": "12345"}]},
                  "members.0.phone", 422),
    "bad ID check digit": (lambda w, ids: {"members": [{"name": "王五", "relation": "户主",
                                                        "id_number": bad_check_digit(idn(3))}]},
                           "members.0.id_number", 422),
    "unknown relation": (lambda w, ids: {"members": [{"name": "王五", "relation": "邻居"}]}, "members.0.relation",
                         422),
    "empty name": (lambda w, ids: {"members": [{"name": " ", "relation": "户主"}]}, "members.0.name", 422),
    "unknown tag": (lambda w, ids: {"tags": ["不存在"]}, "tags", 409),
    "missing door plate": (lambda w, ids: {"door_plate": ""}, "door_plate", 422),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_household_names_the_field_and_writes_nothing(app, world, admin_api, case):
    client, headers = admin_api
    with app.app_context(), alpha(world):
        other_micro = branch(world.a.villages[1])[-1].id
        new_household(actor(world), world.a.villages[0], world.a.grid[3], "5号", "赵六", head_id=idn(50))
        db.session.commit()
        before = counts()
    make, field, status = ERRORS[case]
    resp = client.post("/api/v1/t/alpha/households/", json=body(world, **make(world, {"other_micro": str(other_micro)})),
                       headers=headers)
    assert resp.status_code == status, resp.get_json()
    assert field in named(resp.get_json()["errors"]["json"]), resp.get_json()
    with app.app_context():
        assert counts() == before


def test_service_refuses_two_heads_naming_the_second(ctx, world):
    with alpha(world):
        with pytest.raises(InputConflict) as err:
            new_household(actor(world), world.a.villages[0], world.a.grid[3], "2号", "王五", ("王六", "户主"))
        assert set(err.value.errors) == {"members.1.relation"}


def test_unique_indexes_back_the_checks(ctx, world, monkeypatch):
    """Two requests that both pass the checks: the partial unique indexes refuse the second, and
    the refusal is the same field error."""
    with alpha(world):
        admin = actor(world)
        monkeypatch.setattr(service, "_door_plate_free", lambda *args: None)
        with pytest.raises(InputConflict) as err:
            new_household(admin, world.a.villages[0], world.a.grid[3], "1号", "王五")
        assert "door_plate" in err.value.errors
        db.session.rollback()
        new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "王五", head_id=idn(20))
        monkeypatch.setattr(service, "_id_number_conflicts", lambda entries: {})
        with pytest.raises(InputConflict) as err:
            new_household(admin, world.a.villages[0], world.a.grid[3], "3号", "王六", head_id=idn(20))
        assert "id_number" in err.value.errors


def test_grid_worker_creates_only_under_their_nodes(ctx, world):
    with alpha(world):
        gridder = actor(world, "grid_worker")
        outside = branch(world.a.villages[0], db.session.get(GridNode, (world.a.tenant_id, world.a.grid[0])))[-1]
        h = new_household(gridder, world.a.villages[0], world.a.grid[3], "2号", "王五")
        assert h.grid_node_id == world.a.grid[3]
        with pytest.raises(InputConflict) as err:
            new_household(gridder, world.a.villages[0], outside.id, "3号", "王六")
        assert "grid_node_id" in err.value.errors
        with pytest.raises(Forbidden):
            new_household(actor(world, "panel_member"), world.a.villages[0], world.a.grid[3], "4号", "王七")


# --- search ------------------------------------------------------------------------------------

@pytest.fixture
def village(app, world):
    """Village 0 with the world's 张三伟 (1号) plus 张三, 李四 (with 王小明), 王五 (低保户) on the
    world's micro node, and 陈七 on a second branch. Tests push their own app context (a context
    shared with test-client requests would share `g`)."""
    with app.app_context(), alpha(world):
        admin = actor(world)
        v, micro = world.a.villages[0], world.a.grid[3]
        new_household(admin, v, micro, "2号", "张三")
        new_household(admin, v, micro, "3号", "李四", ("王小明", "子"))
        new_household(admin, v, micro, "10号", "王五", tags=["low_income"])
        second = branch(v, db.session.get(GridNode, (world.a.tenant_id, world.a.grid[0])))
        new_household(admin, v, second[-1].id, "20号", "陈七")
        db.session.commit()
        return {"admin": admin, "second": [n.id for n in second]}


@pytest.mark.parametrize("q,expected", [
    ("张三", ["张三", "张三伟"]), ("三伟", ["张三伟"]), ("zhangsan", ["张三", "张三伟"]), ("ZhangSan", ["张三", "张三伟"]),
    ("zsw", ["张三伟"]), ("zs", ["张三", "张三伟"]), ("sanwei", ["张三伟"]), ("王小明", ["李四"]), ("wangxiao", ["李四"]),
    ("wxm", ["李四"]), ("10号", ["王五"]), ("0号", ["王五", "陈七"]), ("李", ["李四"]), ("nobody", []), ("%", []),
])
def test_search_by_name_pinyin_initials_and_door_plate(app, world, village, q, expected):
    with app.app_context(), alpha(world):
        assert sorted(names(service.search_households(village["admin"], q=q))) == sorted(expected)


def test_results_in_head_pinyin_order_paged_with_total(app, world, village):
    with app.app_context(), alpha(world):
        admin = village["admin"]
        everyone = service.search_households(admin, per_page=100)
        assert names(everyone) == ["陈七", "李四", "王五", "张三", "张三伟"]
        assert everyone.total == 5
        page2 = service.search_households(admin, page=2, per_page=2)
        assert (names(page2), page2.total, page2.pages) == (["王五", "张三"], 5, 3)
        assert service.search_households(admin, per_page=1000).per_page == 100


def test_filters_tag_grid_subtree_village_status(app, world, village):
    with app.app_context(), alpha(world):
        admin = village["admin"]
        assert names(service.search_households(admin, tag="low_income")) == ["王五"]
        assert names(service.search_households(admin, tag="低保户")) == ["王五"]
        with pytest.raises(InputConflict):
            service.search_households(admin, tag="nope")
        assert names(service.search_households(admin, grid_node_id=village["second"][0])) == ["陈七"]
        assert len(service.search_households(admin, grid_node_id=world.a.grid[1]).items) == 4
        assert service.search_households(admin, village_id=world.a.villages[1]).total == 0
        wang = service.search_households(admin, q="王五").items[0]
        service.set_status(admin, wang["id"], {"status": "moved_out", "reason": "迁往县城"})
        assert "王五" not in names(service.search_households(admin))
        assert names(service.search_households(admin, status="moved_out")) == ["王五"]
        assert "王五" in names(service.search_households(admin, status="all"))
        row = service.search_households(admin, q="李四").items[0]
        assert (row["village_name"], row["member_count"]) == ("官田村", 2)


# --- scope -------------------------------------------------------------------------------------

def test_scope_grid_worker_village_roles_villager(app, world, village):
    with app.app_context(), alpha(world):
        other = new_household(village["admin"], world.a.villages[1], branch(world.a.villages[1])[-1].id, "1号", "孙八")
        db.session.commit()
        gridder = actor(world, "grid_worker")
        under_gridder = names(service.search_households(gridder, per_page=100))
        assert under_gridder == ["李四", "王五", "张三", "张三伟"]  # not 陈七 on the second branch, not 孙八
        assert "陈七" not in names(service.search_households(gridder, q="陈七"))
        assert names(service.search_households(actor(world, "village_admin"), per_page=100)) == [
            "陈七", "李四", "王五", "张三", "张三伟"]
        assert names(service.search_households(actor(world, "panel_member"))) == ["孙八"]
        assert names(service.search_households(actor(world, "villager"))) == ["张三伟"]
        chen = service.search_households(village["admin"], q="陈七").items[0]["id"]
        with pytest.raises(NotFound):
            service.household_detail(gridder, chen)
        with pytest.raises(NotFound):
            service.household_detail(actor(world, "village_admin"), other.id)
        with pytest.raises(NotFound):
            service.household_detail(actor(world, "villager"), chen)
        assert service.household_detail(actor(world, "panel_member"), other.id)["head_name"] == "孙八"
        assert {v.name for v in service.villages_for(gridder)} == {"官田村"}
        assert [n.id for n, _label in service.grid_choices(gridder, micro_only=True)] == [world.a.grid[3]]


def test_scope_through_the_api(app, world, village):
    client = app.test_client()
    with app.app_context(), alpha(world):
        chen = service.search_households(actor(world), q="陈七").items[0]["id"]
    headers = bearer(api_token(client, "alpha", "gridder"))
    listing = client.get("/api/v1/t/alpha/households/?per_page=50", headers=headers).get_json()
    assert listing["total"] == 4 and "陈七" not in [r["head_name"] for r in listing["items"]]
    assert client.get(f"/api/v1/t/alpha/households/{chen}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/t/alpha/households/{chen}/history", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/t/alpha/households/{chen}", json={"note": "x"}, headers=headers).status_code == 404


# --- masking -----------------------------------------------------------------------------------

def test_id_numbers_and_phones_masked_unless_allowed(app, world):
    with app.app_context(), alpha(world):
        admin = actor(world)
        node = branch(world.a.villages[1])[-1]
        h = service.create_household(admin, {"village_id": world.a.villages[1], "grid_node_id": node.id,
                                             "door_plate": "6号", "members": [
                                                 {"name": "周九", "relation": "户主", "phone": "13912345678",
                                                  "id_number": idn(9)}]})
        db.session.commit()
        hid = h.id
        panel = service.household_detail(actor(world, "panel_member"), hid)
        assert panel["members"][0]["id_number"] == "4416**********" + idn(9)[-4:]
        assert panel["members"][0]["phone"] == "139****5678" and not panel["identity_visible"]
        plain = service.household_detail(admin, hid)  # an admin too sees the mask until asking to show
        assert plain["members"][0]["id_number"].startswith("4416****") and plain["may_reveal_identity"]
        assert plain["members"][0]["phone"] == "13912345678" and plain["phones_visible"]
        full = service.household_detail(admin, hid, reveal=True)
        assert full["members"][0]["id_number"] == idn(9) and full["identity_visible"]
        assert service.can_see_identity(admin, h) and not service.can_see_identity(actor(world, "panel_member"), h)
        assert not service.can_see_identity(actor(world, "village_admin"), h)  # another village's admin
        db.session.rollback()
    client = app.test_client()
    panel = bearer(api_token(client, "alpha", "panel"))
    got = client.get(f"/api/v1/t/alpha/households/{hid}", headers=panel).get_json()
    assert got["members"][0]["id_number"].startswith("4416****") and idn(9) not in json.dumps(got)
    assert client.post(f"/api/v1/t/alpha/households/{hid}/identity", headers=panel).status_code == 403
    admin_token = bearer(api_token(client, "alpha", "admin"))
    got = client.get(f"/api/v1/t/alpha/households/{hid}", headers=admin_token).get_json()
    assert idn(9) not in json.dumps(got) and not got["identity_visible"]
    got = client.post(f"/api/v1/t/alpha/households/{hid}/identity", headers=admin_token).get_json()
    assert got["members"][0]["id_number"] == idn(9) and got["identity_visible"]


# --- members -----------------------------------------------------------------------------------

def test_members_add_edit_hand_over_head_and_leave(ctx, world):
    with alpha(world):
        admin = actor(world)
        h = new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "王五", ("李梅", "配偶"))
        son = service.add_member(admin, h.id, {"name": "王小明", "relation": "子", "phone": "13800000001"})
        with pytest.raises(Invalid) as err:
            service.add_member(admin, h.id, {"name": "王二", "relation": "户主"})
        assert "relation" in err.value.errors
        head = service.current_members(h.id)[0]
        with pytest.raises(InputConflict) as err:
            service.update_member(admin, h.id, head.id, {"relation": "子"})
        assert "relation" in err.value.errors
        service.update_member(admin, h.id, son.id, {"relation": "户主", "previous_head_relation": "父亲"})
        assert (h.head_name, h.head_pinyin, h.head_initials) == ("王小明", "wangxiaoming", "wxm")
        assert {r.name: r.relation for r in service.current_members(h.id)} == {
            "王小明": "head", "王五": "parent", "李梅": "spouse"}  # others: edited by hand
        service.update_member(admin, h.id, son.id, {"name": "王晓明"})
        assert (h.head_name, h.head_pinyin) == ("王晓明", "wangxiaoming")
        with pytest.raises(InputConflict) as err:
            service.member_leaves(admin, h.id, son.id)
        assert "resident_id" in err.value.errors
        spouse = next(r for r in service.current_members(h.id) if r.name == "李梅")
        service.member_leaves(admin, h.id, spouse.id, {"left_on": "2026-01-05"})
        detail = service.household_detail(admin, h.id)
        assert [m["name"] for m in detail["members"]] == ["王晓明", "王五"]
        assert [(m["name"], str(m["left_on"])) for m in detail["former_members"]] == [("李梅", "2026-01-05")]
        assert names(service.search_households(admin, q="李梅")) == []  # former members do not match
        actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.action.like("household.%"))).scalars()
        assert {"household.add_member", "household.update_member", "household.member_leaves"} <= set(actions)


def test_status_needs_reason_and_reactivation_needs_a_free_door_plate(ctx, world):
    with alpha(world):
        admin = actor(world)
        h = new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "王五")
        with pytest.raises(Invalid) as err:
            service.set_status(admin, h.id, {"status": "dissolved"})
        assert "reason" in err.value.errors
        with pytest.raises(Invalid) as err:
            service.set_status(admin, h.id, {"status": "merged", "reason": "x"})
        assert "status" in err.value.errors
        service.set_status(admin, h.id, {"status": "moved_out", "reason": "迁往县城"})
        again = new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "刘十")  # plate is free again
        with pytest.raises(InputConflict) as err:
            service.set_status(admin, h.id, {"status": "active"})
        assert "status" in err.value.errors
        service.update_household(admin, again.id, {"door_plate": "2号之一"})
        service.set_status(admin, h.id, {"status": "active"})
        history = service.household_history(admin, h.id)
        assert [(e["kind"], e["details"].get("status_to")) for e in history] == [
            ("status", "active"), ("status", "moved_out"), ("created", None)]


# --- split and merge ---------------------------------------------------------------------------

def test_split_then_merge_keep_both_sides_history(app, world):
    with app.app_context(), alpha(world):
        admin = actor(world)
        a = new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "王五", ("李梅", "配偶"),
                          ("王大明", "子"), ("刘芳", "儿媳"))
        son = next(r for r in service.current_members(a.id) if r.name == "王大明")
        son.id_number = idn(11)
        wife = next(r for r in service.current_members(a.id) if r.name == "刘芳")
        b = service.split_household(admin, a.id, {"door_plate": "2号之一", "members": [
            {"resident_id": son.id, "relation": "户主"}, {"resident_id": wife.id, "relation": "配偶"}]})
        db.session.commit()
        assert [r.name for r in service.current_members(a.id)] == ["王五", "李梅"]
        assert [(r.name, r.relation) for r in service.current_members(b.id)] == [("王大明", "head"), ("刘芳", "spouse")]
        assert (b.head_name, b.village_id, b.grid_node_id) == ("王大明", a.village_id, a.grid_node_id)
        new_son = service.current_members(b.id)[0]
        assert new_son.id != son.id and son.left_on is not None and new_son.id_number == idn(11)
        off = service.household_history(admin, a.id)[0]
        assert (off["kind"], off["other_household_id"], off["other_door_plate"]) == ("split_off", b.id, "2号之一")
        assert off["details"]["residents"][0] == {"name": "王大明", "from_resident_id": str(son.id),
                                                  "to_resident_id": str(new_son.id)}
        assert service.household_history(admin, b.id)[0]["kind"] == "split_from"
        c = new_household(admin, world.a.villages[0], world.a.grid[3], "9号", "刘大")
        into = service.merge_household(admin, b.id, {"into_household_id": c.id,
                                                     "members": [{"resident_id": new_son.id, "relation": "子女配偶"}]})
        db.session.commit()
        assert into.id == c.id and (b.status, b.merged_into_id) == ("merged", c.id)
        assert {r.name: r.relation for r in service.current_members(c.id)} == {
            "刘大": "head", "王大明": "child_in_law", "刘芳": "other"}
        b_detail = service.household_detail(admin, b.id)
        assert [e["kind"] for e in b_detail["history"]] == ["merged_into", "split_from"]
        assert {m["name"] for m in b_detail["former_members"]} == {"王大明", "刘芳"} and not b_detail["members"]
        assert service.household_history(admin, c.id)[0]["kind"] == "merged_from"
        assert [e["kind"] for e in service.household_history(admin, a.id)] == ["split_off", "created"]
        with pytest.raises(InputConflict):
            service.update_household(admin, b.id, {"note": "x"})  # merged: kept as history
        kinds = db.session.execute(select(AuditEntry.action).where(AuditEntry.action.in_(
            ["household.split", "household.merge", "household.merge_in"]))).scalars().all()
        assert sorted(kinds) == ["household.merge", "household.merge_in", "household.split"]
        a_id, b_id, c_id = a.id, b.id, c.id
    client = app.test_client()
    page_login(client, "alpha", "admin")
    html = client.get(f"/t/alpha/households/{b_id}").get_data(as_text=True)
    assert f"/t/alpha/households/{a_id}" in html and f"/t/alpha/households/{c_id}" in html
    assert "王大明" in html and "刘芳" in html


def test_split_and_merge_refusals(ctx, world):
    with alpha(world):
        admin = actor(world)
        a = new_household(admin, world.a.villages[0], world.a.grid[3], "2号", "王五", ("王大明", "子"))
        head, son = service.current_members(a.id)
        cases = [
            ({"door_plate": "2号之一", "members": [{"resident_id": head.id, "relation": "户主"}]}, "members.0.resident_id",
             InputConflict),
            ({"door_plate": "2号", "members": [{"resident_id": son.id, "relation": "户主"}]}, "door_plate", InputConflict),
            ({"door_plate": "2号之一", "members": [{"resident_id": son.id, "relation": "子"}]}, "members", InputConflict),
            ({"door_plate": "2号之一", "members": []}, "members", Invalid),
            ({"door_plate": "2号之一", "grid_node_id": world.a.grid[2],
              "members": [{"resident_id": son.id, "relation": "户主"}]}, "grid_node_id", InputConflict),
            ({"door_plate": "2号之一", "members": [{"resident_id": uuid.uuid4(), "relation": "户主"}]},
             "members.0.resident_id", InputConflict),
        ]
        for data, field, refusal in cases:
            with pytest.raises(refusal) as err:
                service.split_household(admin, a.id, data)
            assert field in err.value.errors, (data, err.value.errors)
        with pytest.raises(InputConflict) as err:
            service.merge_household(admin, a.id, {"into_household_id": a.id})
        assert "into_household_id" in err.value.errors
        with pytest.raises(Invalid) as err:
            service.merge_household(admin, a.id, {"into_household_id": world.a.household,
                                                  "members": [{"resident_id": son.id, "relation": "户主"}]})
        assert "members.0.relation" in err.value.errors
        with pytest.raises(Forbidden):
            service.split_household(actor(world, "grid_worker"), a.id, cases[0][0])
        assert len(service.current_members(a.id)) == 2 and a.status == "active"


# --- tags --------------------------------------------------------------------------------------

def test_custom_tags_add_rename_and_resolve(app, world, admin_api):
    client, headers = admin_api
    made = client.post("/api/v1/t/alpha/households/tags", json={"name_zh": "留守老人户", "name_en": "Left-behind elders"},
                       headers=headers)
    assert made.status_code == 201, made.get_json()
    tag = made.get_json()
    assert tag["code"] == "liu_shou_lao_ren_hu" and not tag["builtin"]
    assert client.post("/api/v1/t/alpha/households/tags", json={"name_zh": "党员户"}, headers=headers).status_code == 409
    renamed = client.patch(f"/api/v1/t/alpha/households/tags/{tag['id']}", json={"name_zh": "留守户"}, headers=headers)
    assert renamed.get_json()["code"] == tag["code"] and renamed.get_json()["name_zh"] == "留守户"
    listed = client.get("/api/v1/t/alpha/households/tags", headers=headers).get_json()
    assert [t["code"] for t in listed[:6]] == [t.code for t in service.BUILTIN_TAGS]
    assert listed[0]["label"] == "党员户"
    assert client.get("/api/v1/t/alpha/households/tags",
                      headers=headers | {"Accept-Language": "en"}).status_code == 200
    panel = bearer(api_token(client, "alpha", "panel"))
    assert client.post("/api/v1/t/alpha/households/tags", json={"name_zh": "新"}, headers=panel).status_code == 403
    with app.app_context(), alpha(world):
        assert service.tag_by_label("留守户").code == tag["code"]
        assert service.tag_by_label("left-behind elders").code == tag["code"]
        assert service.tag_by_label("Five-guarantee household").code == "five_guarantee"
        assert service.tag_by_label("军属").code == "military_family"
        assert service.tag_by_label("poverty_alleviated").name_zh == "脱贫户"
        assert service.tag_by_label("无此标签") is None
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "2号", "王五", tags=["留守户"])
        assert service.tag_codes(h.id) == [tag["code"]]


# --- API ---------------------------------------------------------------------------------------

def test_api_create_edit_members_status_history(app, world, admin_api):
    client, headers = admin_api
    base = "/api/v1/t/alpha/households"
    created = client.post(base + "/", json=body(world), headers=headers)
    assert created.status_code == 201, created.get_json()
    h = created.get_json()
    assert h["head_name"] == "王五" and h["member_count"] == 2 and h["tags"][0]["code"] == "party_member"
    assert h["grid_path"] == ["大网格", "中网格", "小网格", "微网格"] and h["history"][0]["kind"] == "created"
    hid = h["id"]
    assert client.patch(f"{base}/{hid}", json={"door_plate": ""}, headers=headers).get_json()["errors"]["json"].keys() \
        == {"door_plate"}
    assert "tenant_id" in client.patch(f"{base}/{hid}", json={"tenant_id": "x"}, headers=headers).get_json()[
        "errors"]["json"]
    patched = client.patch(f"{base}/{hid}", json={"note": "新房", "tags": []}, headers=headers).get_json()
    assert patched["note"] == "新房" and patched["tags"] == [] and patched["door_plate"] == "8号"
    bad = client.post(f"{base}/{hid}/members", json={"name": "王小", "relation": "子", "phone": "999"}, headers=headers)
    assert bad.status_code == 422 and "phone" in bad.get_json()["errors"]["json"]
    added = client.post(f"{base}/{hid}/members", json={"name": "王小", "relation": "子"}, headers=headers)
    assert added.status_code == 201 and added.get_json()["member_count"] == 3
    son = next(m for m in added.get_json()["members"] if m["name"] == "王小")
    dup = client.patch(f"{base}/{hid}/members/{son['id']}", json={"id_number": idn(1)}, headers=headers)
    assert dup.status_code == 409 and "id_number" in dup.get_json()["errors"]["json"]
    left = client.post(f"{base}/{hid}/members/{son['id']}/leave", json={}, headers=headers).get_json()
    assert left["member_count"] == 2 and left["former_members"][0]["name"] == "王小"
    status = client.post(f"{base}/{hid}/status", json={"status": "dissolved"}, headers=headers)
    assert status.status_code == 422 and "reason" in status.get_json()["errors"]["json"]
    status = client.post(f"{base}/{hid}/status", json={"status": "dissolved", "reason": "户主去世"}, headers=headers)
    assert status.get_json()["status"] == "dissolved"
    history = client.get(f"{base}/{hid}/history", headers=headers).get_json()
    assert [e["kind"] for e in history] == ["status", "created"]
    page = client.get(f"{base}/?q=ww&status=all&per_page=5", headers=headers).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == hid and page["per_page"] == 5
    assert client.get(f"{base}/?per_page=101", headers=headers).status_code == 422


def test_api_document_states_the_field_rules_and_conflicts_are_409(app, world, admin_api):
    """The API document carries the service's own limits (breaking one is a 422 naming the field);
    what the township's data refuses is a 409 naming the field, and nothing is written."""
    client, headers = admin_api
    schemas = client.get("/api/v1/openapi.json", headers=headers).get_json()["components"]["schemas"]
    assert schemas["HouseholdIn"]["properties"]["door_plate"]["maxLength"] == rules.MAX_DOOR_PLATE
    assert schemas["HouseholdIn"]["properties"]["members"]["minItems"] == 1
    member = schemas["MemberIn"]["properties"]
    assert member["name"]["maxLength"] == rules.MAX_NAME and member["phone"]["pattern"] == rules.PHONE_PATTERN
    assert (member["id_number"]["pattern"], member["id_number"]["format"]) == (rules.ID_NUMBER_PATTERN,
                                                                              rules.ID_NUMBER_FORMAT)
    assert "户主" in member["relation"]["enum"] and "户主" not in schemas["NewMember"]["properties"]["relation"]["enum"]
    assert schemas["HouseholdTag"]["properties"]["name_zh"]["maxLength"] == service.MAX_TAG_ZH
    assert schemas["HouseholdStatus"]["properties"]["reason"]["maxLength"] == service.MAX_REASON
    assert "anyOf" in schemas["HouseholdStatus"]  # active, or a reason
    with app.app_context():
        before = counts()
    base = "/api/v1/t/alpha/households"
    too_long = client.post(base + "/", json=body(world, door_plate="号" * (rules.MAX_DOOR_PLATE + 1)), headers=headers)
    assert too_long.status_code == 422 and "door_plate" in too_long.get_json()["errors"]["json"]
    no_phone = client.post(base + "/", json=body(world, members=[{"name": "王五", "relation": "户主", "phone": "12"}]),
                           headers=headers)
    assert no_phone.status_code == 422 and "members.0.phone" in named(no_phone.get_json()["errors"]["json"])
    for json_body, field in ((body(world, door_plate="1号"), "door_plate"),
                             (body(world, village_id=str(world.b.villages[0])), "village_id"),
                             (body(world, members=[{"name": "王五", "relation": "子"}]), "members")):
        taken = client.post(base + "/", json=json_body, headers=headers)
        assert taken.status_code == 409 and field in taken.get_json()["errors"]["json"], taken.get_json()
    tag = client.post(f"{base}/tags", json={"name_zh": "低保户"}, headers=headers)
    assert tag.status_code == 409 and "name_zh" in tag.get_json()["errors"]["json"]
    with app.app_context():
        assert counts() == before


def test_api_split_and_merge(app, world, admin_api):
    client, headers = admin_api
    base = "/api/v1/t/alpha/households"
    h = client.post(base + "/", json=body(world, members=[{"name": "王五", "relation": "户主"},
                                                          {"name": "王大明", "relation": "子"}]), headers=headers).get_json()
    son = h["members"][1]["id"]
    bad = client.post(f"{base}/{h['id']}/split", json={"members": [{"resident_id": son, "relation": "户主"}]},
                      headers=headers)
    assert bad.status_code == 422 and "door_plate" in bad.get_json()["errors"]["json"]
    split = client.post(f"{base}/{h['id']}/split", json={"door_plate": "8号之一",
                                                          "members": [{"resident_id": son, "relation": "户主"}]},
                        headers=headers)
    assert split.status_code == 201 and split.get_json()["head_name"] == "王大明"
    new_id = split.get_json()["id"]
    merged = client.post(f"{base}/{new_id}/merge", json={"into_household_id": str(world.a.household)}, headers=headers)
    assert merged.status_code == 200 and merged.get_json()["id"] == str(world.a.household)
    gone = client.get(f"{base}/{new_id}", headers=headers).get_json()
    assert gone["status"] == "merged" and gone["merged_into_id"] == str(world.a.household)
    assert [e["kind"] for e in gone["history"]] == ["merged_into", "split_from"]


# --- pages -------------------------------------------------------------------------------------

def test_pages_render_in_chinese_with_masked_ids(app, world):
    with app.app_context(), alpha(world):
        node = branch(world.a.villages[1])[-1]
        h = new_household(actor(world), world.a.villages[1], node.id, "6号", "周九", head_id=idn(9))
        db.session.commit()
        hid = h.id
    panel = app.test_client()
    page_login(panel, "alpha", "panel")
    html = panel.get(f"/t/alpha/households/{hid}").get_data(as_text=True)
    assert "周九" in html and "4416**********" + idn(9)[-4:] in html and idn(9) not in html
    listing = panel.get("/t/alpha/households/?q=zj").get_data(as_text=True)
    assert "周九" in listing and "6号" in listing and 'lang="zh-CN"' in listing
    assert panel.get(f"/t/alpha/households/{world.a.household}").status_code == 404  # another village
    assert panel.get("/t/alpha/households/new").status_code == 403
    admin = app.test_client()
    page_login(admin, "alpha", "admin")
    page = admin.get(f"/t/alpha/households/{hid}").get_data(as_text=True)
    assert idn(9) not in page and "显示完整身份证号" in page  # masked until the admin asks to see it
    shown = admin.post(f"/t/alpha/households/{hid}/identity",
                       data={"csrf_token": csrf_token(admin, f"/t/alpha/households/{hid}")})
    assert shown.status_code == 200 and idn(9) in shown.get_data(as_text=True)
    token = csrf_token(panel, f"/t/alpha/households/{hid}")
    assert panel.post(f"/t/alpha/households/{hid}/identity", data={"csrf_token": token}).status_code == 403
    assert "/t/alpha/households/" in admin.get("/t/alpha/").get_data(as_text=True)  # the console tile
    for path in ("/", f"/{hid}/edit", f"/{hid}/members/new", f"/{hid}/split", f"/{hid}/merge?q=张", f"/{hid}/status",
                 "/tags", "/new", "/?village_id=" + str(world.a.villages[0]) + "&tag=party_member&status=all"):
        assert admin.get("/t/alpha/households" + path).status_code == 200, path


def test_new_household_page_shows_errors_next_to_fields_then_saves(app, world):
    client = app.test_client()
    page_login(client, "alpha", "vadmin")
    token = csrf_token(client, "/t/alpha/households/new")
    form = {"csrf_token": token, "village_id": str(world.a.villages[0]), "grid_node_id": str(world.a.grid[2]),
            "door_plate": "1号", "members.0.name": "王五", "members.0.relation": "head",
            "members.0.id_number": bad_check_digit(idn(4)), "members.1.name": "", "members.1.relation": "",
            "members.2.name": "李梅", "members.2.relation": "spouse", "members.2.phone": "123"}
    resp = client.post("/t/alpha/households/new", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for field in ("grid_node_id", "door_plate", "members.0.id_number", "members.2.phone"):
        assert f'id="e-{field}"' in html, field
    with app.app_context():
        assert counts()[0] == 2
    form |= {"grid_node_id": str(world.a.grid[3]), "door_plate": "7号", "members.0.id_number": idn(4),
             "members.2.phone": "13800138000"}
    resp = client.post("/t/alpha/households/new", data=form)
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "王五" in page and "李梅" in page and idn(4) not in page and idn(4)[-4:] in page
    shown = client.post(resp.headers["Location"] + "/identity", data={"csrf_token": token})
    assert idn(4) in shown.get_data(as_text=True)  # village admin of 官田村 may show the ID numbers


def test_page_forms_edit_member_split_merge_status_tags(app, world):
    with app.app_context(), alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "2号", "王五", ("王大明", "子"),
                          ("李梅", "配偶"))
        db.session.commit()
        hid, (_head, son, wife) = h.id, [r.id for r in service.current_members(h.id)]
    client = app.test_client()
    page_login(client, "alpha", "admin")
    token = csrf_token(client, f"/t/alpha/households/{hid}/split")
    base = f"/t/alpha/households/{hid}"
    resp = client.post(base + "/split", data={"csrf_token": token, "move": [str(son)], f"relation-{son}": "child",
                                              "door_plate": "2号之一", "grid_node_id": str(world.a.grid[3])})
    assert resp.status_code == 422 and 'class="error"' in resp.get_data(as_text=True)
    resp = client.post(base + "/split", data={"csrf_token": token, "move": [str(son)], f"relation-{son}": "head",
                                              "door_plate": "2号之一", "grid_node_id": str(world.a.grid[3])})
    assert resp.status_code == 302
    new_path = resp.headers["Location"]
    assert "王大明" in client.get(new_path).get_data(as_text=True)
    resp = client.post(base + f"/members/{wife}", data={"csrf_token": token, "name": "李梅梅", "relation": "spouse",
                                                       "phone": "", "id_number": ""})
    assert resp.status_code == 302 and "李梅梅" in client.get(base).get_data(as_text=True)
    resp = client.post(base + "/status", data={"csrf_token": token, "status": "moved_out", "reason": ""})
    assert resp.status_code == 422 and 'id="f-reason"' in resp.get_data(as_text=True)
    resp = client.post(new_path.split("jifen.test")[-1] + "/merge",
                       data={"csrf_token": token, "q": "王五", "into_household_id": str(hid)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(str(hid))
    page = client.get(base).get_data(as_text=True)
    assert "王大明" in page and "2号之一" in page  # rejoined, and the split/merge history names 2号之一
    resp = client.post("/t/alpha/households/tags", data={"csrf_token": token, "name_zh": "", "name_en": ""})
    assert resp.status_code == 422 and 'id="e-name_zh"' in resp.get_data(as_text=True)
    assert client.post("/t/alpha/households/tags", data={"csrf_token": token, "name_zh": "星级户",
                                                         "name_en": "Star household"}).status_code == 302
    assert "星级户" in client.get("/t/alpha/households/tags").get_data(as_text=True)


def test_grid_worker_edit_keeps_hidden_numbers(app, world):
    with app.app_context(), alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "2号", "王五", head_id=idn(5))
        db.session.commit()
        hid, head = h.id, service.current_members(h.id)[0].id
    client = app.test_client()
    page_login(client, "alpha", "gridder")
    path = f"/t/alpha/households/{hid}/members/{head}"
    html = client.get(path).get_data(as_text=True)
    assert idn(5) not in html and "4416**********" in html
    token = csrf_token(client, path)
    resp = client.post(path, data={"csrf_token": token, "name": "王五", "relation": "head", "phone": "", "id_number": ""})
    assert resp.status_code == 302
    with app.app_context(), alpha(world):
        assert db.session.get(Resident, (world.a.tenant_id, head)).id_number == idn(5)


def test_beta_households_are_404_in_alpha(app):
    with app.app_context():
        world = make_world()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    beta = world.b.household
    assert client.get(f"/api/v1/t/alpha/households/{beta}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/t/alpha/households/{beta}/merge", json={"into_household_id": str(world.a.household)},
                       headers=headers).status_code == 404
    merge_into_beta = client.post(f"/api/v1/t/alpha/households/{world.a.household}/merge",
                                  json={"into_household_id": str(beta)}, headers=headers)
    assert merge_into_beta.status_code == 409 and "into_household_id" in merge_into_beta.get_json()["errors"]["json"]
    created = client.post("/api/v1/t/alpha/households/", json=body(world, grid_node_id=str(world.b.grid[3])),
                          headers=headers)
    assert created.status_code == 409 and "grid_node_id" in created.get_json()["errors"]["json"]
    page_login(client, "alpha", "admin")
    assert client.get(f"/t/alpha/households/{beta}").status_code == 404
    assert "张三伟" in client.get("/t/alpha/households/?q=zsw").get_data(as_text=True)
    assert client.get("/t/alpha/households/?q=zsw").get_data(as_text=True).count("1号") == 1  # alpha's only


def test_surnames_are_read_as_surnames_in_search(ctx):
    """曾 is a common Hakka surname read zēng; pypinyin alone reads it céng."""
    from jifen.tenants.households.rules import name_search_keys

    assert name_search_keys("曾志强") == ("zengzhiqiang", "zzq")
    assert name_search_keys("曾经") == ("zengjing", "zj")  # a name, so the first character is the surname


def test_a_name_holding_a_phrase_is_read_as_the_phrase(ctx):
    """Pinyin is cached per character (the roster import reads 25,000 names), but a name holding a
    word pypinyin knows keeps the word's reading: 李重庆 is found by chongqing, not zhongqing."""
    from jifen.tenants.households.rules import name_search_keys

    assert name_search_keys("李重庆") == ("lichongqing", "lcq")
    assert name_search_keys("张长江") == ("zhangchangjiang", "zcj")
    assert name_search_keys("李重") == ("lizhong", "lz")  # alone, 重's own reading
    assert name_search_keys("Anna李") == ("annali", "al")


def test_a_township_admin_gives_a_household_a_villager_account_from_its_page(app):
    """The staff page cannot list thousands of households: a villager's account is given on the
    household's own page, scoped to that household."""
    from jifen.platform.staff import service as staff_service

    with app.app_context():
        world = make_world()
    client = app.test_client()
    page_login(client, "alpha", world.a.username())
    path = f"/t/alpha/households/{world.a.household}"
    html = client.get(path).get_data(as_text=True)
    assert 'action="/t/alpha/households/%s/accounts' % world.a.household in html
    token = csrf_token(client, path)
    bad = client.post(f"{path}/accounts", data={"display_name": "张三伟", "username": "villager", "csrf_token": token})
    assert bad.status_code == 422 and 'id="e-username"' in bad.get_data(as_text=True)  # taken
    resp = client.post(f"{path}/accounts", data={"display_name": "张三伟", "username": "zhangsanwei",
                                                   "csrf_token": token})
    assert resp.status_code == 200 and "/t/alpha/setup/" in resp.get_data(as_text=True)
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            names = [u.username for u in staff_service.holders("villager", world.a.household)]
    assert sorted(names) == ["villager", "zhangsanwei"]
    assert "zhangsanwei" in client.get(path).get_data(as_text=True)
    # a panel member sees the household but not the accounts section
    other = app.test_client()
    page_login(other, "alpha", world.a.username("village_admin"))
    assert 'id="accounts"' not in other.get(path).get_data(as_text=True)
