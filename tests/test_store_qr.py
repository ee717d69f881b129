"""Issue 14 at the store: the villager's own QR code, the counter reading a scanned (or pasted)
code within its township only, and the pickup code of a phone order, shown and checked."""
from __future__ import annotations

import re

import pytest

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import NotFound
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.store import cards, orders
from jifen.tenants.store.models import Order
from tests.store_orders_world import setup_shop
from tests.test_store_orders_pages import PAGES, in_alpha, review_and_confirm, signed_in


@pytest.fixture
def shop(app, world):
    with app.app_context():
        return setup_shop(world)


CODE_RE = re.compile(r'id="my-code">([0-9A-Z]{4}-[0-9A-Z]{4})<')


def _user_actor(township, role):
    return actor_for(tenant_get(User, township.user_id(role)))


def test_my_qr_code_shows_the_own_household_card_and_nobody_elses(app, world, shop):
    villager, villager2 = signed_in(app, "villager"), signed_in(app, "villager2")
    page = villager.get(f"{PAGES}/my-card")
    assert page.status_code == 200 and 'id="get-code"' in page.get_data(as_text=True)  # no card yet
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    got = villager.post(f"{PAGES}/my-card", data={"csrf_token": token, "household_id": str(shop.household)})
    assert got.status_code == 303
    html = villager.get(got.headers["Location"]).get_data(as_text=True)
    code = in_alpha(app, world, lambda: cards.live_card(shop.household).code)
    assert CODE_RE.search(html).group(1) == cards.shown(code)
    assert cards.qr_svg(f"http://jifen.test/t/alpha/orders/counter?card={code}") in html  # the printed card's QR
    # asking again keeps the same card (the storekeeper replaces a lost one)
    assert villager.post(f"{PAGES}/my-card", data={"csrf_token": token, "household_id": str(shop.household)}
                         ).status_code == 303
    assert in_alpha(app, world, lambda: cards.live_card(shop.household).code) == code
    # another household's id in the address still shows the villager's own code
    other = villager.get(f"{PAGES}/my-card?household_id={shop.household2}").get_data(as_text=True)
    assert CODE_RE.search(other).group(1) == cards.shown(code) and "李四" not in other
    # the second villager cannot issue or see the first household's code
    token2 = re.search(r'name="csrf_token" value="([^"]+)"', villager2.get(f"{PAGES}/my-card").get_data(as_text=True))
    assert villager2.post(f"{PAGES}/my-card", data={"csrf_token": token2.group(1),
                                                     "household_id": str(shop.household)}).status_code == 404
    assert cards.shown(code) not in villager2.get(f"{PAGES}/my-card").get_data(as_text=True)

    def refused():
        try:
            cards.own_card(_user_actor(world.a, "villager"), shop.household2)
        except NotFound:
            return True
        return False
    assert in_alpha(app, world, refused)
    assert signed_in(app, "keeper").get(f"{PAGES}/my-card").status_code == 404  # staff have no own code


def test_the_counter_reads_a_scanned_link_and_only_its_own_townships_codes(app, world, shop):
    keeper = signed_in(app, "keeper")
    code = in_alpha(app, world, lambda: cards.issue_own(_user_actor(world.a, "villager"), shop.household).code)
    link = f"http://jifen.test/t/alpha/orders/counter?card={code}"
    for typed in (link, cards.shown(code), f"  {cards.shown(code).lower()} "):  # scanned, typed, pasted
        page = keeper.get(f"{PAGES}/counter", query_string={"q": typed}).get_data(as_text=True)
        assert 'id="household"' in page and "张三伟" in page and 'id="e-q"' not in page
    assert 'data-jsqr="/static/vendor/jsqr/jsQR.min.js' in page and "scanner.js" in page

    with app.app_context(), tenant_scope(db.session.get(Tenant, world.b.tenant_id)):
        beta_code = cards.issue_own(_user_actor(world.b, "villager"), world.b.household).code
        db.session.commit()
    assert beta_code != code
    for typed in (beta_code, f"http://jifen.test/t/beta/orders/counter?card={beta_code}"):
        page = keeper.get(f"{PAGES}/counter", query_string={"q": typed}).get_data(as_text=True)
        assert 'id="household"' not in page
    page = keeper.get(f"{PAGES}/counter?card={beta_code}").get_data(as_text=True)
    assert 'id="e-q"' in page and 'id="household"' not in page


def test_a_phone_order_has_a_pickup_code_the_counter_checks(app, world, shop):
    villager, keeper = signed_in(app, "villager"), signed_in(app, "keeper")
    _html, confirm = review_and_confirm(villager, f"{PAGES}/shop", {
        "household_id": str(shop.household), "store_id": str(shop.store), f"qty-{shop.toothpaste}": "1"})
    placed = villager.post(f"{PAGES}/shop", data=confirm)
    assert placed.status_code == 303
    order_url = placed.headers["Location"].split("?")[0]
    pickup = in_alpha(app, world, lambda: db.session.query(Order).one().pickup_code)
    assert re.fullmatch(r"\d{4}", pickup)
    assert f'id="pickup-code">{pickup}<' in villager.get(order_url).get_data(as_text=True)  # shown to the villager
    staff_view = keeper.get(order_url).get_data(as_text=True)
    assert 'id="pickup-code"' not in staff_view and 'name="pickup_code"' in staff_view  # asked of the storekeeper

    wrong = "0000" if pickup != "0000" else "1111"
    desk = keeper.get(f"{PAGES}/pickup", query_string={"store_id": str(shop.store), "pickup_code": wrong})
    assert desk.status_code == 422 and 'id="e-pickup_code"' in desk.get_data(as_text=True)
    found = keeper.get(f"{PAGES}/pickup", query_string={"store_id": str(shop.store), "pickup_code": pickup[:2] + " " + pickup[2:]})
    assert found.status_code == 303 and found.headers["Location"].startswith(order_url)
    other_store = signed_in(app, "keeper2").get(f"{PAGES}/pickup", query_string={"pickup_code": pickup})
    assert other_store.status_code == 422  # another store's waiting order is not found by its code

    token = re.search(r'name="csrf_token" value="([^"]+)"', staff_view).group(1)
    refused = keeper.post(f"{order_url}/hand-over", data={"csrf_token": token, "pickup_code": wrong})
    assert refused.status_code == 422 and 'id="e-pickup_code"' in refused.get_data(as_text=True)
    assert in_alpha(app, world, lambda: db.session.query(Order).one().state) == "open"
    done = keeper.post(f"{order_url}/hand-over", data={"csrf_token": token, "pickup_code": pickup})
    assert done.status_code == 303
    assert in_alpha(app, world, lambda: db.session.query(Order).one().state) == "handed_over"


def test_pickup_codes_are_four_digits_unique_among_a_stores_waiting_orders(app, world, shop):
    def place_many():
        actor = _user_actor(world.a, "villager")
        return [orders.place_order(actor, {"household_id": shop.household, "store_id": shop.store,
                                           "lines": [{"catalog_item_id": shop.toothpaste, "quantity": 1}]}).pickup_code
                for _ in range(8)]
    codes = in_alpha(app, world, place_many)
    assert len(set(codes)) == 8 and all(re.fullmatch(r"\d{4}", c) for c in codes)
    assert orders.pickup_digits("１２ 34") == "1234" and orders.pickup_digits("123") == ""
