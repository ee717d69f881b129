"""The rulebook: categories, versions and items, adoption by the township and by each village, the
rules in force on a day, and commitment signing with its report. Pages, API and services."""
from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.pinyin import initials, pinyin_key
from jifen.platform.roles.authz import Actor, Grant
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.rulebook import adoption, service, signing
from jifen.tenants.rulebook.checks import MAX_NUMBER, MIN_ATTENDANCE
from jifen.tenants.rulebook.models import (
    CommitmentSignature,
    RulebookVersion,
    RuleCategory,
    RuleItem,
    VillageRulebook,
)
from jifen.tenants.villages.models import GridNode, Village
from tests.conftest import api_token, bearer, csrf_token, make_world, page_login

RESOLUTION = {"assembly_date": "2026-03-18", "attendance": 45, "votes_for": 40, "votes_against": 3,
              "votes_abstain": 2, "adopted_on": "2026-04-01"}
APRIL, JULY = date(2026, 4, 1), date(2026, 7, 1)


def _count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def _audit(action: str) -> int:
    return _count(AuditEntry, AuditEntry.action == action)


@contextmanager
def alpha():
    """Township alpha in scope, its world and its admin actor."""
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        yield world, actor_of(world, "township_admin")


def actor_of(world, role: str) -> Actor:
    return actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id(role))))


def _item(category_id, **kw) -> dict:
    return {"category_id": category_id, "title_zh": "门前三包保持整洁", "title_en": "Keeping the frontage clean",
            "direction": "award", "points_min": 2, "points_max": 2, "unit": "occurrence",
            "cap_points": 20, "cap_period": "month", "evidence_required": True, "initiator": "household",
            "review": "verification"} | kw


def _rulebook(admin, adopted_on="2026-04-01", assembly="2026-03-18", based_on=None) -> RulebookVersion:
    """An adopted township version with a fixed item (HJ01 +2) and a ranged one (ZY01 +3~10)."""
    if based_on is None:
        if not service.list_categories(admin):
            service.add_standard_categories(admin)
        cats = {c.name_zh: c.id for c in service.list_categories(admin)}
        version = service.create_version(admin, {"title": "龙窝镇积分管理实施细则"})
        service.create_item(admin, version.id, _item(cats["人居环境"], code="HJ01"))
        service.create_item(admin, version.id, _item(cats["志愿服务"], code="ZY01", title_zh="党员志愿服务",
                                                     title_en="Party volunteer service", points_min=3, points_max=10,
                                                     points_default=5, cap_points=None, cap_period=None))
    else:
        version = service.create_version(admin, {"based_on_id": based_on.id})
    return service.adopt_version(admin, version.id, RESOLUTION | {"assembly_date": assembly, "adopted_on": adopted_on})


def _village_rulebook(actor, village_id, adopted_on="2026-04-01", settings=None):
    vr = adoption.start_village_rulebook(actor, village_id)
    codes = {e.item.code: e.item.id for e in adoption.village_items(actor, vr.id)}
    for code, setting in (settings or {}).items():
        adoption.set_village_item(actor, vr.id, codes[code], setting)
    return adoption.adopt_village_rulebook(actor, vr.id, RESOLUTION | {"adopted_on": adopted_on})


def _node(parent: GridNode | None, level: int, name: str, village_id) -> GridNode:
    node = GridNode(level=level, name=name, village_id=village_id, parent_id=parent.id if parent else None, path="")
    db.session.add(node)
    db.session.flush()
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    return node


def _household(village_id, node_id, head: str, plate: str, status="active") -> Household:
    household = Household(village_id=village_id, grid_node_id=node_id, door_plate=plate, head_name=head,
                          head_pinyin="".join(pinyin_key(head)[0]), head_initials=initials(head), status=status)
    db.session.add(household)
    db.session.flush()
    return household


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, "PNG")
    return out.getvalue()


# --- categories ----------------------------------------------------------------------------------

def test_standard_categories_are_offered_not_inserted_and_can_be_renamed_and_reordered(ctx):
    with alpha() as (world, admin):
        assert service.list_categories(admin) == []  # nothing appears by itself
        added = service.add_standard_categories(admin)
        assert [c.name_zh for c in added] == ["人居环境", "文明新风", "志愿服务", "党建引领", "脱贫致富", "遵纪守法",
                                             "移风易俗"]
        assert service.add_standard_categories(admin) == []
        assert _audit("rule_category.create") == 7
        first, last = added[0], added[-1]
        service.update_category(admin, last.id, {"name_zh": "移风易俗", "name_en": "New customs", "sort_order": 0})
        assert service.list_categories(admin)[0].name_en == "New customs"
        with pytest.raises(InputConflict) as e:  # the name is taken: the township's data refuses it
            service.update_category(admin, first.id, {"name_zh": "移风易俗", "name_en": ""})
        assert "name_zh" in e.value.errors
        with pytest.raises(Invalid) as e:
            service.create_category(admin, {"name_zh": "", "sort_order": "x"})
        assert set(e.value.errors) == {"name_zh", "sort_order"}
        with pytest.raises(Forbidden):
            service.create_category(actor_of(world, "village_admin"), {"name_zh": "新类"})


# --- versions and items --------------------------------------------------------------------------

def test_an_adopted_version_is_read_only_and_a_new_version_copies_its_items(ctx):
    with alpha() as (world, admin):
        v1 = _rulebook(admin)
        item = service.version_items(admin, v1.id)[0]
        cat = item.category_id
        for write in (lambda: service.update_version(admin, v1.id, {"title": "改"}),
                      lambda: service.create_item(admin, v1.id, _item(cat, code="X1")),
                      lambda: service.update_item(admin, item.id, _item(cat, code="HJ01", points_min=3)),
                      lambda: service.delete_item(admin, item.id),
                      lambda: service.move_item(admin, item.id, False),
                      lambda: service.adopt_version(admin, v1.id, RESOLUTION)):
            with pytest.raises(Conflict) as e:
                write()
            assert "新建版本" in e.value.message
        v2 = service.create_version(admin, {"based_on_id": v1.id})
        assert (v2.number, v2.title, v2.status, v2.based_on_id) == (2, v1.title, "draft", v1.id)
        copied = service.version_items(admin, v2.id)

        def rows(items):
            return [(i.code, i.title_zh, i.points_min, i.points_max, i.cap_points) for i in items]

        assert rows(copied) == rows(service.version_items(admin, v1.id))
        service.update_item(admin, copied[0].id, _item(cat, code="HJ01", points_min=3, points_max=3))
        assert service.get_item(admin, item.id).points_min == 2  # the adopted version is untouched
        service.delete_item(admin, copied[1].id)
        assert _count(RuleItem, RuleItem.version_id == v1.id) == 2


def test_items_are_ordered_within_their_category_and_can_be_moved(ctx):
    with alpha() as (world, admin):
        service.add_standard_categories(admin)
        cat = service.list_categories(admin)[0].id
        v = service.create_version(admin, {"title": "草案"})
        a, b, c = (service.create_item(admin, v.id, _item(cat, title_zh=t)) for t in ("甲", "乙", "丙"))
        assert [a.code, b.code, c.code] == ["R001", "R002", "R003"]
        service.move_item(admin, c.id, up=True)
        assert [i.title_zh for i in service.version_items(admin, v.id)] == ["甲", "丙", "乙"]
        assert _audit("rule_item.move") == 1


