"""Points stores, the reward catalog and stock: validation, movements only, scope, pages, API."""
from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.files.models import StoredFile
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.store import demo, service
from jifen.tenants.store.models import CatalogItem, StockLevel, StockMovement, Store
from jifen.tenants.villages.models import Village
from tests.conftest import PG_URL, api_token, bearer, csrf_token, make_world, page_login

API = "/api/v1/t/alpha/stores"
PAGES = "/t/alpha/stores"


def _count(model, **where) -> int:
    q = select(func.count()).select_from(model)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return db.session.execute(q).scalar()


def _png(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def alpha(ctx):
    """(world, actor(role)) inside alpha's tenant scope, with one catalog item 牙膏 and store A stocked 10."""
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        def actor(role="township_admin"):
            return actor_for(db.session.get(User, (tenant.id, world.a.user_id(role))))

        item = service.create_catalog_item(actor(), {"name": "牙膏", "name_en": "Toothpaste", "price_points": 10,
                                                     "unit": "支", "category": "个人护理"})
        service.move_stock(actor(), world.a.store, item.id, "restock", 10, "collective_income")
        db.session.commit()
        yield world, actor, item


def _item(name="洗衣粉"):
    return db.session.execute(select(CatalogItem).where(CatalogItem.name == name)).scalar_one()


# --- stores ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data,field,refusal", [
    ({"name": ""}, "name", Invalid), ({"name": "积分超市"}, "name", InputConflict), ({"name": "x" * 65}, "name", Invalid),
    ({"name": "新超市", "village_id": "not-an-id"}, "village_id", Invalid),
    ({"name": "新超市", "village_id": "00000000-0000-0000-0000-000000000000"}, "village_id", InputConflict),
    ({"name": "新超市", "address": "地" * 201}, "address", Invalid), ({"name": "超\x00市"}, "name", Invalid),
])
def test_bad_store_input_names_the_field_and_writes_nothing(alpha, data, field, refusal):
    _world, actor, _item_ = alpha
    stores, audits = _count(Store), _count(AuditEntry)
    with pytest.raises(refusal) as e:
        service.create_store(actor(), data)
    assert field in e.value.errors
    db.session.rollback()
    assert (_count(Store), _count(AuditEntry)) == (stores, audits)


def test_store_create_edit_close_and_reopen_are_audited(alpha):
    world, actor, _ = alpha
    shared = service.create_store(actor(), {"name": "龙窝镇积分超市", "address": "镇政府一楼"})
    assert shared.village_id is None and shared.active
    service.update_store(actor(), shared.id, {"opening_hours": "周一至周五"})
    service.update_store(actor(), shared.id, {"active": False})
    assert (shared.address, shared.opening_hours, shared.active) == ("镇政府一楼", "周一至周五", False)
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.object_id == str(shared.id))
                                 .order_by(AuditEntry.seq)).scalars().all()
    assert actions == ["store.create", "store.update", "store.update"]
    with pytest.raises(Forbidden):
        service.create_store(actor("storekeeper"), {"name": "私开超市"})
    # everyone sees where the stores are; closed ones last
    assert [s.name for s in service.list_stores(actor("villager"))] == ["积分超市", "龙窝镇积分超市"]


def test_storekeepers_are_assigned_and_removed_through_the_staff_service(alpha):
    world, actor, _ = alpha
    admin = actor()
    other = service.create_store(admin, {"name": "礼坑村积分超市", "village_id": world.a.villages[1]})
    keeper = world.a.user_id("storekeeper")
    panel = world.a.user_id("panel_member")
    assert [u.id for u in service.storekeepers(admin, world.a.store)] == [keeper]
    service.assign_storekeeper(admin, other.id, panel)  # keeps their panel role
    roles = staff.roles_of([panel])[panel]
    assert {r["role"] for r in roles} == {"panel_member", "storekeeper"}
    assert [u.id for u in service.storekeepers(admin, other.id)] == [panel]
    service.assign_storekeeper(admin, other.id, keeper)  # a storekeeper keeps one store: moved here
    assert service.storekeepers(admin, world.a.store) == []
    service.remove_storekeeper(admin, other.id, panel)
    assert staff.roles_of([panel])[panel] == [{"role": "panel_member", "scope_ids": [world.a.villages[1]]}]
    with pytest.raises(InputConflict) as e:  # the keeper's only role: the staff page disables accounts
        service.remove_storekeeper(admin, other.id, keeper)
    assert "user_id" in e.value.errors
    with pytest.raises(Invalid) as e:
        service.assign_storekeeper(admin, other.id, "nobody")
    assert "user_id" in e.value.errors
    assert _count(AuditEntry, action="staff.set_roles") == 3


