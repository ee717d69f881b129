"""Store orders at the service boundary: two-phase points, stock in the same transaction, scope,
errors naming fields, expiry, household cards."""
from __future__ import annotations

import uuid
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.audit.service import verify_chain
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications.models import Notification
from jifen.tenants.points import ledger
from jifen.tenants.points.models import REDEEMED, RESERVED, LedgerPosting, LedgerTransaction
from jifen.tenants.store import cards, orders, service
from jifen.tenants.store.models import HouseholdCard, Order, StockLevel, StockMovement
from jifen.workers import store_jobs
from tests.store_orders_world import setup_shop


@pytest.fixture
def shop(app, world):
    with app.app_context():
        return setup_shop(world)


@pytest.fixture
def alpha(app, world, shop):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        yield shop
        db.session.rollback()


def who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def stock(store, item) -> int:
    return db.session.execute(select(StockLevel.quantity).where(StockLevel.store_id == store,
                                                                StockLevel.catalog_item_id == item)).scalar_one()


def available(household) -> int:
    return ledger.balance(household, ledger.period_of(clock.today())).available


def account(name: str) -> int:
    return int(db.session.execute(select(func.coalesce(func.sum(LedgerPosting.available), 0))
                                  .where(LedgerPosting.account == name)).scalar_one())


def counts() -> tuple:
    return tuple(db.session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (Order, StockMovement, LedgerTransaction, AuditEntry, Notification))


def consistent():
    """The ledger, the orders and the stock agree with each other."""
    report = ledger.recompute()
    assert report["differences"] == [] and report["unbalanced"] == [] and report["reservations"] == []
    assert orders.verify_orders() == []
    for store_id in set(db.session.execute(select(StockLevel.store_id)).scalars()):
        assert service.verify_stock(store_id) == []
    return report


def place(actor, shop, lines, **more):
    order = orders.place_order(actor, {"lines": [{"catalog_item_id": str(i), "quantity": q} for i, q in lines]} | more)
    db.session.commit()
    return order


# --- the two phases ------------------------------------------------------------------------------

def test_placing_takes_stock_and_reserves_points_in_one_go(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 2), (shop.towel, 1)])
    assert (order.number, order.state, order.channel, order.total_points) == (1, "open", "phone", 28)
    assert order.household_id == shop.household and order.store_id == shop.store
    assert (stock(shop.store, shop.toothpaste), stock(shop.store, shop.towel)) == (8, 2)
    assert available(shop.household) == 72
    assert (account(RESERVED), account(REDEEMED)) == (28, 0)
    bal = ledger.balance(shop.household, ledger.period_of(clock.today()))
    assert bal.earned == 100  # spending never lowers earned points
    movements = db.session.execute(select(StockMovement).where(StockMovement.order_id == order.id)).scalars().all()
    assert sorted((m.kind, m.delta) for m in movements) == [("redemption", -2), ("redemption", -1)]
    [m] = service.list_movements(who("keeper"), shop.store, shop.toothpaste, limit=1)  # the store's history
    assert (m.kind, m.order_id, m.note) == ("redemption", order.id, "#1")
    [tx] = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.source_id == order.id)).scalars().all()
    assert (tx.source_kind, tx.points, tx.period) == ("order", 0, ledger.period_of(clock.today()))
    legs = {p.account: p.available for p in db.session.execute(
        select(LedgerPosting).where(LedgerPosting.transaction_id == tx.id)).scalars()}
    assert legs == {"household": -28, "reserved": 28}
    actions = db.session.execute(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(3)).scalars().all()
    assert sorted(actions) == ["order.place", "stock.redemption", "stock.redemption"]
    assert db.session.execute(select(Notification.kind).where(Notification.household_id == shop.household,
                                                              Notification.kind == "order_placed")).scalar_one()
    assert verify_chain().ok
    consistent()