# a field alone is Invalid (422, the API document declares it); how the fields relate, an unknown
# category and a taken code are an InputConflict (409)
BAD_ITEMS = [
    ({"points_min": 0}, "points_min", Invalid), ({"points_min": -3}, "points_min", Invalid),
    ({"points_min": "abc"}, "points_min", Invalid),
    ({"points_min": 10, "points_max": 5}, "points_max", InputConflict),
    ({"points_min": 3, "points_max": 10, "points_default": 12}, "points_default", InputConflict),
    ({"points_min": 3, "points_max": 10, "points_default": 1}, "points_default", InputConflict),
    ({"cap_points": 20, "cap_period": None}, "cap_period", InputConflict),
    ({"cap_points": None, "cap_period": "month"}, "cap_points", InputConflict),
    ({"cap_points": 1, "points_min": 2}, "cap_points", InputConflict), ({"cap_period": "week"}, "cap_period", Invalid),
    ({"unit": "hour"}, "unit", Invalid), ({"direction": "bonus"}, "direction", Invalid),
    ({"initiator": "anyone"}, "initiator", Invalid), ({"review": "none"}, "review", Invalid),
    ({"category_id": "00000000-0000-0000-0000-000000000000"}, "category_id", InputConflict),
    ({"title_zh": "  "}, "title_zh", Invalid), ({"code": "HJ01"}, "code", InputConflict),
    ({"points_min": 10 ** 9}, "points_min", Invalid),
]


@pytest.mark.parametrize("bad,field,refusal", BAD_ITEMS)
def test_a_bad_item_names_the_field_and_writes_nothing(ctx, bad, field, refusal):
    with alpha() as (world, admin):
        service.add_standard_categories(admin)
        cat = service.list_categories(admin)[0].id
        v = service.create_version(admin, {"title": "草案"})
        service.create_item(admin, v.id, _item(cat, code="HJ01"))
        db.session.commit()
        before = _count(RuleItem), _count(AuditEntry)
        with pytest.raises(refusal) as e:
            service.create_item(admin, v.id, _item(cat, code="HJ02") | bad)
        assert field in e.value.errors, e.value.errors
        db.session.rollback()
        assert (_count(RuleItem), _count(AuditEntry)) == before


def test_every_bad_item_field_is_named_at_once(ctx):
    with alpha() as (world, admin):
        v = service.create_version(admin, {"title": "草案"})
        with pytest.raises(Invalid) as e:
            service.create_item(admin, v.id, {"title_zh": "", "direction": "x", "points_min": 0, "unit": "hour",
                                              "cap_points": 5, "initiator": "x", "review": "x"})
        assert set(e.value.errors) >= {"title_zh", "category_id", "direction", "points_min", "unit", "cap_period",
                                       "initiator", "review"}


# --- adoption and the version in force -----------------------------------------------------------

# a field alone is Invalid (422); the votes against each other, the days against each other and today
# are an InputConflict (409)
BAD_RESOLUTIONS = [
    ({"attendance": 0}, "attendance", Invalid),
    ({"attendance": 40, "votes_for": 30, "votes_against": 8, "votes_abstain": 5}, "attendance", InputConflict),
    ({"attendance": 40, "votes_for": 20, "votes_against": 10, "votes_abstain": 10}, "votes_for", InputConflict),
    ({"votes_against": -1}, "votes_against", Invalid),
    ({"assembly_date": "2099-01-01", "adopted_on": "2099-02-01"}, "assembly_date", InputConflict),
    ({"adopted_on": "2026-03-01"}, "adopted_on", InputConflict), ({"adopted_on": ""}, "adopted_on", Invalid),
    ({"assembly_date": "18/03/2026"}, "assembly_date", Invalid), ({"votes_for": None}, "votes_for", Invalid),
]


@pytest.mark.parametrize("bad,field,refusal", BAD_RESOLUTIONS)
def test_adoption_needs_a_valid_resolution(ctx, bad, field, refusal):
    with alpha() as (world, admin):
        service.add_standard_categories(admin)
        v = service.create_version(admin, {"title": "草案"})
        service.create_item(admin, v.id, _item(service.list_categories(admin)[0].id))
        db.session.commit()
        with pytest.raises(refusal) as e:
            service.adopt_version(admin, v.id, RESOLUTION | bad)
        assert field in e.value.errors, e.value.errors
        db.session.rollback()
        assert service.get_version(admin, v.id).status == "draft"
        assert _audit("rulebook_version.adopt") == 0


def test_adoption_needs_items_and_a_scan_that_is_a_pdf_or_photo(ctx):
    with alpha() as (world, admin):
        empty = service.create_version(admin, {"title": "空"})
        with pytest.raises(Conflict):
            service.adopt_version(admin, empty.id, RESOLUTION)
        service.add_standard_categories(admin)
        service.create_item(admin, empty.id, _item(service.list_categories(admin)[0].id))
        db.session.commit()
        with pytest.raises(Invalid) as e:
            service.adopt_version(admin, empty.id, RESOLUTION | {"attendance": 0}, scan=("a.txt", b"hello"))
        assert {"scan", "attendance"} <= set(e.value.errors)
        db.session.rollback()
        adopted = service.adopt_version(admin, empty.id, RESOLUTION, scan=("决议.pdf", b"%PDF-1.4 resolution"))
        assert adopted.scan_file_id and adopted.status == "adopted" and adopted.adopted_by == admin.id


def test_adopting_a_new_version_retires_the_old_one_and_each_day_has_its_version(ctx):
    with alpha() as (world, admin):
        v1 = _rulebook(admin)
        db.session.commit()
        with pytest.raises(InputConflict) as e:  # not after the version in force
            _rulebook(admin, adopted_on="2026-04-01", based_on=v1)
        assert "adopted_on" in e.value.errors
        db.session.rollback()
        v2 = _rulebook(admin, adopted_on="2026-07-01", assembly="2026-06-20", based_on=v1)
        assert (v1.status, v1.retired_on, v2.status) == ("retired", JULY, "adopted")
        assert service.version_in_force(date(2026, 3, 31)) is None
        assert service.version_in_force(APRIL).id == v1.id
        assert service.version_in_force(date(2026, 6, 30)).id == v1.id
        assert service.version_in_force(JULY).id == v2.id
        assert service.version_in_force(date(2027, 1, 1)).id == v2.id
        assert _audit("rulebook_version.retire") == 1 and _audit("rulebook_version.adopt") == 2


# --- village adoption and the rules in force -----------------------------------------------------