# --- the catalog ----------------------------------------------------------------------------

@pytest.mark.parametrize("price", [-5, 0, 1.5, "1.5", "abc", "", None, True, 1_000_001, "9" * 5000])
def test_bad_price_names_price_points_and_writes_nothing(alpha, price):
    _world, actor, _ = alpha
    items, audits = _count(CatalogItem), _count(AuditEntry)
    with pytest.raises(Invalid) as e:
        service.create_catalog_item(actor(), {"name": "洗衣粉", "unit": "袋", "price_points": price})
    assert list(e.value.errors) == ["price_points"]
    db.session.rollback()
    assert (_count(CatalogItem), _count(AuditEntry)) == (items, audits)


def test_catalog_item_fields_are_checked_together(alpha):
    _world, actor, item = alpha
    with pytest.raises(Invalid) as e:
        service.create_catalog_item(actor(), {"name": "", "unit": "", "price_points": 0, "sort_order": "x"},
                                    photo=("a.jpg", b"not an image"))
    assert set(e.value.errors) == {"name", "unit", "price_points", "sort_order", "photo"}
    db.session.rollback()
    assert _count(StoredFile) == 0
    with pytest.raises(Invalid) as e:  # the input's own rules first: the name taken is said once they hold
        service.create_catalog_item(actor(), {"name": "牙膏", "unit": "", "price_points": 0})
    assert set(e.value.errors) == {"unit", "price_points"}
    db.session.rollback()
    with pytest.raises(InputConflict) as e:
        service.create_catalog_item(actor(), {"name": "牙膏", "unit": "支", "price_points": 5})
    assert set(e.value.errors) == {"name"}
    db.session.rollback()
    with pytest.raises(Invalid) as e:
        service.update_catalog_item(actor(), item.id, {"price_points": -1})
    assert list(e.value.errors) == ["price_points"]


def test_catalog_lists_in_sort_order_then_pinyin_and_hides_withdrawn(alpha):
    _world, actor, toothpaste = alpha
    admin = actor()
    for name, order in (("洗衣粉", 0), ("毛巾", 0), ("电饭煲", -1)):
        service.create_catalog_item(admin, {"name": name, "unit": "个", "price_points": 5, "sort_order": order})
    assert [i.name for i in service.list_catalog(admin)] == ["电饭煲", "毛巾", "洗衣粉", "牙膏"]
    service.update_catalog_item(admin, toothpaste.id, {"active": False})
    assert "牙膏" not in [i.name for i in service.list_catalog(actor("villager"))]
    assert "牙膏" in [i.name for i in service.list_catalog(admin, include_inactive=True)]
    assert service.categories_in_use()[:6] == list(service.CATEGORY_SUGGESTIONS)