def test_hand_over_spends_the_reserved_points_once(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 3)])
    orders.hand_over(who("keeper"), order.id, order.pickup_code)  # the code the villager's phone shows
    db.session.commit()
    assert tenant_get(Order, order.id).state == "handed_over"
    assert available(shop.household) == 70 and stock(shop.store, shop.toothpaste) == 7
    assert (account(RESERVED), account(REDEEMED)) == (0, 30)
    close = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.source_kind == "order_close")).scalar_one()
    legs = {p.account: (p.available, p.household_id) for p in db.session.execute(
        select(LedgerPosting).where(LedgerPosting.transaction_id == close.id)).scalars()}
    assert legs == {"reserved": (-30, None), "redeemed": (30, None)}  # no household leg: already taken
    for again in (lambda: orders.hand_over(who("keeper"), order.id), lambda: orders.cancel(who("keeper"), order.id),
                  lambda: orders.cancel(who("villager"), order.id)):
        with pytest.raises(Conflict) as e:
            again()
        assert "state" in e.value.errors
        db.session.rollback()
    consistent()


def test_cancelling_releases_stock_and_points(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 2), (shop.towel, 3)])
    assert stock(shop.store, shop.towel) == 0 and available(shop.household) == 56
    orders.cancel(who("villager"), order.id, "买错了")
    db.session.commit()
    order = tenant_get(Order, order.id)
    assert (order.state, order.cancel_reason, order.closed_by_name) == ("cancelled", "买错了", "villager")
    assert (stock(shop.store, shop.toothpaste), stock(shop.store, shop.towel)) == (10, 3)
    assert available(shop.household) == 100
    assert (account(RESERVED), account(REDEEMED)) == (0, 0)
    kinds = sorted(m.kind for m in db.session.execute(select(StockMovement).where(
        StockMovement.order_id == order.id)).scalars())
    assert kinds == ["redemption", "redemption", "release", "release"]
    assert {n.kind for n in db.session.execute(select(Notification)).scalars()} >= {"order_placed", "order_cancelled"}
    consistent()


def test_the_counter_hands_over_at_once_with_both_ledger_transactions(alpha):
    shop = alpha
    order = place(who("keeper"), shop, [(shop.towel, 2)], household_id=str(shop.household2), hand_over=True)
    assert (order.state, order.channel, order.placed_by_name) == ("handed_over", "counter", "keeper")
    kinds = db.session.execute(select(LedgerTransaction.source_kind).where(LedgerTransaction.source_id == order.id)
                               .order_by(LedgerTransaction.source_kind)).scalars().all()
    assert kinds == ["order", "order_close"]
    assert available(shop.household2) == 4 and account(REDEEMED) == 16
    consistent()


def test_an_order_closes_in_the_period_it_reserved_in(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 1)])
    year = order.period
    with clock.at(clock.local_moment(date(year + 1, 1, 2), time(9))):
        orders.cancel(who("villager"), order.id)
    db.session.commit()
    assert ledger.balance(shop.household, year).available == 100
    assert ledger.balance(shop.household, year + 1) is None
    close = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.source_kind == "order_close")).scalar_one()
    assert close.period == year
    consistent()


# --- refusals name the field and write nothing ---------------------------------------------------------

BAD_ORDERS = [  # (lines, field named, refusal): the input's own rules, then the township's data (stock, points)
    ([], "lines", Invalid), (None, "lines", Invalid), ("牙膏", "lines", Invalid),
    ([{"catalog_item_id": "nope", "quantity": 1}], "lines", Invalid),
    ([{"catalog_item_id": "00000000-0000-0000-0000-000000000000", "quantity": 1}], "lines", InputConflict),
    ([{"catalog_item_id": "T", "quantity": 0}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": -1}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": "abc"}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": 1.5}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": True}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": 100}], "quantity", Invalid),
    ([{"catalog_item_id": "T", "quantity": 60}, {"catalog_item_id": "T", "quantity": 60}], "quantity",
     InputConflict),  # repeats add up: 120, 10 in stock
    ([{"catalog_item_id": "T", "quantity": 11}], "quantity", InputConflict),  # 10 in stock
    ([{"catalog_item_id": "P", "quantity": 1}], "quantity", InputConflict),  # out of stock
    ([{"catalog_item_id": "T", "quantity": 9}, {"catalog_item_id": "W", "quantity": 3}], "points",
     InputConflict),  # 114 > 100
]