def test_rules_in_force_follow_the_village_adoption_in_force_on_the_day(ctx):
    with alpha() as (world, admin):
        v1_id, v2_id, v3_id = world.a.villages
        v1 = _rulebook(admin)
        older = _village_rulebook(admin, v1_id, settings={"ZY01": {"points": 8}, "HJ01": {"enabled": False}})
        assert adoption.rules_in_force(v1_id, date(2026, 3, 31)) is None  # the day before adoption
        rules = adoption.rules_in_force(v1_id, APRIL)  # the adoption day itself
        assert rules.village_rulebook.id == older.id and rules.version.id == v1.id
        assert (rules.by_code("ZY01").points, rules.by_code("ZY01").overridden) == (8, True)
        assert rules.by_code("HJ01").enabled is False and rules.by_code("HJ01").points == 2
        assert adoption.rules_in_force(v2_id, APRIL) is None  # a village that has not adopted
        v2 = _rulebook(admin, adopted_on="2026-07-01", assembly="2026-06-20", based_on=v1)
        db.session.commit()
        assert adoption.rules_in_force(v1_id, JULY).village_rulebook.id == older.id  # until the village adopts
        with pytest.raises(InputConflict) as e:  # a village cannot adopt before the township version is in force
            _village_rulebook(admin, v1_id, adopted_on="2026-06-30")
        assert "adopted_on" in e.value.errors
        db.session.rollback()
        newer = _village_rulebook(admin, v1_id, adopted_on="2026-08-01")
        assert (older.status, older.retired_on) == ("retired", date(2026, 8, 1))
        assert adoption.rules_in_force(v1_id, date(2026, 8, 1)).village_rulebook.id == newer.id
        later = adoption.rules_in_force(v1_id, date(2026, 9, 1))
        assert later.version.id == v2.id and later.by_code("ZY01").points == 5  # the new one starts from defaults
        # conduct dated while the older rulebook was in force is still judged by it
        assert adoption.rules_in_force(v1_id, date(2026, 7, 31)).by_code("ZY01").points == 8


def test_a_village_sets_points_within_the_range_and_nothing_outside(ctx):
    with alpha() as (world, admin):
        _rulebook(admin)
        vadmin = actor_of(world, "village_admin")  # of villages[0]
        vr = adoption.start_village_rulebook(vadmin, world.a.villages[0])
        with pytest.raises(Conflict):
            adoption.start_village_rulebook(vadmin, world.a.villages[0])
        items = {e.item.code: e.item for e in adoption.village_items(vadmin, vr.id)}
        # outside the item's range (3..10): the stored item refuses it (409); no points at all: 422
        for bad, refusal in ((11, InputConflict), (2, InputConflict), (0, Invalid), ("many", Invalid)):
            with pytest.raises(refusal) as e:
                adoption.set_village_item(vadmin, vr.id, items["ZY01"].id, {"points": bad})
            assert "points" in e.value.errors and "ZY01" in e.value.errors["points"][0]
        with pytest.raises(InputConflict) as e:  # a fixed item has no room
            adoption.set_village_item(vadmin, vr.id, items["HJ01"].id, {"points": 3})
        assert "HJ01" in e.value.errors["points"][0]
        assert adoption.set_village_item(vadmin, vr.id, items["ZY01"].id, {"points": 10}).points == 10
        db.session.commit()
        with pytest.raises(InputConflict) as e:  # the page form: every bad row named by its input
            adoption.set_village_items(vadmin, vr.id, {str(items["ZY01"].id): {"enabled": "on", "points": "99"},
                                                       str(items["HJ01"].id): {"enabled": "", "points": "7"}})
        assert set(e.value.errors) == {f"points-{items['ZY01'].id}", f"points-{items['HJ01'].id}"}
        db.session.rollback()
        # out of scope: another village's admin sees it as missing; a cadre may not manage at all
        with pytest.raises(NotFound):
            adoption.start_village_rulebook(vadmin, world.a.villages[1])
        with pytest.raises(Forbidden):
            adoption.set_village_item(actor_of(world, "area_cadre"), vr.id, items["ZY01"].id, {"points": 4})
        adoption.set_village_items(vadmin, vr.id, {str(i.id): {"enabled": "", "points": ""} for i in items.values()})
        with pytest.raises(Conflict):
            adoption.adopt_village_rulebook(vadmin, vr.id, RESOLUTION)
        adoption.set_village_items(vadmin, vr.id, {str(items["ZY01"].id): {"enabled": "on", "points": "6"}})
        adoption.adopt_village_rulebook(vadmin, vr.id, RESOLUTION)
        with pytest.raises(Conflict):  # the village's adopted rulebook is read-only
            adoption.set_village_item(vadmin, vr.id, items["ZY01"].id, {"points": 4})
        assert _audit("village_rulebook.items") == 3 and _audit("village_rulebook.adopt") == 1


# --- commitment signing --------------------------------------------------------------------------

@pytest.fixture
def signing_ids(app):
    """Village 0: the conftest branch (large > medium > small > micro, one household 张三伟) and a
    second small > micro branch; village 1: its own branch. Both villages adopted the rulebook.
    Built in a context of its own (page tests must not share one with their requests); plain ids."""
    with app.app_context(), alpha() as (world, admin):
        v0, v1, _v2 = world.a.villages
        large, medium, small, micro = (db.session.get(GridNode, (world.a.tenant_id, i)) for i in world.a.grid)
        small2 = _node(medium, 3, "二小网格", v0)
        micro2 = _node(small2, 4, "二微网格", v0)
        other_large = _node(None, 1, "礼坑大网格", v1)
        other_micro = _node(_node(_node(other_large, 2, "礼坑中网格", v1), 3, "礼坑小网格", v1), 4, "礼坑微网格", v1)
        hh = {"张三伟": world.a.household}
        for head, plate, node in (("王五", "2号", micro), ("李四", "3号", micro2), ("阿明", "4号", micro2),
                                  ("赵六", "1号", other_micro)):
            hh[head] = _household(node.village_id, node.id, head, plate).id
        hh["钱七"] = _household(v0, micro.id, "钱七", "5号", status="moved_out").id
        _rulebook(admin)
        vrs = {v: _village_rulebook(admin, v).id for v in (v0, v1)}
        nodes = {"large": large, "medium": medium, "small": small, "micro": micro, "small2": small2,
                 "micro2": micro2, "other_large": other_large}
        db.session.commit()
        return world, vrs, hh, {k: n.id for k, n in nodes.items()}


@contextmanager
def alpha_scope(world):
    with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        yield actor_of(world, "township_admin")


@pytest.fixture
def signing_world(ctx, signing_ids):
    """The same, loaded in the test's context with alpha in scope."""
    world, vrs, hh, nodes = signing_ids
    t = world.a.tenant_id
    with alpha_scope(world) as admin:
        yield (world, admin, {v: db.session.get(VillageRulebook, (t, i)) for v, i in vrs.items()},
               {k: db.session.get(Household, (t, i)) for k, i in hh.items()},
               {k: db.session.get(GridNode, (t, i)) for k, i in nodes.items()})


def _sign(actor, vr, household, **kw):
    return signing.record_signature(actor, vr.id, {"household_id": household.id, "signed_on": "2026-04-05",
                                                   "signer_name": household.head_name, "witness_name": "刘建国"} | kw)