def test_photo_is_re_encoded_jpeg_and_served(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    item = client.post(f"{API}/catalog", json={"name": "香皂", "price_points": 6, "unit": "块"}, headers=headers)
    assert item.status_code == 201 and item.get_json()["photo_url"] is None
    url = f"{API}/catalog/{item.get_json()['id']}/photo"
    resp = client.put(url, data={"photo": (io.BytesIO(_png()), "soap.png")}, headers=headers,
                      content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    page_login(client, "alpha", "admin")  # files are served to signed-in page sessions
    photo = client.get(resp.get_json()["photo_url"])
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg" and photo.data[:2] == b"\xff\xd8"


@pytest.mark.parametrize("upload,message", [
    ((b"just some text, not a photo", "fake.jpg"), "JPEG"),
    ((b"\xff" * (9 * 1024 * 1024), "huge.jpg"), "8 MB"),  # the limit, in either language
])
def test_bad_photo_names_photo_and_writes_nothing(app, world, upload, message):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    item_id = client.post(f"{API}/catalog", json={"name": "香皂", "price_points": 6, "unit": "块"},
                          headers=headers).get_json()["id"]
    data, name = upload
    resp = client.put(f"{API}/catalog/{item_id}/photo", data={"photo": (io.BytesIO(data), name)}, headers=headers,
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and message in resp.get_json()["errors"]["json"]["photo"][0]
    missing = client.put(f"{API}/catalog/{item_id}/photo", data={}, headers=headers,
                         content_type="multipart/form-data")
    assert missing.status_code == 422 and "photo" in missing.get_json()["errors"]["form"]
    # the page form: the error next to the photo field, no item, no stored file
    page_login(client, "alpha", "admin")
    token = csrf_token(client, f"{PAGES}/catalog/new")
    resp = client.post(f"{PAGES}/catalog/new", data={"csrf_token": token, "name": "洗发水", "price_points": "20",
                                                      "unit": "瓶", "photo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and 'id="e-photo"' in resp.get_data(as_text=True)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert _count(StoredFile) == 0 and _count(CatalogItem, name="洗发水") == 0


# --- stock ----------------------------------------------------------------------------------

def test_restock_correction_and_write_off_update_level_history_and_audit(alpha):
    world, actor, item = alpha
    keeper = actor("storekeeper")
    service.move_stock(keeper, world.a.store, item.id, "restock", "5", "donation", 850, "爱心企业捐赠")
    service.move_stock(keeper, world.a.store, item.id, "correction", -2, note="盘点少了两支")
    service.move_stock(keeper, world.a.store, str(item.id), "write_off", -3, note="受潮")
    level = db.session.execute(select(StockLevel)).scalar_one()
    assert level.quantity == 10
    history = service.list_movements(keeper, world.a.store)
    assert [(m.kind, m.delta, m.quantity_after) for m in history] == [
        ("write_off", -3, 10), ("correction", -2, 13), ("restock", 5, 15), ("restock", 10, 10)]
    assert history[2].funding_source == "donation" and history[2].unit_cost_fen == 850
    assert history[0].actor_name == "keeper" and history[0].note == "受潮"
    assert service.list_movements(keeper, world.a.store, item.id) == history
    audit = db.session.execute(select(AuditEntry.action).where(AuditEntry.action.like("stock.%"))
                               .order_by(AuditEntry.seq)).scalars().all()
    assert audit == ["stock.restock", "stock.restock", "stock.correction", "stock.write_off"]
    rows = service.stock_of(keeper, world.a.store)
    assert [(r["item"].name, r["quantity"], r["low"]) for r in rows] == [("牙膏", 10, False)]
    assert service.verify_stock(world.a.store) == []


@pytest.mark.parametrize("kind,delta,extra,field", [
    ("restock", 5, {}, "funding_source"),
    ("restock", 0, {"funding_source": "donation"}, "delta"),
    ("restock", -1, {"funding_source": "donation"}, "delta"),
    ("restock", "2.5", {"funding_source": "donation"}, "delta"),
    ("restock", 5, {"funding_source": "bank robbery"}, "funding_source"),
    ("restock", 5, {"funding_source": "donation", "unit_cost_fen": -1}, "unit_cost_fen"),
    ("correction", 2, {}, "note"),
    ("correction", 0, {"note": "x"}, "delta"),
    ("correction", 2, {"note": "x", "funding_source": "donation"}, "funding_source"),
    ("write_off", 3, {"note": "坏了"}, "delta"),
    ("write_off", -3, {}, "note"),
    ("redemption", -1, {"note": "x"}, "kind"),
    ("gift", 1, {"note": "x"}, "kind"),
])
def test_bad_movement_names_the_field_and_writes_nothing(alpha, kind, delta, extra, field):
    world, actor, item = alpha
    before = (_count(StockMovement), _count(AuditEntry))
    with pytest.raises(Invalid) as e:
        service.move_stock(actor(), world.a.store, item.id, kind, delta, **extra)
    assert field in e.value.errors
    db.session.rollback()
    assert (_count(StockMovement), _count(AuditEntry)) == before
    assert db.session.execute(select(StockLevel.quantity)).scalar_one() == 10


def test_stock_never_goes_below_zero(alpha):
    world, actor, item = alpha
    before = (_count(StockMovement), _count(AuditEntry))
    with pytest.raises(InputConflict) as e:
        service.move_stock(actor(), world.a.store, item.id, "write_off", -11, note="丢失")
    assert "10" in e.value.errors["delta"][0] and "11" in e.value.errors["delta"][0]  # only 10 left
    db.session.rollback()
    other = service.create_catalog_item(actor(), {"name": "牙刷", "price_points": 5, "unit": "支"})
    db.session.commit()
    with pytest.raises(InputConflict) as e:  # never stocked: nothing to take, and no level row is made
        service.move_stock(actor(), world.a.store, other.id, "correction", -1, note="x")
    assert "0" in e.value.errors["delta"][0]
    db.session.rollback()
    assert (_count(StockMovement), _count(AuditEntry) - 1) == before  # only the new item's entry
    assert _count(StockLevel) == 1 and db.session.execute(select(StockLevel.quantity)).scalar_one() == 10


def test_the_database_refuses_a_negative_level_too(alpha):
    from sqlalchemy.exc import IntegrityError

    level = db.session.execute(select(StockLevel)).scalar_one()
    level.quantity = -1
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_verify_stock_recomputes_levels_from_movements(alpha):
    world, actor, item = alpha
    admin = actor()
    towel = service.create_catalog_item(admin, {"name": "毛巾", "price_points": 8, "unit": "条"})
    for n in range(1, 30):
        service.move_stock(admin, world.a.store, towel.id, "restock", n, "collective_income")
        service.move_stock(admin, world.a.store, item.id, "correction", 1 if n % 2 else -1, note=f"盘点{n}")
        if n % 3 == 0:
            service.move_stock(admin, world.a.store, towel.id, "write_off", -n, note="破损")
    db.session.commit()
    assert service.verify_stock(world.a.store) == []
    level = db.session.execute(select(StockLevel).where(StockLevel.catalog_item_id == towel.id)).scalar_one()
    good = level.quantity
    level.quantity = good + 7  # someone edits the cache by hand
    db.session.commit()
    assert service.verify_stock(world.a.store) == [
        {"catalog_item_id": towel.id, "recorded": good + 7, "from_movements": good}]


def test_a_closed_store_or_withdrawn_item_takes_no_restock(alpha):
    world, actor, item = alpha
    service.update_catalog_item(actor(), item.id, {"active": False})
    with pytest.raises(InputConflict) as e:
        service.move_stock(actor(), world.a.store, item.id, "restock", 1, "donation")
    assert "catalog_item_id" in e.value.errors
    service.move_stock(actor(), world.a.store, item.id, "write_off", -10, note="下架清库存")  # clearing is fine
    service.update_store(actor(), world.a.store, {"active": False})
    with pytest.raises(Conflict):
        service.move_stock(actor(), world.a.store, item.id, "correction", 1, note="x")


def test_storekeeper_and_village_admin_scope(alpha):
    world, actor, item = alpha
    admin, keeper, vadmin = actor(), actor("storekeeper"), actor("village_admin")
    shared = service.create_store(admin, {"name": "龙窝镇积分超市"})
    other_village = service.create_store(admin, {"name": "礼坑村积分超市", "village_id": world.a.villages[1]})
    movement = service.move_stock(admin, shared.id, item.id, "restock", 4, "donation")
    db.session.commit()
    for store in (shared, other_village):
        with pytest.raises(NotFound):
            service.stock_of(keeper, store.id)
        with pytest.raises(NotFound):
            service.list_movements(keeper, store.id)
        with pytest.raises(NotFound):
            service.move_stock(keeper, store.id, item.id, "restock", 1, "donation")
        with pytest.raises(NotFound):
            service.stock_of(vadmin, store.id)
    with pytest.raises(NotFound):
        service.get_movement(keeper, movement.id)
    service.move_stock(keeper, world.a.store, item.id, "restock", 1, "donation")
    assert service.stock_of(vadmin, world.a.store)[0]["quantity"] == 11  # their village's store
    with pytest.raises(Forbidden):
        service.move_stock(vadmin, world.a.store, item.id, "restock", 1, "donation")
    with pytest.raises(Forbidden):
        service.stock_of(actor("villager"), world.a.store)


def test_scope_through_the_api(app, world):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    keeper = bearer(api_token(client, "alpha", "keeper"))
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    item = client.post(f"{API}/catalog", json={"name": "食盐", "price_points": 3, "unit": "包"}, headers=admin)
    item_id = item.get_json()["id"]
    b = client.post(f"{API}/", json={"name": "梅园村积分超市", "village_id": str(world.a.villages[2])},
                    headers=admin).get_json()["id"]
    a = str(world.a.store)
    restock = {"catalog_item_id": item_id, "kind": "restock", "delta": 6, "funding_source": "collective_income"}
    assert client.post(f"{API}/{a}/movements", json=restock, headers=keeper).status_code == 201
    assert client.post(f"{API}/{b}/movements", json=restock, headers=keeper).status_code == 404
    assert client.get(f"{API}/{b}/stock", headers=keeper).status_code == 404
    assert client.get(f"{API}/{b}/movements", headers=keeper).status_code == 404
    assert client.get(f"{API}/{b}", headers=keeper).status_code == 200  # where a store is, is no secret
    stock = client.get(f"{API}/{a}/stock", headers=vadmin).get_json()
    assert stock["low_stock_at"] == 5
    assert [(r["name"], r["quantity"], r["low"]) for r in stock["items"]] == [("食盐", 6, False)]
    assert client.get(f"{API}/{b}/stock", headers=vadmin).status_code == 404
    assert client.post(f"{API}/{a}/movements", json=restock, headers=vadmin).status_code == 403
    history = client.get(f"{API}/{a}/movements?catalog_item_id={item_id}", headers=keeper).get_json()
    assert [(m["kind"], m["delta"], m["quantity_after"], m["actor_name"]) for m in history] == [
        ("restock", 6, 6, "keeper")]
    one = client.get(f"{API}/movements/{history[0]['id']}", headers=admin)
    assert one.status_code == 200 and one.get_json()["funding_source"] == "collective_income"


def test_api_crud_and_422_naming_fields(app, world):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    resp = client.post(f"{API}/", json={"name": "", "tenant_id": "x"}, headers=admin)
    assert resp.status_code == 422 and "tenant_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{API}/", json={"name": ""}, headers=admin)
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]["json"]
    store = client.post(f"{API}/", json={"name": "龙窝镇积分超市", "village_id": None}, headers=admin)
    assert store.status_code == 201 and store.get_json()["village_id"] is None
    sid = store.get_json()["id"]
    resp = client.patch(f"{API}/{sid}", json={"opening_hours": "周一至周五"}, headers=admin)
    assert resp.get_json()["name"] == "龙窝镇积分超市" and resp.get_json()["opening_hours"] == "周一至周五"
    detail = client.get(f"{API}/{world.a.store}", headers=admin).get_json()
    assert [k["username"] for k in detail["storekeepers"]] == ["keeper"]
    for body in ({"name": "油", "unit": "桶", "price_points": 0}, {"name": "油", "unit": "桶", "price_points": 1.5},
                 {"name": "油", "unit": "桶", "price_points": "5"}, {"name": "油", "unit": "桶"},
                 {"name": "油", "unit": "桶", "price_points": 2_000_000}):
        resp = client.post(f"{API}/catalog", json=body, headers=admin)
        assert resp.status_code == 422 and list(resp.get_json()["errors"]["json"]) == ["price_points"], body
    item = client.post(f"{API}/catalog", json={"name": "食用油(5升)", "name_en": "Cooking oil", "unit": "桶",
                                               "price_points": 50, "category": "粮油副食"}, headers=admin)
    assert item.status_code == 201
    iid = item.get_json()["id"]
    resp = client.patch(f"{API}/catalog/{iid}", json={"price_points": 45}, headers=admin)
    assert resp.get_json()["price_points"] == 45 and resp.get_json()["unit"] == "桶"
    resp = client.post(f"{API}/{sid}/movements", json={"catalog_item_id": iid, "kind": "write_off", "delta": -1,
                                                       "note": "x"}, headers=admin)
    assert resp.status_code == 409 and "0" in resp.get_json()["errors"]["json"]["delta"][0]
    resp = client.post(f"{API}/{sid}/movements", json={"catalog_item_id": iid, "kind": "restock", "delta": 1.5},
                       headers=admin)
    assert resp.status_code == 422 and "delta" in resp.get_json()["errors"]["json"]
    client.patch(f"{API}/{sid}", json={"active": False}, headers=admin)
    resp = client.post(f"{API}/{sid}/movements", json={"catalog_item_id": iid, "kind": "restock", "delta": 1,
                                                       "funding_source": "donation"}, headers=admin)
    assert resp.status_code == 409
    keeper = bearer(api_token(client, "alpha", "keeper"))
    assert client.post(f"{API}/catalog", json={"name": "x", "unit": "个", "price_points": 1},
                       headers=keeper).status_code == 403
    assert [i["name"] for i in client.get(f"{API}/catalog", headers=keeper).get_json()] == ["食用油(5升)"]
    assert "/api/v1/t/{tenant_slug}/stores/catalog/{catalog_item_id}/photo" in client.get(
        "/api/v1/openapi.json").get_json()["paths"]


def test_api_declares_the_input_rules_and_answers_409_for_clashes_with_stored_data(app, world):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Store"]["properties"]["name"]["maxLength"] == service.MAX_NAME
    assert schemas["Store"]["properties"]["address"]["maxLength"] == service.MAX_ADDRESS
    assert schemas["CatalogItem"]["properties"]["price_points"]["maximum"] == service.MAX_PRICE
    assert schemas["CatalogItem"]["properties"]["unit"]["maxLength"] == service.MAX_UNIT
    movement = schemas["MovementIn"]
    assert movement["properties"]["delta"]["maximum"] == service.MAX_DELTA
    assert movement["properties"]["note"]["maxLength"] == service.MAX_NOTE
    assert {rule["properties"]["kind"]["enum"][0] for rule in movement["oneOf"]} == set(service.USER_KINDS)
    # the input's own rules, as declared: 422 naming the field
    for body in ({"name": "x" * (service.MAX_NAME + 1)}, {"name": "  "}):
        resp = client.post(f"{API}/", json=body, headers=admin)
        assert resp.status_code == 422 and list(resp.get_json()["errors"]["json"]) == ["name"], body
    restock = {"catalog_item_id": "00000000-0000-0000-0000-000000000000", "kind": "restock", "delta": -1,
               "funding_source": "donation"}
    resp = client.post(f"{API}/{world.a.store}/movements", json=restock, headers=admin)
    assert resp.status_code == 422 and list(resp.get_json()["errors"]["json"]) == ["delta"]

    def written():
        with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            return _count(Store), _count(CatalogItem), _count(StockMovement), _count(AuditEntry)

    # well-formed, refused by the township's data: 409 naming the field, nothing written
    before = written()
    for url, body, field in (
            (f"{API}/", {"name": "积分超市"}, "name"),  # the world's store has it
            (f"{API}/", {"name": "新超市", "village_id": "00000000-0000-0000-0000-000000000000"}, "village_id"),
            (f"{API}/{world.a.store}/movements", restock | {"delta": 1}, "catalog_item_id")):
        resp = client.post(url, json=body, headers=admin)
        assert resp.status_code == 409 and list(resp.get_json()["errors"]["json"]) == [field], body
        assert written() == before


def test_other_townships_ids_are_404(app, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.b.tenant_id)):
        item = CatalogItem(name="牙膏", price_points=5, unit="支")
        db.session.add(item)
        db.session.commit()
        beta_store, beta_item = world.b.store, item.id
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    assert client.get(f"{API}/{beta_store}/stock", headers=admin).status_code == 404
    assert client.get(f"{API}/catalog/{beta_item}", headers=admin).status_code == 404
    resp = client.post(f"{API}/{world.a.store}/movements", headers=admin, json={
        "catalog_item_id": str(beta_item), "kind": "restock", "delta": 1, "funding_source": "donation"})
    assert resp.status_code == 409 and "catalog_item_id" in resp.get_json()["errors"]["json"]


# --- pages ----------------------------------------------------------------------------------

def _demo(app, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        villages = {v.name: v for v in db.session.execute(select(Village)).scalars()}
        demo.load_demo(admin, villages)
        db.session.commit()


def test_demo_is_idempotent_and_stocks_every_store(app, world):
    _demo(app, world)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        counts = (_count(Store), _count(CatalogItem), _count(StockMovement), _count(AuditEntry))
    _demo(app, world)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert (_count(Store), _count(CatalogItem), _count(StockMovement), _count(AuditEntry)) == counts
        assert counts[1] >= 15
        for name in ("龙窝镇积分超市", "官田村积分超市", "礼坑村积分超市", "梅园村积分超市"):
            store = db.session.execute(select(Store).where(Store.name == name)).scalar_one()
            assert _count(StockLevel, store_id=store.id) == counts[1]
            assert service.verify_stock(store.id) == []


@pytest.mark.parametrize("lang,words", [("zh_CN", ["积分超市", "牙膏"]), ("en", ["Toothpaste", "Restock"])])
def test_pages_render_in_both_languages(app, world, lang, words):
    _demo(app, world)
    client = app.test_client()
    page_login(client, "alpha", "admin")
    with client.session_transaction() as s:
        s["lang"] = lang
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        store = db.session.execute(select(Store).where(Store.name == "官田村积分超市")).scalar_one()
        item = db.session.execute(select(CatalogItem).where(CatalogItem.name == "牙膏")).scalar_one()
    html = ""
    for path in ("/", "/new", f"/{store.id}", f"/{store.id}/edit", "/catalog", "/catalog/new", f"/catalog/{item.id}"):
        resp = client.get(PAGES + path)
        assert resp.status_code == 200, path
        html += resp.get_data(as_text=True)
    for word in words:
        assert word in html
    assert 'class="pic ph ph-' in html  # placeholders, no external images
    assert "http://" not in html.replace("http://jifen.test", "")
    home = client.get("/t/alpha/").get_data(as_text=True)
    assert PAGES + "/" in home and PAGES + "/catalog" in home


def test_page_forms_show_errors_next_to_fields_then_save(app, world):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    token = csrf_token(client, f"{PAGES}/new")
    resp = client.post(f"{PAGES}/new", data={"csrf_token": token, "name": "积分超市"})
    assert resp.status_code == 422 and 'id="e-name"' in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/catalog/new", data={"csrf_token": token, "name": "牙刷", "unit": "支",
                                                      "price_points": "-3"})
    assert resp.status_code == 422 and 'id="e-price_points"' in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/catalog/new", data={"csrf_token": token, "name": "牙刷", "unit": "支",
                                                      "price_points": "5", "category": "个人护理",
                                                      "photo": (io.BytesIO(_png()), "brush.png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        item = _item("牙刷")
        assert item.photo_file_id is not None
    store = f"{PAGES}/{world.a.store}"
    resp = client.post(f"{store}/restock", data={"csrf_token": token, "catalog_item_id": str(item.id),
                                                 "delta": "12", "funding_source": "", "unit_cost_fen": "3.5元"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="restock-e-unit_cost_fen"' in html
    resp = client.post(f"{store}/restock", data={"csrf_token": token, "catalog_item_id": str(item.id),
                                                 "delta": "12", "funding_source": ""})
    assert resp.status_code == 422 and 'id="restock-e-funding_source"' in resp.get_data(as_text=True)
    resp = client.post(f"{store}/restock", data={"csrf_token": token, "catalog_item_id": str(item.id), "delta": "12",
                                                 "funding_source": "donation", "unit_cost_fen": "3.50"})
    assert resp.status_code == 302
    resp = client.post(f"{store}/adjust", data={"csrf_token": token, "catalog_item_id": str(item.id),
                                                "kind": "write_off", "delta": "20", "note": "受潮"})
    assert resp.status_code == 422 and 'id="adjust-e-delta"' in resp.get_data(as_text=True)
    resp = client.post(f"{store}/adjust", data={"csrf_token": token, "catalog_item_id": str(item.id),
                                                "kind": "write_off", "delta": "8", "note": "受潮"})
    assert resp.status_code == 302
    html = client.get(store).get_data(as_text=True)
    assert "受潮" in html and "-8" in html and "+12" in html and 'class="badge low"' in html
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        first = db.session.execute(select(StockMovement).order_by(StockMovement.created_at)).scalars().first()
        assert first.unit_cost_fen == 350
    # storekeepers from the store page
    panel = world.a.user_id("panel_member")
    assert client.post(f"{store}/storekeepers", data={"csrf_token": token, "user_id": str(panel)}).status_code == 302
    assert "panel" in client.get(store).get_data(as_text=True).split('id="storekeepers"')[1]
    resp = client.post(f"{store}/storekeepers/remove", data={"csrf_token": token, "user_id": str(panel)})
    assert resp.status_code == 302
    resp = client.post(f"{store}/storekeepers/remove",
                       data={"csrf_token": token, "user_id": str(world.a.user_id("storekeeper"))})
    assert resp.status_code == 422 and 'class="error"' in resp.get_data(as_text=True).split('id="storekeepers"')[1]
    # close: no more stock forms
    assert client.post(f"{store}/active", data={"csrf_token": token, "active": "0"}).status_code == 302
    html = client.get(store).get_data(as_text=True)
    assert 'id="restock"' not in html and 'name="active" value="1"' in html  # the reopen button


def test_pages_follow_scope(app, world):
    client = app.test_client()
    client.post(f"{API}/catalog", json={"name": "食盐", "price_points": 3, "unit": "包"},
                headers=bearer(api_token(client, "alpha", "admin")))
    page_login(client, "alpha", "keeper")
    html = client.get(f"{PAGES}/{world.a.store}").get_data(as_text=True)
    assert 'id="restock"' in html and 'id="stock"' in html
    assert client.get(f"{PAGES}/new").status_code == 403
    assert client.get(f"{PAGES}/catalog").status_code == 200
    villager = app.test_client()
    page_login(villager, "alpha", "villager")
    html = villager.get(f"{PAGES}/{world.a.store}").get_data(as_text=True)
    assert 'id="stock"' not in html and 'id="restock"' not in html
    token = csrf_token(villager, "/t/alpha/")
    assert villager.post(f"{PAGES}/{world.a.store}/restock", data={"csrf_token": token}).status_code == 403


# --- concurrency (PostgreSQL: real row locks) -------------------------------------------------

@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_concurrent_restocks_and_write_offs_end_with_the_right_quantity(app, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        item = service.create_catalog_item(admin, {"name": "大米(5斤)", "price_points": 30, "unit": "袋"})
        service.move_stock(admin, world.a.store, item.id, "restock", 20, "collective_income")
        db.session.commit()
        item_id = item.id
    start, errors, rounds = threading.Barrier(2), [], 25

    def worker(role, kind, delta, funding, note):
        try:
            with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                actor = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id(role))))
                db.session.commit()
                start.wait(timeout=30)
                for _ in range(rounds):
                    service.move_stock(actor, world.a.store, item_id, kind, delta, funding, None, note)
                    db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=("township_admin", "restock", 2, "donation", "")),
               threading.Thread(target=worker, args=("storekeeper", "write_off", -1, None, "破损"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        level = db.session.execute(select(StockLevel).where(StockLevel.catalog_item_id == item_id)).scalar_one()
        assert level.quantity == 20 + rounds * 2 - rounds
        assert service.verify_stock(world.a.store) == []
        assert _count(StockMovement, catalog_item_id=item_id) == 1 + 2 * rounds


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_two_first_restocks_at_once_share_one_level_row(app, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        ids = [service.create_catalog_item(admin, {"name": f"文具{n}", "price_points": 2, "unit": "套"}).id
               for n in range(8)]
        db.session.commit()
    start, errors = threading.Barrier(2), []

    def worker(role):
        try:
            with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                actor = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id(role))))
                db.session.commit()
                for item_id in ids:
                    start.wait(timeout=30)  # both create the missing level row at the same moment
                    service.move_stock(actor, world.a.store, item_id, "restock", 1, "donation")
                    db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(role,)) for role in ("township_admin", "storekeeper")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        levels = db.session.execute(select(StockLevel.quantity).where(StockLevel.catalog_item_id.in_(ids)))
        assert sorted(levels.scalars()) == [2] * len(ids)
        assert service.verify_stock(world.a.store) == []