def test_bad_orders_name_the_field_and_write_nothing(alpha):
    shop = alpha
    ids = {"T": str(shop.toothpaste), "W": str(shop.towel), "P": str(shop.powder)}
    before = counts()
    for lines, field, refusal in BAD_ORDERS:
        if isinstance(lines, list):
            lines = [dict(row, catalog_item_id=ids.get(row["catalog_item_id"], row["catalog_item_id"])) for row in lines]
        with pytest.raises(refusal) as e:
            orders.place_order(who("villager"), {"lines": lines})
        assert field in e.value.errors, (lines, e.value.errors)
        db.session.rollback()
        assert counts() == before
        assert stock(shop.store, shop.toothpaste) == 10 and available(shop.household) == 100


def test_a_withdrawn_item_or_closed_store_is_refused(alpha):
    shop = alpha
    admin = who("admin")
    service.update_catalog_item(admin, shop.towel, {"active": False})
    db.session.commit()
    with pytest.raises(InputConflict) as e:
        orders.place_order(who("villager"), {"lines": [{"catalog_item_id": str(shop.towel), "quantity": 1}]})
    assert "lines" in e.value.errors
    db.session.rollback()
    service.update_store(admin, shop.store, {"active": False})
    db.session.commit()
    with pytest.raises(InputConflict) as e:
        orders.place_order(who("villager"), {"store_id": str(shop.store),
                                             "lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]})
    assert "store_id" in e.value.errors
    db.session.rollback()


def test_the_database_refuses_negative_stock_and_points_too(alpha):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from jifen.tenants.points.models import HouseholdBalance

    for stmt in (update(StockLevel).values(quantity=-1), update(HouseholdBalance).values(available=-1)):
        with pytest.raises(IntegrityError):
            db.session.execute(stmt)
            db.session.flush()
        db.session.rollback()


# --- who may do what -------------------------------------------------------------------------------

def test_a_villager_orders_only_for_their_own_household_at_a_store_serving_it(alpha):
    shop = alpha
    line = [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]
    with pytest.raises(NotFound):
        orders.place_order(who("villager"), {"household_id": str(shop.household2), "lines": line})
    db.session.rollback()
    with pytest.raises(InputConflict) as e:  # 礼坑村's store does not serve 官田村
        orders.place_order(who("villager"), {"store_id": str(shop.other_store), "lines": line})
    assert "store_id" in e.value.errors
    db.session.rollback()
    with pytest.raises(Forbidden):  # only the storekeeper hands over
        orders.place_order(who("villager"), {"lines": line, "hand_over": True})
    db.session.rollback()
    with pytest.raises(Forbidden):
        orders.place_order(who("panel"), {"household_id": str(shop.household), "lines": line})
    db.session.rollback()


def test_a_storekeeper_of_another_store_cannot_hand_over_or_cancel(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 1)])
    for call in (orders.hand_over, orders.cancel, orders.get_order):
        with pytest.raises(NotFound):
            call(who("keeper2"), order.id)
        db.session.rollback()
    with pytest.raises(NotFound):  # nor serve a household its store does not serve
        orders.place_order(who("keeper2"), {"household_id": str(shop.household), "store_id": str(shop.store),
                                            "lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]})
    db.session.rollback()
    with pytest.raises(InputConflict) as e:
        orders.place_order(who("keeper2"), {"household_id": str(shop.household), "store_id": str(shop.other_store),
                                            "lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]})
    assert "store_id" in e.value.errors
    db.session.rollback()
    with pytest.raises(NotFound):  # another household's villager
        orders.cancel(who("villager2"), order.id)
    db.session.rollback()
    with pytest.raises(Forbidden):
        orders.hand_over(who("villager"), order.id)
    db.session.rollback()
    assert tenant_get(Order, order.id).state == "open"


def test_lists_follow_scope(alpha):
    shop = alpha
    mine = place(who("villager"), shop, [(shop.toothpaste, 1)])
    theirs = place(who("villager2"), shop, [(shop.towel, 1)])
    assert {o.id for o in orders.list_orders(who("villager"))} == {mine.id}
    assert {o.id for o in orders.list_orders(who("keeper"))} == {mine.id, theirs.id}
    assert orders.list_orders(who("keeper2")) == []
    assert {o.id for o in orders.list_orders(who("vadmin"))} == {mine.id, theirs.id}  # 官田村's admin
    assert {o.id for o in orders.list_orders(who("admin"), state="open")} == {mine.id, theirs.id}
    with pytest.raises(Forbidden):
        orders.list_orders(who("gridder"))
    with pytest.raises(Invalid) as e:
        orders.list_orders(who("admin"), state="lost")
    assert "state" in e.value.errors
    assert orders.waiting_count(who("keeper")) == 2 and orders.waiting_count(who("keeper2")) == 0
    assert orders.waiting_count(who("admin")) == 0
    from jifen.tenants.notifications.digest_sources import SOURCES
    assert SOURCES["store_orders"].count(who("keeper")) == 2  # the staff digest asks the same


# --- expiry ------------------------------------------------------------------------------------------

def _age(order_id, days):
    order = tenant_get(Order, order_id)
    order.placed_at = order.placed_at - timedelta(days=days)
    db.session.commit()


def test_expiry_releases_old_open_orders_and_a_second_run_changes_nothing(alpha, app, world):
    shop = alpha
    old = place(who("villager"), shop, [(shop.toothpaste, 2)])
    young = place(who("villager2"), shop, [(shop.towel, 1)])
    collected = place(who("villager"), shop, [(shop.towel, 1)])
    orders.hand_over(who("keeper"), collected.id, collected.pickup_code)
    db.session.commit()
    _age(old.id, orders.ORDER_DAYS)
    _age(young.id, orders.ORDER_DAYS - 2)
    _age(collected.id, 30)
    today = clock.today()
    first = store_jobs.order_expiry(str(world.a.tenant_id), today.isoformat())
    assert first["expired"] == 1
    snapshot = counts(), stock(shop.store, shop.toothpaste), available(shop.household)
    assert [tenant_get(Order, i).state for i in (old.id, young.id, collected.id)] == ["expired", "open", "handed_over"]
    assert snapshot[1:] == (10, 92)  # the toothpaste is back; 8 points of the collected towel stay spent
    again = store_jobs.order_expiry(str(world.a.tenant_id), today.isoformat(), force=True)
    assert again["expired"] == 0
    assert (counts(), stock(shop.store, shop.toothpaste), available(shop.household)) == snapshot
    assert store_jobs.order_expiry(str(world.a.tenant_id), today.isoformat())["skipped"] == "already done"
    kinds = {n.kind for n in db.session.execute(select(Notification).where(
        Notification.household_id == shop.household)).scalars()}
    assert "order_expired" in kinds
    consistent()


def test_the_expiry_cutoff_is_the_townships_local_midnight(app, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        cut = orders.expiry_cutoff(date(2026, 3, 10))
        assert cut.isoformat() == "2026-03-04T00:00:00+08:00"  # placed on 3 March or earlier: expired on the 10th


# --- the ledger's guards -----------------------------------------------------------------------------

def test_recompute_reports_a_broken_reservation(alpha):
    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 1)])
    assert ledger.recompute()["reserved"] == 10
    tx = LedgerTransaction(id=new_id(), source_kind="order_close", source_id=order.id, household_id=shop.household,
                           period=order.period, points=0, occurred_on=clock.today())
    db.session.add(tx)
    db.session.flush()
    db.session.add_all([LedgerPosting(transaction_id=tx.id, account="reserved", period=order.period, available=-4),
                        LedgerPosting(transaction_id=tx.id, account="redeemed", period=order.period, available=4)])
    db.session.flush()
    assert ledger.recompute()["reservations"] == [order.id]
    assert [d["order_id"] for d in orders.verify_orders()] == [order.id]
    db.session.rollback()


def test_order_entries_cannot_be_corrected_or_settled_twice(alpha):
    from sqlalchemy.exc import IntegrityError

    shop = alpha
    order = place(who("villager"), shop, [(shop.toothpaste, 1)])
    reserve = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.source_id == order.id)).scalar_one()
    with pytest.raises(InputConflict) as e:
        ledger.correct(reserve, new_points=5, reason="x", request_id=uuid.uuid4())
    assert "transaction" in e.value.errors
    db.session.rollback()
    ledger.settle(household_id=shop.household, points=10, period=order.period, order_id=order.id, spend=True,
                  on=clock.today())
    with pytest.raises(Invalid):  # nothing reserved any more
        ledger.settle(household_id=shop.household, points=10, period=order.period, order_id=order.id, spend=False,
                      on=clock.today())
    db.session.rollback()
    tx = LedgerTransaction(id=new_id(), source_kind="order_close", source_id=order.id, household_id=shop.household,
                           period=order.period, points=0, occurred_on=clock.today())
    db.session.add(tx)
    db.session.flush()
    with pytest.raises(IntegrityError):  # the unique source: an order closes once, whatever the code does
        db.session.add(LedgerTransaction(id=new_id(), source_kind="order_close", source_id=order.id,
                                         household_id=shop.household, period=order.period, points=0,
                                         occurred_on=clock.today()))
        db.session.flush()
    db.session.rollback()