def test_signing_rate_per_village_and_grid_and_who_has_not_signed(signing_world):
    world, admin, vrs, hh, nodes = signing_world
    v0, v1, v2 = world.a.villages
    _sign(admin, vrs[v0], hh["张三伟"])
    signing.record_signatures(admin, vrs[v0].id, [hh["李四"].id], {"signed_on": "2026-04-06", "witness_name": "刘建国"})
    report = signing.signing_report(admin)
    rates = {r.village.id: (r.total, r.signed, r.percent) for r in report.villages}
    assert rates == {v0: (4, 2, 50.0), v1: (1, 0, 0.0), v2: (0, 0, None)}  # moved-out 钱七 is not counted
    by_node = {r.node.name: (r.total, r.signed) for r in report.nodes}
    assert by_node["大网格"] == by_node["中网格"] == (4, 2)  # rolled up over the whole subtree
    assert by_node["小网格"] == by_node["微网格"] == (2, 1)
    assert by_node["二小网格"] == (2, 1) and by_node["礼坑大网格"] == (1, 0)
    unsigned = signing.unsigned_households(admin)
    assert [h.head_name for h in unsigned.items] == ["阿明", "王五", "赵六"]  # pinyin order: a, wang, zhao
    assert [h.head_name for h in signing.unsigned_households(admin, village_id=v1).items] == ["赵六"]
    assert [h.head_name for h in signing.unsigned_households(admin, grid_node_id=nodes["small2"].id).items] == ["阿明"]
    only_v1 = signing.signing_report(admin, v1)
    assert [r.village.id for r in only_v1.villages] == [v1]
    assert {r.node.name for r in only_v1.nodes} == {"礼坑大网格", "礼坑中网格", "礼坑小网格", "礼坑微网格"}


def test_the_unsigned_list_is_paginated(signing_world):
    world, admin, vrs, hh, nodes = signing_world
    for n in range(60):
        _household(world.a.villages[0], nodes["micro"].id, f"陈{n:02d}", f"陈{n}号")
    first, second = signing.unsigned_households(admin, page=1), signing.unsigned_households(admin, page=2)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (65, 2, 50, 15)
    assert not {h.id for h in first.items} & {h.id for h in second.items}
    assert signing.unsigned_households(admin, page=99).page == 2


def test_a_household_signs_once_and_only_its_own_villages_adopted_rulebook(signing_world):
    world, admin, vrs, hh, nodes = signing_world
    v0, v1, _ = world.a.villages
    signature = _sign(admin, vrs[v0], hh["王五"], signer_name="王五妻")  # free text: the spouse signs
    assert signature.signer_name == "王五妻" and signature.recorded_by == admin.id
    db.session.commit()
    with pytest.raises(Conflict) as e:
        _sign(admin, vrs[v0], hh["王五"])
    assert "王五" in e.value.message
    for household, kw, field, refusal in ((hh["赵六"], {}, "household_id", InputConflict),
                                          (hh["钱七"], {}, "household_id", InputConflict),
                                          (hh["李四"], {"signed_on": "2099-01-01"}, "signed_on", InputConflict),
                                          (hh["李四"], {"signed_on": "2026-03-01"}, "signed_on", InputConflict),
                                          (hh["李四"], {"witness_name": ""}, "witness_name", Invalid),
                                          (hh["李四"], {"signer_name": " "}, "signer_name", Invalid)):
        with pytest.raises(refusal) as e:
            _sign(admin, vrs[v0], household, **kw)
        assert field in e.value.errors, (household.head_name, kw, e.value.errors)
    with pytest.raises(Invalid) as e:
        signing.record_signature(admin, vrs[v0].id, {"household_id": hh["李四"].id, "signed_on": "2026-04-05",
                                                     "signer_name": "李四", "witness_name": "刘建国"},
                                 scan=("x.txt", b"not a scan"))
    assert "scan" in e.value.errors
    db.session.rollback()
    # the bulk form is all or nothing: one household already signed refuses the whole batch
    before = _count(CommitmentSignature)
    with pytest.raises(Conflict) as e:
        signing.record_signatures(admin, vrs[v0].id, [hh["李四"].id, hh["王五"].id],
                                  {"signed_on": "2026-04-06", "witness_name": "刘建国"})
    assert "王五" in e.value.message
    db.session.rollback()
    assert _count(CommitmentSignature) == before
    done = signing.record_signatures(admin, vrs[v0].id, [hh["李四"].id, hh["阿明"].id],
                                     {"signed_on": "2026-04-06", "witness_name": "刘建国"})
    assert {s.signer_name for s in done} == {"李四", "阿明"}
    assert _audit("commitment.sign") == 3  # one entry per signature


def test_signing_needs_an_adopted_village_rulebook(signing_world):
    world, admin, vrs, hh, nodes = signing_world
    _rulebook(admin, adopted_on="2026-07-01", assembly="2026-06-20",
              based_on=db.session.get(RulebookVersion, (world.a.tenant_id, vrs[world.a.villages[0]].version_id)))
    draft = adoption.start_village_rulebook(admin, world.a.villages[0])
    with pytest.raises(Conflict):
        _sign(admin, draft, hh["王五"])


def test_a_grid_worker_records_and_sees_only_their_households(signing_world):
    world, admin, vrs, hh, nodes = signing_world
    v0 = world.a.villages[0]
    # a grid worker of the first small node only: 张三伟 and 王五 (micro), not 李四 / 阿明 (micro2)
    worker = Actor("user", world.a.user_id("grid_worker"), "网格员", tenant_id=world.a.tenant_id,
                   grants=(Grant("grid_worker", frozenset({nodes["small"].id})),))
    _sign(worker, vrs[v0], hh["王五"])
    db.session.commit()
    with pytest.raises(NotFound):
        _sign(worker, vrs[v0], hh["李四"])
    with pytest.raises(NotFound):
        signing.record_signatures(worker, vrs[v0].id, [hh["张三伟"].id, hh["阿明"].id],
                                  {"signed_on": "2026-04-06", "witness_name": "刘建国"})
    db.session.rollback()
    assert [h.head_name for h in signing.households_to_sign(worker, vrs[v0].id).items] == ["张三伟"]
    report = signing.signing_report(worker)
    assert [(r.village.id, r.total, r.signed) for r in report.villages] == [(v0, 2, 1)]
    assert [r.node.name for r in report.nodes] == ["小网格", "微网格"]
    assert [h.head_name for h in signing.unsigned_households(worker).items] == ["张三伟"]
    # a village admin reaches the whole village, a panel member of another village reports on theirs
    vadmin = actor_of(world, "village_admin")
    assert {h.head_name for h in signing.households_to_sign(vadmin, vrs[v0].id).items} == {"张三伟", "李四", "阿明"}
    with pytest.raises(Forbidden):
        _sign(actor_of(world, "panel_member"), vrs[v0], hh["李四"])
    assert [r.village.id for r in signing.signing_report(actor_of(world, "panel_member")).villages] == \
           [world.a.villages[1]]


# --- demo ----------------------------------------------------------------------------------------

