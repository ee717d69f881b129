"""Store orders racing on PostgreSQL's real row locks: 200 households order the last 50 of an item
at once; a hand-over and a cancel of one order at once. Stock and available points never go below
zero, exactly the right orders win, the ledger stays consistent."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.queue import publish
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.points.models import REDEEMED, RESERVED, LedgerPosting
from jifen.tenants.store import orders, service
from jifen.tenants.store.models import Order, StockLevel
from jifen.workers.store_jobs import ORDER_EXPIRY
from tests.conftest import PG_URL, make_world
from tests.race import race
from tests.test_services import queued_app, services, worker  # noqa: F401  (the real worker's fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")]

BUYERS, STOCK, PRICE = 200, 50, 7


@pytest.fixture
def pg_app(make_app, clean):
    """An app whose pool lets every racing thread wait for a connection (200 threads, 20 connections)."""
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 0, "pool_timeout": 300})


def _who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def _setup(app, buyers: int, stock: int, points: int = PRICE + 3):
    """World alpha with one item stocked `stock` in its store and `buyers` households with points enough."""
    with app.app_context():
        world = make_world()
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            admin = _who("admin")
            item = service.create_catalog_item(admin, {"name": "电饭煲", "price_points": PRICE, "unit": "台"})
            service.move_stock(admin, world.a.store, item.id, "restock", stock, "donation")
            households = [Household(village_id=world.a.villages[0], grid_node_id=world.a.grid[-1],
                                    door_plate=f"{n + 100}号", head_name=f"户{n}") for n in range(buyers)]
            db.session.add_all(households)
            db.session.flush()
            ledger.earn_many([ledger.Earning(household_id=h.id, points=points, occurred_on=clock.today(),
                                             source_kind="application", source_id=uuid.uuid4()) for h in households])
            db.session.commit()
            return world, item.id, [h.id for h in households]


def _sums():
    return {name: int(db.session.execute(select(func.coalesce(func.sum(LedgerPosting.available), 0))
                                         .where(LedgerPosting.account == name)).scalar_one())
            for name in (RESERVED, REDEEMED)}


def test_200_orders_race_for_50_in_stock(pg_app):
    app = pg_app
    world, item, households = _setup(app, BUYERS, STOCK)

    def order(i):
        try:
            o = orders.place_order(_who("keeper"), {"household_id": str(households[i]),
                                                    "lines": [{"catalog_item_id": str(item), "quantity": 1}]})
            db.session.commit()
            return o.id
        except InputConflict as e:
            db.session.rollback()
            assert "quantity" in e.errors, e.errors
            return None

    results = race(app, world.a.tenant_id, BUYERS, order, timeout=120)
    won = [r for r in results if r is not None]
    assert len(won) == STOCK
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        level = db.session.execute(select(StockLevel.quantity).where(StockLevel.catalog_item_id == item)).scalar_one()
        assert level == 0
        numbers = sorted(tenant_get(Order, i).number for i in won)
        assert numbers == list(range(1, STOCK + 1))  # no number taken twice, none lost
        assert _sums() == {RESERVED: STOCK * PRICE, REDEEMED: 0}
    # the storekeeper hands them all over, two counters at once
    def hand_over_half(k):
        for order_id in won[k::2]:
            orders.hand_over(_who("keeper"), order_id, tenant_get(Order, order_id).pickup_code)
            db.session.commit()

    race(app, world.a.tenant_id, 2, hand_over_half, timeout=120)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert _sums() == {RESERVED: 0, REDEEMED: STOCK * PRICE}  # spent exactly 50 × price
        report = ledger.recompute()
        assert report["differences"] == [] and report["unbalanced"] == [] and report["reservations"] == []
        assert orders.verify_orders() == [] and service.verify_stock(world.a.store) == []
        spent = {h for h in households if ledger.balance(h, ledger.period_of(clock.today())).available == 3}
        assert len(spent) == STOCK


def test_hand_over_and_cancel_of_one_order_race_and_one_wins(pg_app):
    app = pg_app
    world, item, households = _setup(app, 1, 5, points=PRICE * 5)
    for _round in range(4):
        with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            order = orders.place_order(_who("keeper"), {"household_id": str(households[0]),
                                                        "lines": [{"catalog_item_id": str(item), "quantity": 1}]})
            db.session.commit()
            order_id = order.id

        def act(i, order_id=order_id):
            try:
                (orders.hand_over if i == 0 else orders.cancel)(_who("keeper"), order_id)
                db.session.commit()
                return "won"
            except Conflict:
                db.session.rollback()
                return "conflict"

        assert sorted(race(app, world.a.tenant_id, 2, act, timeout=120)) == ["conflict", "won"]
        with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            assert tenant_get(Order, order_id).state in ("handed_over", "cancelled")
            report = ledger.recompute()
            assert report["differences"] == [] and report["reservations"] == [] and report["reserved"] == 0
            assert orders.verify_orders() == [] and service.verify_stock(world.a.store) == []


# --- the nightly expiry with a real worker on Redis ------------------------------------------------

@pytest.mark.services
def test_the_expiry_job_runs_in_a_worker_process_and_twice_changes_nothing(request):
    proc, log = request.getfixturevalue("worker")
    app = request.getfixturevalue("queued_app")
    world, item, households = _setup(app, 2, 5)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        old, young = (orders.place_order(_who("keeper"), {"household_id": str(h), "lines": [
            {"catalog_item_id": str(item), "quantity": 1}]}) for h in households)
        old.placed_at -= timedelta(days=orders.ORDER_DAYS)
        db.session.commit()
        old_id, young_id, today = old.id, young.id, clock.today()

    def run_and_wait(expected_attempts):
        with app.app_context():
            publish(ORDER_EXPIRY, {"tenant_id": str(world.a.tenant_id), "local_date": today.isoformat()})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                db.session.rollback()
                with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
                    run = db.session.execute(select(JobRun).where(JobRun.job == ORDER_EXPIRY)).scalar_one_or_none()
                    if run is not None and run.status == "done" and log.read_text().count("succeeded") >= expected_attempts:
                        return run.result
                time.sleep(0.3)
        raise AssertionError(log.read_text()[-3000:])

    assert run_and_wait(1)["expired"] == 1
    run_and_wait(2)  # delivered again: the finished run is skipped
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert (tenant_get(Order, old_id).state, tenant_get(Order, young_id).state) == ("expired", "open")
        assert db.session.execute(select(JobRun.attempts).where(JobRun.job == ORDER_EXPIRY)).scalar_one() == 1
        assert db.session.execute(select(StockLevel.quantity).where(StockLevel.catalog_item_id == item)).scalar_one() == 4
        report = ledger.recompute()
        assert report["differences"] == [] and report["reservations"] == [] and report["reserved"] == PRICE
    assert proc.poll() is None