# --- household cards ---------------------------------------------------------------------------------

def test_cards_are_issued_per_grid_node_found_by_code_and_reissued(alpha, world):
    shop = alpha
    node = world.a.grid[1]  # the grid worker's node
    found = cards.sheet(who("gridder"), node)
    assert found["cards"] == [] and {h.id for h in found["missing"]} == {shop.household, shop.household2}
    assert cards.issue_for_node(who("gridder"), node) == 2
    assert cards.issue_for_node(who("gridder"), node) == 0
    db.session.commit()
    sheet = cards.sheet(who("keeper"), node)
    assert [r["household"].door_plate for r in sheet["cards"]] == ["1号", "2号"]
    code = cards.live_card(shop.household).code
    assert len(code) == 8 and code != str(shop.household)
    typed = cards.shown(code).lower().replace("-", " - ")
    assert cards.find(typed).household_id == shop.household
    assert cards.find("0000-0000") is None and cards.find("") is None
    new = cards.reissue(who("vadmin"), shop.household)
    db.session.commit()
    assert new.code != code and cards.find(code) is None and cards.find(new.code).household_id == shop.household
    assert db.session.execute(select(func.count()).select_from(HouseholdCard).where(
        HouseholdCard.household_id == shop.household)).scalar_one() == 2
    cards.revoke(who("admin"), shop.household)
    db.session.commit()
    assert cards.find(new.code) is None and cards.live_card(shop.household) is None
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"household_card.issue", "household_card.reissue", "household_card.revoke"} <= actions