def test_demo_rulebook_loads_once_with_all_villages_adopting_and_most_households_signing(ctx):
    from jifen.tenants.rulebook.demo import ADOPTED_ON, ITEMS, TITLE, load_demo

    with alpha() as (world, admin):
        meiyuan = world.a.villages[2]
        node = _node(None, 1, "梅园网格", meiyuan)
        for n in range(40):
            _household(meiyuan, node.id, f"林{n:02d}", f"林{n}号")
        villages = {v.name: v for v in db.session.execute(select(Village)).scalars()}
        load_demo(admin, villages)
        db.session.commit()
        before = _count(AuditEntry), _count(CommitmentSignature)
        load_demo(admin, villages)
        assert (_count(AuditEntry), _count(CommitmentSignature)) == before  # idempotent
        demo = db.session.execute(select(RulebookVersion).where(RulebookVersion.title == TITLE)).scalar_one()
        assert demo.status == "adopted" and demo.adopted_on == ADOPTED_ON == date(2026, 1, 1)
        assert len(ITEMS) >= 30 and _count(RuleItem, RuleItem.version_id == demo.id) == len(ITEMS)
        assert _count(RuleCategory) == 7 and all(item[3] for item in ITEMS)
        assert {i.direction for i in service.version_items(admin, demo.id)} == {"award", "deduction"}
        for village in villages.values():
            assert adoption.rules_in_force(village.id, APRIL).version.id == demo.id
        meiyuan_rules = adoption.rules_in_force(meiyuan, APRIL)
        assert meiyuan_rules.by_code("HJ04").points == 5  # the village's own choice within 3~10
        rate = {r.village.id: r for r in signing.signing_report(admin).villages}[meiyuan]
        assert rate.total == 40 and 25 <= rate.signed <= 40  # about 85%


# --- pages ---------------------------------------------------------------------------------------

def _page_client(app, username="admin", lang="zh_CN"):
    client = app.test_client()
    assert page_login(client, "alpha", username).status_code == 302
    if lang == "en":
        client.post("/t/alpha/lang", data={"locale": "en", "next": "/t/alpha/",
                                           "csrf_token": csrf_token(client, "/t/alpha/")})
    return client


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_render_in_both_languages(app, signing_ids, lang):
    world, vrs, hh, nodes = signing_ids
    with app.app_context(), alpha_scope(world) as admin:
        vr = db.session.get(VillageRulebook, (world.a.tenant_id, vrs[world.a.villages[0]]))
        draft = service.create_version(admin, {"based_on_id": vr.version_id})
        draft_item = service.version_items(admin, draft.id)[0]
        adopted_item = service.version_items(admin, vr.version_id)[0]
        db.session.commit()
    client = _page_client(app, lang=lang)
    title = "门前三包保持整洁" if lang == "zh_CN" else "Keeping the frontage clean"
    pages = {
        "/t/alpha/rulebook/": "龙窝镇积分管理实施细则",
        "/t/alpha/rulebook/categories": "人居环境",
        f"/t/alpha/rulebook/versions/{vr.version_id}": title,
        f"/t/alpha/rulebook/versions/{draft.id}": f"/t/alpha/rulebook/items/{draft_item.id}",
        f"/t/alpha/rulebook/items/{draft_item.id}": 'value="门前三包保持整洁"',
        f"/t/alpha/rulebook/versions/{draft.id}/items/new": 'name="points_min"',
        f"/t/alpha/rulebook/versions/{draft.id}/adopt": 'name="scan"',
        f"/t/alpha/rulebook/villages/{world.a.villages[0]}": "官田村",
        f"/t/alpha/rulebook/village-rulebooks/{vr.id}": title,
        f"/t/alpha/rulebook/village-rulebooks/{vr.id}/signing": "王五",
        f"/t/alpha/rulebook/village-rulebooks/{vr.id}/sign?household_id={hh['王五']}": "王五",
        "/t/alpha/rulebook/signing-report": "阿明",
    }
    for path, text in pages.items():
        resp = client.get(path)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200, path
        assert text in html, path
        assert f'lang="{"zh-CN" if lang == "zh_CN" else "en"}"' in html
    if lang == "en":
        assert "门前三包保持整洁" not in client.get(f"/t/alpha/rulebook/versions/{vr.version_id}").get_data(as_text=True)
    assert client.get(f"/t/alpha/rulebook/items/{adopted_item.id}").status_code == 302  # read-only: no form


def test_the_console_tiles_follow_the_roles(app, world):
    villager = _page_client(app, "villager").get("/t/alpha/").get_data(as_text=True)
    assert 'id="rules"' in villager and "signing-report" not in villager  # the villager's home shows the rules
    gridder = _page_client(app, "gridder").get("/t/alpha/").get_data(as_text=True)
    assert "signing-report" in gridder