def test_random_bodies_never_cause_a_500_or_a_partial_write(app, world):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    item_id = client.post(f"{API}/catalog", json={"name": "牙膏", "price_points": 10, "unit": "支"},
                          headers=admin).get_json()["id"]
    store = f"{API}/{world.a.store}"
    routes = [("post", f"{API}/"), ("patch", store), ("post", f"{store}/movements"), ("post", f"{API}/catalog"),
              ("patch", f"{API}/catalog/{item_id}")]
    keys = ["name", "village_id", "active", "price_points", "unit", "sort_order", "catalog_item_id", "kind", "delta",
            "funding_source", "unit_cost_fen", "note", "category"]
    values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                       st.sampled_from([item_id, "restock", "write_off", "redemption", "donation", "-3", "", "a\x00b"]))

    def audit_count():
        with app.app_context():
            return db.session.execute(select(func.count()).select_from(AuditEntry)
                                      .execution_options(all_tenants=True)).scalar()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=st.dictionaries(st.sampled_from(keys), values, max_size=6))
    def check(route, body):
        method, url = route
        before = audit_count()
        resp = getattr(client, method)(url, json=body, headers=admin)
        assert resp.status_code < 500, (method, url, body, resp.get_data(as_text=True)[:300])
        if resp.status_code >= 400:
            assert audit_count() == before, (method, url, body)

    check()
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert service.verify_stock(world.a.store) == []