def test_card_printing_follows_scope(alpha, world):
    node = world.a.grid[0]
    with pytest.raises(NotFound):  # 礼坑村's storekeeper: not this village
        cards.sheet(who("keeper2"), node)
    with pytest.raises(NotFound):
        cards.reissue(who("keeper2"), alpha.household)
    with pytest.raises(Forbidden):
        cards.sheet(who("villager"), node)
    nodes = [n.id for n, _v in cards.printable_nodes(who("gridder"))]
    assert nodes == world.a.grid[1:]  # the grid worker's subtree
    assert [n.id for n, _v in cards.printable_nodes(who("keeper2"))] == []


def test_demo_orders_are_made_through_the_services_once(alpha, world):
    from jifen.platform.staff import service as staff
    from jifen.tenants.store import order_demo

    shop = alpha
    admin = who("admin")
    for username, role, scope in (("villager-guantian-1", "villager", shop.household),
                                  ("villager-guantian-2", "villager", shop.household2),
                                  ("zengli", "storekeeper", shop.store)):
        staff.invite(admin, {"username": username, "display_name": username,
                             "roles": [{"role": role, "scope_ids": [scope]}]})
    ledger.earn(household_id=shop.household2, points=40, occurred_on=clock.today(), source_kind="application",
                source_id=uuid.uuid4())
    db.session.commit()
    line = order_demo.load_demo(admin, {})
    made = counts()
    assert line.startswith("store orders: 3 (1 handed over, 1 waiting, 1 cancelled)"), line
    assert order_demo.load_demo(admin, {}) == line and counts() == made  # a second load adds nothing
    states = {o.state: o.closed_by_name for o in db.session.execute(select(Order)).scalars()}
    assert states["handed_over"] == "zengli"
    consistent()