def test_page_forms_show_errors_next_to_fields_and_write_nothing_when_bad(app, world):
    client = _page_client(app)
    token = csrf_token(client, "/t/alpha/rulebook/categories")
    client.post("/t/alpha/rulebook/categories/standard", data={"csrf_token": token})
    resp = client.post("/t/alpha/rulebook/versions", data={"title": "细则草案", "csrf_token": token})
    assert resp.status_code == 302
    version_path = resp.headers["Location"]
    version_id = version_path.rstrip("/").rsplit("/", 1)[1]
    form = client.get(f"/t/alpha/rulebook/versions/{version_id}/items/new").get_data(as_text=True)
    category_id = re.search(r'<option value="([0-9a-f-]{36})"', form).group(1)
    good = {"category_id": category_id, "title_zh": "参加集中整治行动", "title_en": "Clean-up campaign",
            "direction": "award", "points_min": "5", "points_max": "", "points_default": "", "unit": "occurrence",
            "cap_points": "", "cap_period": "", "initiator": "staff", "review": "verification", "code": "",
            "sort_order": "", "csrf_token": token}
    bad = client.post(f"/t/alpha/rulebook/versions/{version_id}/items/new",
                      data=good | {"points_min": "10", "points_max": "3", "cap_points": "5"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="e-points_max"' in html and 'id="e-cap_period"' in html
    assert 'value="参加集中整治行动"' in html  # the rest of the form is kept
    assert client.post(f"/t/alpha/rulebook/versions/{version_id}/items/new", data=good).status_code == 302
    adopt = f"/t/alpha/rulebook/versions/{version_id}/adopt"
    data = {k: str(v) for k, v in RESOLUTION.items()} | {"csrf_token": token}
    resp = client.post(adopt, data=data | {"votes_for": "10", "scan": (io.BytesIO(b"plain text"), "scan.txt")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="e-scan"' in html and 'id="e-votes_for"' in html
    resp = client.post(adopt, data=data | {"scan": (io.BytesIO(_png()), "决议.png")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    page = client.get(version_path).get_data(as_text=True)
    assert "/t/alpha/files/" in page and "2026-04-01" in page
    # the adopted version shows no edit links and refuses writes with a clear page, not a 500
    assert re.search(r"items/([0-9a-f-]{36})", page) is None
    assert client.post(adopt, data=data).status_code == 409


def test_village_adoption_and_signing_through_the_pages(app, signing_ids):
    world, vrs, hh, nodes = signing_ids
    v0 = world.a.villages[0]
    with app.app_context(), alpha_scope(world) as admin:
        vr = db.session.get(VillageRulebook, (world.a.tenant_id, vrs[v0]))
        version = _rulebook(admin, adopted_on="2026-07-01", assembly="2026-06-20",
                            based_on=db.session.get(RulebookVersion, (world.a.tenant_id, vr.version_id)))
        db.session.commit()
    client = _page_client(app, "vadmin")
    token = csrf_token(client, "/t/alpha/rulebook/")
    resp = client.post(f"/t/alpha/rulebook/villages/{v0}", data={"version_id": str(version.id), "csrf_token": token})
    assert resp.status_code == 302
    vr_path = resp.headers["Location"]
    page = client.get(vr_path).get_data(as_text=True)
    zy01 = re.search(r'name="(points-[0-9a-f-]{36})" type="number" min="3" max="10"', page).group(1)
    hj01 = re.search(r'name="(points-[0-9a-f-]{36})" value=""', page).group(1)
    rows = {zy01: "12", hj01: "", f"enabled-{zy01[7:]}": "on", "csrf_token": token}
    resp = client.post(vr_path, data=rows)
    assert resp.status_code == 422 and f'id="e-{zy01}"' in resp.get_data(as_text=True)
    assert client.post(vr_path, data=rows | {zy01: "9"}).status_code == 302
    page = client.get(vr_path).get_data(as_text=True)
    assert 'value="9"' in page
    resp = client.post(vr_path + "/adopt", data={k: str(v) for k, v in RESOLUTION.items()} |
                       {"adopted_on": "2026-07-10", "csrf_token": token})
    assert resp.status_code == 302
    printable = client.get(vr_path).get_data(as_text=True)
    assert "+9" in printable and 'class="off"' in printable  # HJ01 was left unticked: switched off
    # bulk signing: tick two households of the grid on one day
    vr_id = vr_path.rstrip("/").rsplit("/", 1)[1]
    signing_path = f"/t/alpha/rulebook/village-rulebooks/{vr_id}/signing"
    resp = client.post(signing_path, data={"household_ids": [str(hh["王五"]), str(hh["李四"])],
                                           "signed_on": "2026-07-12", "witness_name": "", "csrf_token": token})
    assert resp.status_code == 422 and 'id="e-witness_name"' in resp.get_data(as_text=True)
    resp = client.post(signing_path, data={"household_ids": [str(hh["王五"]), str(hh["李四"])],
                                           "signed_on": "2026-07-12", "witness_name": "刘建国", "csrf_token": token})
    assert resp.status_code == 302
    listing = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "王五" not in listing and "阿明" in listing
    one = f"/t/alpha/rulebook/village-rulebooks/{vr_id}/sign?household_id={hh['阿明']}"
    resp = client.post(one, data={"signed_on": "2026-07-12", "signer_name": "阿明", "witness_name": "刘建国",
                                  "scan": (io.BytesIO(b"%PDF-1.4 signed"), "承诺书.pdf"), "csrf_token": token},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    report = client.get(f"/t/alpha/rulebook/signing-report?village_id={v0}").get_data(as_text=True)
    assert "75.0%" in report and "张三伟" in report  # 3 of 4 signed the new rulebook; 张三伟 has not


# --- API -----------------------------------------------------------------------------------------

@pytest.fixture
def admin_api(app, world):
    client = app.test_client()
    return client, bearer(api_token(client, "alpha", "admin")), world


def test_the_api_builds_adopts_and_reports(admin_api):
    client, headers, world = admin_api
    base = "/api/v1/t/alpha/rulebook"
    assert client.post(f"{base}/categories/standard", headers=headers).status_code == 201
    cats = client.get(f"{base}/categories", headers=headers).get_json()
    assert len(cats) == 7
    resp = client.patch(f"{base}/categories/{cats[0]['id']}", json={"name_en": "Environment"}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["name_zh"] == "人居环境"
    version = client.post(f"{base}/versions", json={"title": "细则"}, headers=headers).get_json()
    items = f"{base}/versions/{version['id']}/items"
    resp = client.post(items, json={"category_id": cats[0]["id"], "title_zh": "垃圾分类", "direction": "award",
                                    "points_min": 0, "unit": "hour", "cap_points": 20}, headers=headers)
    assert resp.status_code == 422
    assert {"points_min", "unit"} <= set(resp.get_json()["errors"]["json"])
    resp = client.post(items, json={"category_id": cats[0]["id"], "title_zh": "垃圾分类", "direction": "award",
                                    "points_min": 1, "unit": "day", "cap_points": 20}, headers=headers)
    assert resp.status_code == 409  # a cap without its period: the fields relate, each fits the document
    assert {"cap_period"} <= set(resp.get_json()["errors"]["json"])
    resp = client.post(items, json={"category_id": cats[0]["id"], "title_zh": "垃圾分类", "title_en": "Sorting waste",
                                    "direction": "award", "points_min": 1, "unit": "day", "cap_points": 20,
                                    "cap_period": "month", "code": "HJ03"}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    item = resp.get_json()
    resp = client.patch(f"{base}/items/{item['id']}", json={"points_max": 3, "points_default": 2}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["points_max"] == 3
    resp = client.patch(f"{base}/items/{item['id']}", json={"points_default": 9}, headers=headers)
    assert resp.status_code == 409 and "points_default" in resp.get_json()["errors"]["json"]
    adopt = f"{base}/versions/{version['id']}/adopt"
    resp = client.post(adopt, json=RESOLUTION | {"votes_for": 5, "attendance": 0}, headers=headers)
    assert resp.status_code == 422 and "attendance" in resp.get_json()["errors"]["json"]
    resp = client.post(adopt, json=RESOLUTION | {"votes_for": 5}, headers=headers)
    assert resp.status_code == 409 and "votes_for" in resp.get_json()["errors"]["json"]  # no majority of 45
    resp = client.post(adopt, json={"attendance": 40}, headers=headers)
    assert resp.status_code == 422 and {"assembly_date", "adopted_on"} <= set(resp.get_json()["errors"]["json"])
    assert client.post(adopt, json=RESOLUTION, headers=headers).status_code == 200
    resp = client.post(f"{base}/versions/{version['id']}/scan", data={"scan": (io.BytesIO(b"no"), "x.txt")},
                       headers=headers, content_type="multipart/form-data")
    assert resp.status_code == 422 and "scan" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{base}/versions/{version['id']}/scan", data={"scan": (io.BytesIO(_png()), "x.png")},
                       headers=headers, content_type="multipart/form-data")
    assert resp.status_code == 200 and resp.get_json()["scan_file_id"]
    assert client.patch(f"{base}/items/{item['id']}", json={"points_max": 4}, headers=headers).status_code == 409
    assert client.delete(f"{base}/items/{item['id']}", headers=headers).status_code == 409
    assert client.patch(f"{base}/versions/{version['id']}", json={"title": "x"}, headers=headers).status_code == 409
    village = world.a.villages[0]
    resp = client.post(f"{base}/villages/{village}/rulebooks", json={}, headers=headers)
    assert resp.status_code == 201
    vr = resp.get_json()
    assert [i["code"] for i in vr["items"]] == ["HJ03"]
    setting = f"{base}/village-rulebooks/{vr['id']}/items/{item['id']}"
    resp = client.put(setting, json={"enabled": True, "points": 5}, headers=headers)
    assert resp.status_code == 409 and "HJ03" in resp.get_json()["errors"]["json"]["points"][0]
    assert client.put(setting, json={"enabled": True, "points": 3}, headers=headers).get_json()["points"] == 3
    resp = client.post(f"{base}/village-rulebooks/{vr['id']}/adopt", json=RESOLUTION, headers=headers)
    assert resp.status_code == 200
    in_force = client.get(f"{base}/in-force?village_id={village}&day=2026-04-01", headers=headers).get_json()
    assert in_force["village_rulebook"]["id"] == vr["id"] and in_force["items"][0]["points"] == 3
    before = client.get(f"{base}/in-force?village_id={village}&day=2026-03-31", headers=headers).get_json()
    assert before["village_rulebook"] is None and before["items"] == []
    township = client.get(f"{base}/in-force?day=2026-05-01", headers=headers).get_json()
    assert township["version"]["id"] == version["id"] and township["items"][0]["points"] == 2
    sig = f"{base}/village-rulebooks/{vr['id']}/signatures"
    body = {"household_id": str(world.a.household), "signed_on": "2026-04-03", "signer_name": "张三伟",
            "witness_name": "刘建国"}
    resp = client.post(sig, json=body | {"signed_on": "soon", "witness_name": ""}, headers=headers)
    assert resp.status_code == 422 and "signed_on" in resp.get_json()["errors"]["json"]
    assert client.post(sig, json=body, headers=headers).status_code == 201
    again = client.post(sig, json=body, headers=headers)
    assert again.status_code == 409 and "张三伟" in again.get_json()["message"]
    report = client.get(f"{base}/signing-report?village_id={village}", headers=headers).get_json()
    assert report["villages"][0]["percent"] == 100.0 and report["unsigned"]["total"] == 0
    assert {n["name"] for n in report["grid"]} == {"大网格", "中网格", "小网格", "微网格"}
    assert client.get(f"{base}/versions/{version['id']}/items", headers=headers).get_json()[0]["code"] == "HJ03"
    with_role = bearer(api_token(client, "alpha", "panel"))
    assert client.post(f"{base}/versions", json={"title": "x"}, headers=with_role).status_code == 403


def test_other_townships_ids_are_not_found(app, admin_api):
    client, headers, world = admin_api
    base = "/api/v1/t/alpha/rulebook"
    with app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            b_admin = actor_for(db.session.get(User, (beta.id, world.b.user_id())))
            b_version = _rulebook(b_admin)
            b_vr = _village_rulebook(b_admin, world.b.villages[0])
            b_item = service.version_items(b_admin, b_version.id)[0]
            b_ids = {"version": b_version.id, "item": b_item.id, "category": b_item.category_id, "vr": b_vr.id,
                     "household": world.b.household}
            db.session.commit()
    for method, path in (("get", f"/versions/{b_ids['version']}"), ("get", f"/versions/{b_ids['version']}/items"),
                         ("patch", f"/items/{b_ids['item']}"), ("delete", f"/items/{b_ids['item']}"),
                         ("patch", f"/categories/{b_ids['category']}"), ("get", f"/village-rulebooks/{b_ids['vr']}"),
                         ("post", f"/village-rulebooks/{b_ids['vr']}/adopt"),
                         ("get", f"/villages/{world.b.villages[0]}/rulebooks")):
        resp = getattr(client, method)(base + path, json={} if method != "get" else None, headers=headers)
        assert resp.status_code == 404, (method, path, resp.status_code)
    assert client.get(f"{base}/in-force?village_id={world.b.villages[0]}", headers=headers).status_code == 404
    assert client.get(f"{base}/signing-report?village_id={world.b.villages[0]}", headers=headers).status_code == 404
    # an id of beta inside a body is "not found" too (or, for a category, an unknown category)
    version = client.post(f"{base}/versions", json={"title": "细则"}, headers=headers).get_json()
    resp = client.post(f"{base}/versions/{version['id']}/items", headers=headers,
                       json={"category_id": str(b_ids["category"]), "title_zh": "项", "direction": "award",
                             "points_min": 1})
    assert resp.status_code == 409 and "category_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{base}/versions", json={"based_on_id": str(b_ids["version"])}, headers=headers)
    assert resp.status_code == 409 and "based_on_id" in resp.get_json()["errors"]["json"]
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        _rulebook(admin)
        vr = _village_rulebook(admin, world.a.villages[0])
        db.session.commit()
    resp = client.post(f"{base}/village-rulebooks/{vr.id}/signatures", headers=headers,
                       json={"household_id": str(b_ids["household"]), "signed_on": "2026-04-03",
                             "signer_name": "张三", "witness_name": "刘"})
    assert resp.status_code == 404


def test_random_bodies_never_cause_a_500_and_a_refusal_writes_nothing(app):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.test_never_500 import bodies, values

    with app.app_context():
        world = make_world()
        with alpha_scope(world) as admin:
            version = _rulebook(admin)
            draft = service.create_version(admin, {"based_on_id": version.id})
            item = service.version_items(admin, draft.id)[0]
            vr = adoption.start_village_rulebook(admin, world.a.villages[0])
            adopted_vr = _village_rulebook(admin, world.a.villages[1])
            vr_item = service.version_items(admin, version.id)[0]
            ids = dict(draft=draft.id, item=item.id, vr=vr.id, avr=adopted_vr.id, vr_item=vr_item.id,
                       cat=item.category_id)
            db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    base = "/api/v1/t/alpha/rulebook"
    routes = [("post", "/categories"), ("patch", f"/categories/{ids['cat']}"), ("post", "/versions"),
              ("patch", f"/versions/{ids['draft']}"), ("post", f"/versions/{ids['draft']}/items"),
              ("patch", f"/items/{ids['item']}"), ("post", f"/versions/{ids['draft']}/adopt"),
              ("post", f"/villages/{world.a.villages[2]}/rulebooks"),
              ("put", f"/village-rulebooks/{ids['vr']}/items/{ids['vr_item']}"),
              ("post", f"/village-rulebooks/{ids['vr']}/adopt"), ("post", f"/village-rulebooks/{ids['avr']}/signatures")]
    keys = st.sampled_from(["title", "based_on_id", "name_zh", "name_en", "sort_order", "category_id", "code",
                            "title_zh", "direction", "points_min", "points_max", "points_default", "unit",
                            "cap_points", "cap_period", "initiator", "review", "assembly_date", "attendance",
                            "votes_for", "adopted_on", "enabled", "points", "household_id", "signed_on",
                            "signer_name", "witness_name", "version_id"])

    def audit_count():
        with app.app_context():
            return db.session.execute(select(func.count()).select_from(AuditEntry)
                                      .execution_options(all_tenants=True)).scalar()

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=st.dictionaries(keys, values, max_size=6) | bodies)
    def check(route, body):
        method, path = route
        before = audit_count()
        resp = getattr(client, method)(base + path, json=body, headers=headers)
        assert resp.status_code < 500, (method, path, body, resp.get_data(as_text=True)[:300])
        if resp.status_code >= 400:
            assert audit_count() == before

    check()


def test_drafts_are_hidden_from_those_who_cannot_manage_the_rulebook(app):
    """A villager or panel member reads adopted rules only; a draft is the admins' work in progress."""
    with app.app_context():
        world = make_world()
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_for(db.session.get(User, (tenant.id, world.a.user_id())))
            service.add_standard_categories(admin)
            draft = service.create_version(admin, {"title": "草稿细则"})
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", world.a.username("villager")))
    assert client.get("/api/v1/t/alpha/rulebook/versions", headers=headers).get_json() == []
    assert client.get(f"/api/v1/t/alpha/rulebook/versions/{draft.id}", headers=headers).status_code == 404
    admin_headers = bearer(api_token(client, "alpha", world.a.username()))
    listed = client.get("/api/v1/t/alpha/rulebook/versions", headers=admin_headers).get_json()
    assert [v["title"] for v in listed] == ["草稿细则"]


def test_api_bulk_signing_is_all_or_nothing(app, world):
    """A grid worker's batch: households that signed together on one day before one witness."""
    from jifen.tenants.households import service as households

    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_of(world, "township_admin")
            _rulebook(admin)
            vr = _village_rulebook(admin, world.a.villages[0])
            second = households.create_household(admin, {
                "village_id": world.a.villages[0], "grid_node_id": world.a.grid[-1], "door_plate": "2号",
                "members": [{"name": "李四", "relation": "head"}]})
            ids = {"vr": vr.id, "second": second.id}
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "gridder"))
    url = f"/api/v1/t/alpha/rulebook/village-rulebooks/{ids['vr']}/signatures/bulk"
    body = {"household_ids": [str(world.a.household), str(ids["second"])], "signed_on": "2026-04-05",
            "witness_name": "刘建国"}
    resp = client.post(url, json=body | {"witness_name": ""}, headers=headers)
    assert resp.status_code == 422 and "witness_name" in resp.get_json()["errors"]["json"]
    resp = client.post(url, json=body, headers=headers)
    assert resp.status_code == 201
    assert sorted(s["signer_name"] for s in resp.get_json()) == ["张三伟", "李四"]
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 409
    beta = client.post(url, json=body | {"household_ids": [str(world.b.household)]}, headers=headers)
    assert beta.status_code == 404
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert db.session.execute(select(func.count()).select_from(CommitmentSignature)).scalar() == 2


def test_another_villages_adopt_and_signing_forms_are_missing_like_the_rest(app, signing_ids):
    """官田村's village admin and grid worker reach their own village's forms; 礼坑村's are 404,
    exactly like posting to them (the pages once loaded the rulebook without the scoped check)."""
    world, vrs, hh, _nodes = signing_ids
    own, other = (f"/t/alpha/rulebook/village-rulebooks/{vrs[v]}" for v in world.a.villages[:2])
    vadmin, gridder = _page_client(app, "vadmin"), _page_client(app, "gridder")
    for path in (f"{own}/adopt", f"{own}/signing", f"{own}/sign?household_id={hh['张三伟']}"):
        assert vadmin.get(path).status_code == 200, path
    assert gridder.get(f"{own}/signing").status_code == 200
    for path in (f"{other}/adopt", f"{other}/signing", f"{other}/sign?household_id={hh['赵六']}"):
        assert vadmin.get(path).status_code == 404, path
    assert gridder.get(f"{other}/signing").status_code == 404
    token = csrf_token(vadmin, "/t/alpha/rulebook/")
    assert vadmin.post(f"{other}/signing", data={"household_ids": [str(hh["赵六"])], "signed_on": "2026-04-05",
                                                 "witness_name": "刘建国", "csrf_token": token}).status_code == 404


def test_api_declares_the_static_rules_and_answers_stored_data_with_409(app, admin_api):
    """A rule about the input alone is in the OpenAPI document, from the service's own limits, and
    breaking it is a 422 naming the field; what the township's data refuses is a 409 naming the
    field, and nothing is written either way."""
    client, headers, world = admin_api
    base = "/api/v1/t/alpha/rulebook"
    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert spec["Category"]["properties"]["name_zh"]["maxLength"] == service.MAX_CATEGORY_ZH
    assert spec["Item"]["properties"]["code"]["maxLength"] == service.MAX_CODE
    assert (spec["Item"]["properties"]["points_min"]["minimum"],
            spec["Item"]["properties"]["points_min"]["maximum"]) == (service.MIN_POINTS, MAX_NUMBER)
    assert spec["Item"]["properties"]["direction"]["enum"] == ["award", "deduction"]
    assert spec["Signature"]["properties"]["witness_name"]["maxLength"] == signing.MAX_NAME
    assert spec["BulkSignature"]["properties"]["household_ids"]["minItems"] == 1
    assert spec["Resolution"]["properties"]["attendance"]["minimum"] == MIN_ATTENDANCE
    assert [sorted(rule["required"]) for rule in spec["VersionCreate"]["anyOf"]] == [["title"], ["based_on_id"]]

    def counts():
        with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            return _count(RuleCategory), _count(RulebookVersion), _count(AuditEntry)

    assert client.post(f"{base}/categories", json={"name_zh": "人居环境"}, headers=headers).status_code == 201
    before = counts()
    for body, field in (({"name_zh": "长" * (service.MAX_CATEGORY_ZH + 1)}, "name_zh"), ({"name_zh": " "}, "name_zh"),
                        ({"name_zh": "新类", "sort_order": -1}, "sort_order")):
        resp = client.post(f"{base}/categories", json=body, headers=headers)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.get_json()
    resp = client.post(f"{base}/versions", json={"title": ""}, headers=headers)  # no title and nothing to copy
    assert resp.status_code == 422 and "title" in resp.get_json()["errors"]["json"]
    # the township's data refuses: a name taken, a version to copy that names nothing of the township
    resp = client.post(f"{base}/categories", json={"name_zh": "人居环境"}, headers=headers)
    assert resp.status_code == 409 and "name_zh" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{base}/versions", json={"based_on_id": "00000000-0000-0000-0000-000000000000"}, headers=headers)
    assert resp.status_code == 409 and "based_on_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{base}/villages/{world.a.villages[0]}/rulebooks", json={}, headers=headers)
    assert resp.status_code == 409 and "version_id" in resp.get_json()["errors"]["json"]  # none adopted yet
    assert counts() == before


def test_a_scan_upload_takes_the_file_and_nothing_else(app, admin_api):
    client, headers, world = admin_api
    base = "/api/v1/t/alpha/rulebook"
    version = client.post(f"{base}/versions", json={"title": "细则"}, headers=headers).get_json()
    url = f"{base}/versions/{version['id']}/scan"
    resp = client.post(url, data={"scan": (io.BytesIO(_png()), "x.png"), "note": "42"}, headers=headers,
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "note" in resp.get_json()["errors"]["form"]
    assert client.get(f"{base}/versions/{version['id']}", headers=headers).get_json()["scan_file_id"] is None
    resp = client.post(url, data={"scan": (io.BytesIO(_png()), "x.png")}, headers=headers,
                       content_type="multipart/form-data")
    assert resp.status_code == 200 and resp.get_json()["scan_file_id"]
