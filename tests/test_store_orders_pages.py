"""Store orders through the pages and the API: the villager's shop, the storekeeper's desk and
counter, household QR cards, the passbook; the API's errors, scope and idempotency."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from jifen.platform.db import db
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.store import cards
from jifen.tenants.store.models import HouseholdCard, Order
from tests.conftest import api_token, bearer, csrf_token, page_login
from tests.store_orders_world import setup_shop

PAGES = "/t/alpha/orders"
API = "/api/v1/t/alpha/orders"
ONCE_RE = re.compile(r'name="once" value="([^"]+)"')
ORDER_RE = re.compile(r"/t/alpha/orders/([0-9a-f-]{36})")


@pytest.fixture
def shop(app, world):
    with app.app_context():
        return setup_shop(world)


def in_alpha(app, world, fn):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        result = fn()
        db.session.commit()  # the test runs its own unit of work: services never commit
        return result


def orders_count(app, world) -> int:
    return in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(Order)).scalar_one())


def order_of(app, world, order_id) -> dict:
    def get():
        o = tenant_get(Order, order_id)
        return {"state": o.state, "total": o.total_points, "number": o.number, "channel": o.channel}
    return in_alpha(app, world, get)


def signed_in(app, username, lang=None):
    client = app.test_client()
    assert page_login(client, "alpha", username).status_code == 302
    if lang:
        with client.session_transaction() as s:
            s["lang"] = lang
    return client


def review_and_confirm(client, path, data):
    """The two steps of the quantities form: review (shows the once key), then confirm."""
    token = csrf_token(client, f"{PAGES}/shop" if path.endswith("shop") else f"{PAGES}/counter")
    review = client.post(path, data=data | {"csrf_token": token, "step": "review"})
    assert review.status_code == 200, review.get_data(as_text=True)[:2000]
    html = review.get_data(as_text=True)
    once = ONCE_RE.search(html).group(1)
    confirm = data | {"csrf_token": token, "step": "confirm", "once": once}
    return html, confirm


# --- the villager on the phone, the storekeeper at the desk ----------------------------------------------

def test_villager_orders_on_the_phone_and_the_storekeeper_hands_over(app, world, shop):
    villager = signed_in(app, "villager")
    page = villager.get(f"{PAGES}/shop").get_data(as_text=True)
    assert "牙膏" in page and f'name="qty-{shop.toothpaste}"' in page and 'id="available">100<' in page
    assert f'name="qty-{shop.powder}"' in page and "disabled" in page  # out of stock
    html, confirm = review_and_confirm(villager, f"{PAGES}/shop", {
        "household_id": str(shop.household), "store_id": str(shop.store),
        f"qty-{shop.toothpaste}": "2", f"qty-{shop.towel}": "1", f"qty-{shop.powder}": ""})
    assert 'id="total">28<' in html and 'id="before">100<' in html and 'id="after">72<' in html
    assert orders_count(app, world) == 0  # reviewing writes nothing
    first = villager.post(f"{PAGES}/shop", data=confirm)
    assert first.status_code == 303
    again = villager.post(f"{PAGES}/shop", data=confirm)  # a double tap / the form sent again
    assert again.status_code == 303 and again.location == first.location
    assert orders_count(app, world) == 1
    order_id = ORDER_RE.search(first.location).group(1)
    detail = villager.get(first.location).get_data(as_text=True)
    assert 'id="done"' in detail and 'id="after">72<' in detail
    mine = villager.get(f"{PAGES}/").get_data(as_text=True)
    assert 'id="order-1"' in mine and 'data-state="open"' in mine

    keeper = signed_in(app, "keeper")
    desk = keeper.get(f"{PAGES}/desk").get_data(as_text=True)
    assert 'id="order-1"' in desk and "张三伟" in desk and 'id="waiting-count">1<' in desk
    assert 'id="pickup-1" name="pickup_code"' in desk  # a phone order's row asks for its pickup code
    code = re.search(r'id="pickup-code">(\d{4})<', detail).group(1)  # what the villager's phone shows
    assert code not in desk
    token = csrf_token(keeper, f"{PAGES}/desk")
    refused = keeper.post(f"{PAGES}/{order_id}/hand-over", data={"csrf_token": token, "next": f"{PAGES}/desk"})
    assert refused.status_code == 422 and 'id="e-pickup_code"' in refused.get_data(as_text=True)
    assert order_of(app, world, order_id)["state"] == "open"  # the one tap without the code spends nothing
    resp = keeper.post(f"{PAGES}/{order_id}/hand-over", data={"csrf_token": token, "next": f"{PAGES}/desk",
                                                              "pickup_code": code})
    assert resp.status_code == 303 and resp.location.endswith(f"{PAGES}/desk")
    assert order_of(app, world, order_id)["state"] == "handed_over"
    desk = keeper.get(f"{PAGES}/desk").get_data(as_text=True)
    assert 'id="waiting-count">0<' in desk and 'id="today-count">1<' in desk
    resp = keeper.post(f"{PAGES}/{order_id}/hand-over", data={"csrf_token": token})
    assert resp.status_code == 409  # already handed over: said, not done twice

    passbook = villager.get(f"/t/alpha/ledger/households/{shop.household}/passbook").get_data(as_text=True)
    assert passbook.count("lg-order") == 2 and 'data-available="-28"' in passbook
    inbox = villager.get("/t/alpha/inbox/")
    assert inbox.status_code == 200


def test_shop_errors_show_next_to_the_item_and_cancel_gives_back(app, world, shop):
    villager = signed_in(app, "villager")
    token = csrf_token(villager, f"{PAGES}/shop")
    resp = villager.post(f"{PAGES}/shop", data={"csrf_token": token, "step": "review", f"qty-{shop.towel}": "5"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert f'id="e-q-{shop.towel}"' in html and 'value="5"' in html
    resp = villager.post(f"{PAGES}/shop", data={"csrf_token": token, "step": "review", f"qty-{shop.toothpaste}": "10",
                                                f"qty-{shop.towel}": "1"})
    assert resp.status_code == 422 and 'id="e-points"' in resp.get_data(as_text=True)
    resp = villager.post(f"{PAGES}/shop", data={"csrf_token": token, "step": "review"})
    assert resp.status_code == 422 and 'id="e-lines"' in resp.get_data(as_text=True)
    _html, confirm = review_and_confirm(villager, f"{PAGES}/shop", {f"qty-{shop.toothpaste}": "1"})
    order_url = villager.post(f"{PAGES}/shop", data=confirm).location.split("?")[0]
    home = villager.get(f"/t/alpha/ledger/households/{shop.household}").get_data(as_text=True)
    assert 'id="store-orders"' in home and "#1" in home
    resp = villager.post(f"{order_url}/cancel", data={"csrf_token": token, "reason": "x" * 301})
    assert resp.status_code == 422
    resp = villager.post(f"{order_url}/cancel", data={"csrf_token": token, "reason": "不要了"})
    assert resp.status_code == 303
    assert order_of(app, world, ORDER_RE.search(order_url).group(1))["state"] == "cancelled"
    assert 'id="available">100<' in villager.get(f"{PAGES}/shop").get_data(as_text=True)


def test_the_counter_finds_a_household_by_card_and_hands_over_at_once(app, world, shop):
    keeper = signed_in(app, "keeper")
    token = csrf_token(keeper, f"{PAGES}/cards/{world.a.grid[0]}")
    assert keeper.post(f"{PAGES}/cards/{world.a.grid[0]}/issue", data={"csrf_token": token}).status_code == 303
    code = in_alpha(app, world, lambda: cards.live_card(shop.household2).code)
    sheet = keeper.get(f"{PAGES}/cards/{world.a.grid[0]}").get_data(as_text=True)
    assert sheet.count('class="hcard"') == 2 and cards.shown(code) in sheet and "<svg" in sheet
    link = f"http://jifen.test/t/alpha/orders/counter?card={code}"
    assert cards.qr_svg(link) in sheet  # the QR code holds the counter's link with the card's code
    page = keeper.get(f"{PAGES}/counter?card={code}").get_data(as_text=True)  # the scanned link
    assert "李四" in page and 'id="available">20<' in page
    typed = keeper.get(f"{PAGES}/counter?q={cards.shown(code).lower()}").get_data(as_text=True)
    assert "李四" in typed and 'id="household"' in typed
    found = keeper.get(f"{PAGES}/counter?q=lisi").get_data(as_text=True)  # by pinyin
    assert f"household_id={shop.household2}" in found
    bad = keeper.get(f"{PAGES}/counter?card=ZZZZZZZZ").get_data(as_text=True)
    assert 'id="e-q"' in bad and 'id="household"' not in bad
    html, confirm = review_and_confirm(keeper, f"{PAGES}/counter", {
        "household_id": str(shop.household2), "store_id": str(shop.store), f"qty-{shop.towel}": "2"})
    assert 'id="before">20<' in html and 'id="after">4<' in html
    resp = keeper.post(f"{PAGES}/counter", data=confirm)
    assert resp.status_code == 303
    order = order_of(app, world, ORDER_RE.search(resp.location).group(1))
    assert (order["state"], order["channel"], order["total"]) == ("handed_over", "counter", 16)
    detail = keeper.get(resp.location).get_data(as_text=True)
    assert 'id="before">20<' in detail and 'id="after">4<' in detail
    # the card replaced: the old code stops opening the counter
    card_page = f"{PAGES}/cards/households/{shop.household2}"
    assert keeper.post(f"{card_page}/reissue", data={"csrf_token": token}).status_code == 303
    assert 'id="e-q"' in keeper.get(f"{PAGES}/counter?card={code}").get_data(as_text=True)
    assert keeper.post(f"{card_page}/revoke", data={"csrf_token": token}).status_code == 303
    assert in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(HouseholdCard).where(
        HouseholdCard.revoked_at.is_(None), HouseholdCard.household_id == shop.household2)).scalar_one()) == 0
    low = keeper.get(f"{PAGES}/low-stock").get_data(as_text=True)
    assert 'data-item="毛巾"' in low and 'data-item="洗衣粉"' in low and 'data-item="牙膏"' not in low


def test_pages_follow_roles_and_scope(app, world, shop):
    villager = signed_in(app, "villager")
    _html, confirm = review_and_confirm(villager, f"{PAGES}/shop", {f"qty-{shop.toothpaste}": "1"})
    order_url = villager.post(f"{PAGES}/shop", data=confirm).location.split("?")[0]
    token = csrf_token(villager, f"{PAGES}/shop")
    for path in ("/desk", "/counter", "/low-stock", "/cards"):
        assert villager.get(PAGES + path).status_code == 403, path
    assert villager.post(f"{order_url}/hand-over", data={"csrf_token": token}).status_code == 403
    other = signed_in(app, "keeper2")
    assert other.get(order_url).status_code == 404
    token2 = csrf_token(other, f"{PAGES}/desk")
    assert other.post(f"{order_url}/hand-over", data={"csrf_token": token2}).status_code == 404
    assert 'id="order-1"' not in other.get(f"{PAGES}/desk").get_data(as_text=True)
    # another villager posting for this household: 404, nothing made
    villager2 = signed_in(app, "villager2")
    token3 = csrf_token(villager2, f"{PAGES}/shop")
    resp = villager2.post(f"{PAGES}/shop", data={"csrf_token": token3, "step": "review",
                                                 "household_id": str(shop.household), f"qty-{shop.toothpaste}": "1"})
    assert resp.status_code == 404
    admin = signed_in(app, "admin")
    assert admin.get(order_url).status_code == 200
    assert admin.get("/t/alpha/").status_code == 200
    tiles = admin.get("/t/alpha/").get_data(as_text=True)
    assert f"{PAGES}/desk" in tiles and f"{PAGES}/cards" in tiles


@pytest.mark.parametrize("lang,words", [("zh_CN", ["积分超市", "牙膏"]), ("en", ["Toothpaste", "Review order", "Low stock"])])
def test_pages_render_in_both_languages(app, world, shop, lang, words):
    html = ""
    for username, paths in (("villager", ("/shop", "/")), ("keeper", ("/desk", "/counter?q=lisi", "/low-stock",
                                                                         "/cards"))):
        client = signed_in(app, username, lang)
        for path in paths:
            resp = client.get(PAGES + path)
            assert resp.status_code == 200, path
            html += resp.get_data(as_text=True)
    for word in words:
        assert word in html, word


# --- the API ---------------------------------------------------------------------------------------------------

def test_api_place_view_hand_over_cancel_with_fields_named(app, client, world, shop):
    villager = bearer(api_token(client, "alpha", "villager"))
    keeper = bearer(api_token(client, "alpha", "keeper"))
    line = {"catalog_item_id": str(shop.toothpaste), "quantity": 2}
    for body, field, status in (({"lines": []}, "lines", 422),
                                ({"lines": [line | {"quantity": 0}]}, "lines.0.quantity", 422),  # as declared
                                ({"lines": [line | {"quantity": 11}]}, "quantity", 409),  # more than in stock
                                ({"lines": [line | {"quantity": 9}, {"catalog_item_id": str(shop.towel),
                                                                     "quantity": 3}]}, "points", 409),
                                ({"lines": [line], "tenant_id": "x"}, "tenant_id", 422)):
        resp = client.post(f"{API}/", json=body, headers=villager)
        named = resp.get_json()["errors"]["json"]
        for part in field.split("."):
            named = named.get(part) if isinstance(named, dict) else None
        assert resp.status_code == status and named, (body, resp.get_json())
    resp = client.post(f"{API}/", json={"lines": [line]}, headers=villager)
    assert resp.status_code == 201, resp.get_json()
    order = resp.get_json()
    assert (order["state"], order["total_points"], order["lines"][0]["quantity"]) == ("open", 20, 2)
    assert client.get(f"{API}/{order['id']}", headers=villager).get_json()["number"] == 1
    assert [o["id"] for o in client.get(f"{API}/?state=open", headers=keeper).get_json()] == [order["id"]]
    other = bearer(api_token(client, "alpha", "keeper2"))
    assert client.post(f"{API}/{order['id']}/hand-over", headers=other).status_code == 404
    assert client.post(f"{API}/{order['id']}/hand-over", headers=villager).status_code == 403
    resp = client.post(f"{API}/", json={"household_id": str(shop.household2), "lines": [line]}, headers=villager)
    assert resp.status_code == 404
    # the phone order's pickup code: the villager reads it, staff do not, and the hand-over needs it
    code = order["pickup_code"]
    assert code and len(code) == 4 and code.isdigit()
    assert client.get(f"{API}/{order['id']}", headers=villager).get_json()["pickup_code"] == code
    assert client.get(f"{API}/{order['id']}", headers=keeper).get_json()["pickup_code"] is None
    assert [o["pickup_code"] for o in client.get(f"{API}/?state=open", headers=keeper).get_json()] == [None]
    for body in (None, {}, {"pickup_code": "0000" if code != "0000" else "1111"}):
        refused = client.post(f"{API}/{order['id']}/hand-over", json=body, headers=keeper)
        assert refused.status_code == 422 and "pickup_code" in refused.get_json()["errors"]["json"], (body, refused.get_json())
    assert client.get(f"{API}/{order['id']}", headers=villager).get_json()["state"] == "open"
    done = client.post(f"{API}/{order['id']}/hand-over", json={"pickup_code": f" {code[:2]}-{code[2:]}"}, headers=keeper)
    assert done.status_code == 200 and done.get_json()["state"] == "handed_over", done.get_json()
    late = client.post(f"{API}/{order['id']}/cancel", json={"reason": "晚了"}, headers=villager)
    assert late.status_code == 409 and late.get_json()["status"] == "conflict"
    counter = client.post(f"{API}/", json={"household_id": str(shop.household2), "lines": [line], "hand_over": True},
                          headers=keeper)
    assert counter.status_code == 201 and counter.get_json()["state"] == "handed_over"
    assert counter.get_json()["pickup_code"] is None  # a counter order has none
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"PlaceOrder", "Order", "OrderLine"} <= set(spec["components"]["schemas"])
    assert "/api/v1/t/{tenant_slug}/orders/{order_id}/hand-over" in spec["paths"]


def test_api_declares_order_limits_and_answers_409_for_what_the_township_refuses(app, client, world, shop):
    from jifen.tenants.store import orders
    from jifen.tenants.store.models import StockMovement

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["PlaceOrder"]["properties"]["lines"]["maxItems"] == orders.MAX_LINES
    assert schemas["PlaceOrder"]["properties"]["lines"]["minItems"] == 1
    assert schemas["OrderLineIn"]["properties"]["quantity"]["maximum"] == orders.MAX_QUANTITY
    assert schemas["OrderCancel"]["properties"]["reason"]["maxLength"] == orders.MAX_REASON
    keeper = bearer(api_token(client, "alpha", "keeper"))
    line = {"catalog_item_id": str(shop.toothpaste), "quantity": 1}
    resp = client.post(f"{API}/", json={"household_id": str(shop.household), "lines": [line] * (orders.MAX_LINES + 1)},
                       headers=keeper)
    assert resp.status_code == 422 and list(resp.get_json()["errors"]["json"]) == ["lines"]

    def written():
        return in_alpha(app, world, lambda: [db.session.execute(select(func.count()).select_from(m)).scalar_one()
                                             for m in (Order, StockMovement)])

    before = written()
    for body, field in (({"household_id": "00000000-0000-0000-0000-000000000000", "lines": [line]}, "household_id"),
                        ({"lines": [line]}, "household_id"),  # staff name the household
                        ({"household_id": str(shop.household), "store_id": "00000000-0000-0000-0000-000000000000",
                          "lines": [line]}, "store_id"),
                        ({"household_id": str(shop.household),
                          "lines": [line | {"catalog_item_id": "00000000-0000-0000-0000-000000000000"}]}, "lines")):
        resp = client.post(f"{API}/", json=body, headers=keeper)
        assert resp.status_code == 409 and list(resp.get_json()["errors"]["json"]) == [field], (body, resp.get_json())
        assert written() == before


def test_api_idempotency_key_makes_one_order(app, client, world, shop):
    villager = bearer(api_token(client, "alpha", "villager"))
    body = {"lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]}
    key = villager | {"Idempotency-Key": "order-1"}
    first = client.post(f"{API}/", json=body, headers=key)
    again = client.post(f"{API}/", json=body, headers=key)
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    other = client.post(f"{API}/", json={"lines": [body["lines"][0] | {"quantity": 2}]}, headers=key)
    assert other.status_code == 409
    assert orders_count(app, world) == 1
    # a refused request frees its key: fixed, the same key then places the order
    bad = villager | {"Idempotency-Key": "order-2"}
    assert client.post(f"{API}/", json={"lines": []}, headers=bad).status_code == 422
    assert client.post(f"{API}/", json=body, headers=bad).status_code == 201
    assert orders_count(app, world) == 2
    cancel = client.post(f"{API}/{first.get_json()['id']}/cancel", json={}, headers=villager)
    assert cancel.status_code == 200 and cancel.get_json()["state"] == "cancelled"


def test_random_order_bodies_never_cause_a_500_or_a_partial_write(app, client, world, shop):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from jifen.platform.audit.models import AuditEntry
    from jifen.tenants.points.models import LedgerTransaction
    from jifen.tenants.store.models import StockMovement

    headers = {"villager": bearer(api_token(client, "alpha", "villager")),
               "keeper": bearer(api_token(client, "alpha", "keeper"))}
    ids = [str(shop.toothpaste), str(shop.towel), str(shop.powder), str(shop.household), str(shop.household2),
           str(shop.store), str(shop.other_store), "00000000-0000-0000-0000-000000000000", "x"]
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=False), st.text(max_size=6),
                       st.sampled_from(ids))
    line = st.one_of(scalar, st.fixed_dictionaries({"catalog_item_id": st.sampled_from(ids), "quantity": scalar}),
                     st.dictionaries(st.sampled_from(["catalog_item_id", "quantity", "x"]), scalar, max_size=3))
    body = st.dictionaries(st.sampled_from(["household_id", "store_id", "lines", "hand_over", "tenant_id"]),
                           st.one_of(scalar, st.lists(line, max_size=3)), max_size=5)

    def written():
        return in_alpha(app, world, lambda: [db.session.execute(select(func.count()).select_from(m)).scalar_one()
                                             for m in (Order, StockMovement, LedgerTransaction, AuditEntry)])

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body, st.sampled_from(["villager", "keeper"]))
    def check(data, who):
        before = written()
        resp = client.post(f"{API}/", json=data, headers=headers[who])
        assert resp.status_code in (201, 403, 404, 409, 422), (data, resp.status_code, resp.get_data(as_text=True))
        if resp.status_code != 201:
            assert written() == before, data
            assert "message" in resp.get_json()

    check()
