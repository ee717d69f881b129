"""Fund coverage: every figure of the nightly snapshot against a hand computation on a small world,
the derived point value, the warning told once per crossing, funding records (append-only,
reversed once), bad input named, and who sees what.

The world (tests/store_orders_world.py plus costed restocks, orders and funding below):
store A = 积分超市 of 官田村 (villages[0]), store B = 礼坑村积分超市 (villages[1]), store T = the
township's store (no village). Households 1 (张三伟) and 2 (李四) live in 官田村.
"""
from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.funds import coverage, service
from jifen.tenants.funds.models import FundCoverage, FundRecord
from jifen.tenants.notifications.models import NotificationDelivery, StaffDigest
from jifen.tenants.store import orders
from jifen.tenants.store import service as store
from jifen.workers import fund_jobs
from tests.conftest import api_token, bearer, csrf_token, page_login
from tests.store_orders_world import setup_shop


def who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def build(world) -> dict:
    """setup_shop, then costed restocks, two orders and funding (see the module docstring)."""
    shop = setup_shop(world)
    t = world.a
    with tenant_scope(db.session.get(Tenant, t.tenant_id)):
        admin = who("admin")
        today = clock.today()
        store.move_stock(admin, shop.store, shop.toothpaste, "restock", 10, "donation", 850)  # A: 20 toothpaste
        store.move_stock(admin, shop.store, shop.towel, "restock", 2, "donation", 600)  # A: 5 towels
        store.move_stock(admin, shop.other_store, shop.toothpaste, "restock", 5, "donation", 900)  # B: 10
        township_store = store.create_store(admin, {"name": "镇积分超市"})
        store.move_stock(admin, township_store.id, shop.towel, "restock", 4, "donation", 650)  # T: 4 towels
        # household 1 orders 2 toothpaste (20 points, left open); household 2 takes a towel (8, handed over)
        orders.place_order(admin, {"household_id": str(shop.household), "store_id": str(shop.store),
                                   "lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 2}]})
        orders.place_order(admin, {"household_id": str(shop.household2), "store_id": str(shop.store), "hand_over": True,
                                   "lines": [{"catalog_item_id": str(shop.towel), "quantity": 1}]})
        day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
        service.add_record(admin, {"kind": "budget", "amount": "300.00", "received_on": day(40),
                                   "store_id": str(shop.store)})
        service.add_record(admin, {"kind": "donation", "amount": "100", "received_on": day(10),
                                   "store_id": str(shop.other_store)})
        service.add_record(admin, {"kind": "collective_income", "amount": "500.00", "received_on": day(5)})
        wrong = service.add_record(admin, {"kind": "donation", "amount": "999.00", "received_on": day(1),
                                           "store_id": str(shop.store), "note": "记错了"})
        service.reverse_record(admin, wrong.id, {"reason": "重复登记"})
        db.session.commit()
        return {"shop": shop, "township_store": township_store.id, "wrong": wrong.id}


@pytest.fixture
def fw(app, world):
    with app.app_context():
        return build(world)


@pytest.fixture
def alpha(app, world, fw):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        yield fw
        db.session.rollback()


def run(world, day: date, force: bool = False) -> dict:
    """The nightly job for `day`, through the Celery task (it commits)."""
    return fund_jobs.fund_coverage(str(world.a.tenant_id), day.isoformat(), force)


def rows_of(day: date) -> dict:
    return {r.village_id: r for r in db.session.execute(select(FundCoverage).where(FundCoverage.taken_on == day))
            .scalars()}


# --- the figures ---------------------------------------------------------------------------------

# By hand. Point value derived: latest costed restock per item anywhere: toothpaste 900 fen / 10
# points = 90, towel 650 / 8 = 81.25 (washing powder has no cost); median (81.25 + 90) / 2 = 85.625
# → 86 fen. 官田村: available 80 + 12, reserved 20 → 112 points → 112 x 86 = 9632 fen owed;
# received 30000 (the 999 yuan record is reversed); spent 10 x 850 + 2 x 600 = 9700; stock
# 18 toothpaste x 850 + 4 towels x 600 = 17700; redeemed 8 points → 8 x 86 / 3 = 229.33 → 229.
GUANTIAN = {"available_points": 92, "reserved_points": 20, "liability_fen": 9632, "received_fen": 30000,
            "spent_fen": 9700, "stock_cost_fen": 17700, "redeemed_points": 8, "monthly_redemption_fen": 229}
# 礼坑村: no household with points; received 10000, spent 5 x 900, stock 10 x 900.
LIKENG = {"available_points": 0, "reserved_points": 0, "liability_fen": 0, "received_fen": 10000,
          "spent_fen": 4500, "stock_cost_fen": 9000, "redeemed_points": 0, "monthly_redemption_fen": 0}
# township: everything, the township store's 4 towels x 650 and the township's 50000 included.
TOWNSHIP = {"available_points": 92, "reserved_points": 20, "liability_fen": 9632, "received_fen": 90000,
            "spent_fen": 9700 + 4500 + 2600, "stock_cost_fen": 17700 + 9000 + 2600, "redeemed_points": 8,
            "monthly_redemption_fen": 229}


def test_every_figure_matches_a_hand_computation(alpha, world):
    assert coverage.derived_point_value() == 86
    result = run(world, clock.today())
    assert result["rows"] == 3 and result["below"] == 0
    rows = rows_of(clock.today())
    v0, v1 = world.a.villages[:2]
    assert set(rows) == {None, v0, v1}  # the township and the two villages with a store
    for scope, expected in ((v0, GUANTIAN), (v1, LIKENG), (None, TOWNSHIP)):
        row = rows[scope]
        assert row.point_value_fen == 86 and row.point_value_derived
        assert {k: getattr(row, k) for k in expected} == expected, scope
    assert rows[v0].cover_fen == 30000 - 9700 + 17700 == 38000
    assert rows[v0].coverage_pct == pytest.approx(100 * 38000 / 9632)
    assert rows[v0].months_left == pytest.approx(38000 / 229)
    assert rows[v1].coverage_pct is None and rows[v1].months_left is None  # nothing owed, nothing redeemed
    assert rows[None].cover_fen == 90000 - 16800 + 29300
    assert not any(r.below for r in rows.values())


def test_the_point_value_set_by_the_township_is_used_and_cleared_back_to_derived(alpha, world):
    admin = who("admin")
    assert service.update_settings(admin, {"point_value": "1.20", "coverage_warn_pct": "150"})["point_value_fen"] == 120
    run(world, clock.today())
    row = rows_of(clock.today())[world.a.villages[0]]
    assert (row.point_value_fen, row.point_value_derived, row.liability_fen, row.warn_pct) == (120, False, 112 * 120, 150)
    assert row.monthly_redemption_fen == 320  # 8 x 120 / 3
    settings = service.update_settings(admin, {"point_value": ""})
    assert settings["point_value_fen"] is None and settings["point_value_in_force_fen"] == 86
    assert settings["coverage_warn_pct"] == 150  # left as it was
    assert db.session.execute(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "funds.settings")).scalar_one() == 2


def test_derived_point_value_is_the_median_rounded_half_up(alpha):
    admin, shop = who("admin"), alpha["shop"]
    # a third item: washing powder 1500 fen / 15 points = 100 → median of 81.25, 90, 100 is 90
    store.move_stock(admin, shop.store, shop.powder, "restock", 1, "donation", 1500)
    assert coverage.derived_point_value() == 90
    # a withdrawn item does not count: back to (81.25 + 90) / 2
    store.update_catalog_item(admin, shop.powder, {"active": False})
    assert coverage.derived_point_value() == 86
    assert coverage.round_half_up(coverage.Fraction(171, 2)) == 86  # 85.5 → 86
    assert coverage.round_half_up(coverage.Fraction(341, 4)) == 85  # 85.25 → 85


def test_restocks_and_funding_count_up_to_the_night_only(alpha, world):
    """A night before the money arrived and before today's restocks sees neither."""
    earlier = clock.today() - timedelta(days=20)
    with clock.at(clock.local_moment(earlier, time(3))):
        coverage.take_snapshot(earlier)
    row = rows_of(earlier)[world.a.villages[0]]
    assert (row.received_fen, row.spent_fen, row.redeemed_points) == (30000, 0, 0)  # the budget of day -40 only


def test_months_back():
    assert coverage.months_back(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert coverage.months_back(date(2026, 2, 15), 3) == date(2025, 11, 15)
    assert coverage.months_back(date(2026, 12, 6), 12) == date(2025, 12, 6)


# --- the warning ---------------------------------------------------------------------------------

def _digests(day: date) -> list:
    return list(db.session.execute(select(StaffDigest).where(StaffDigest.local_date == day)).scalars())


def _texts() -> int:
    return db.session.execute(select(func.count()).select_from(NotificationDelivery)
                              .where(NotificationDelivery.digest_id.is_not(None))).scalar_one()


def test_the_warning_is_told_once_per_crossing(alpha, world):
    admin = who("admin")
    admin.account.phone = "13900000001"
    # a point is worth 5 yuan: 官田村 owes 112 x 500 = 56000 fen against 38000 → 68 %, below 100 %
    service.update_settings(admin, {"point_value": "5.00", "coverage_warn_pct": "100"})
    db.session.commit()
    d0 = clock.today()
    days = [d0 + timedelta(days=n) for n in range(4)]

    run(world, days[0])
    rows = rows_of(days[0])
    assert [v for v, r in rows.items() if r.below] == [world.a.villages[0]]  # exactly one scope below
    assert rows[world.a.villages[0]].crossed
    [digest] = _digests(days[0])
    assert {"source": "funds.coverage_low", "count": 1} in digest.items
    assert _texts() == 1

    run(world, days[1])  # still below: nobody is told again
    assert rows_of(days[1])[world.a.villages[0]].below and not rows_of(days[1])[world.a.villages[0]].crossed
    assert _digests(days[1]) == [] and _texts() == 1

    top_up = service.add_record(admin, {"kind": "budget", "amount": "200.00", "received_on": d0.isoformat(),
                                        "store_id": str(alpha["shop"].store)})
    db.session.commit()
    run(world, days[2])  # 58000 against 56000: recovered
    assert not rows_of(days[2])[world.a.villages[0]].below
    assert _digests(days[2]) == [] and _texts() == 1

    service.reverse_record(admin, top_up.id, {"reason": "款项退回"})
    db.session.commit()
    run(world, days[3])  # fell again: told again
    assert rows_of(days[3])[world.a.villages[0]].crossed
    [digest] = _digests(days[3])
    assert {"source": "funds.coverage_low", "count": 1} in digest.items
    assert _texts() == 2
    run(world, days[3], force=True)  # the same night again: the same rows, no second telling
    assert rows_of(days[3])[world.a.villages[0]].crossed and len(rows_of(days[3])) == 3
    assert _texts() == 2


# --- records -------------------------------------------------------------------------------------

def test_a_record_is_reversed_once_and_a_reversal_is_not_reversed(alpha):
    admin = who("admin")
    reversal = db.session.execute(select(FundRecord).where(FundRecord.reverses_id == alpha["wrong"])).scalar_one()
    assert reversal.amount_fen == -99900 and reversal.reason == "重复登记"
    with pytest.raises(InputConflict) as e:
        service.reverse_record(admin, alpha["wrong"], {"reason": "again"})
    assert "fund_record_id" in e.value.errors
    with pytest.raises(InputConflict):
        service.reverse_record(admin, reversal.id, {"reason": "undo the undo"})
    with pytest.raises(Invalid) as e:
        service.reverse_record(admin, alpha["wrong"], {"reason": " "})
    assert "reason" in e.value.errors
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.action.like("funds.%"))).scalars().all()
    assert sorted(actions) == ["funds.record"] * 4 + ["funds.reverse"]


@pytest.mark.parametrize("data, field", [
    ({"amount": "-5"}, "amount"), ({"amount": "0"}, "amount"), ({"amount": "1.234"}, "amount"),
    ({"kind": "gift"}, "kind"), ({"received_on": "2026-13-01"}, "received_on"), ({"received_on": ""}, "received_on"),
    ({"store_id": "nope"}, "store_id"),
])
def test_bad_input_is_named(alpha, data, field):
    good = {"kind": "budget", "amount": "10.00", "received_on": clock.today().isoformat()}
    with pytest.raises(Invalid) as e:
        service.add_record(who("admin"), good | data)
    assert field in e.value.errors


def test_money_not_yet_received_is_refused(alpha):
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    with pytest.raises(InputConflict) as e:
        service.add_record(who("admin"), {"kind": "budget", "amount": "10", "received_on": tomorrow})
    assert "received_on" in e.value.errors


# --- who sees what -------------------------------------------------------------------------------

def test_scope_decides_which_rows_and_records_are_seen(alpha, world):
    run(world, clock.today())
    v0, v1 = world.a.villages[:2]
    assert [r.village_id for r in service.coverage_now(who("admin"))] == [None, v0, v1]
    assert [r.village_id for r in service.coverage_now(who("vadmin"))] == [v0]
    assert {r.village_id for r in service.coverage_now(who("cadre"))} == {v0, v1}
    assert {r.store_id for r in service.list_records(who("vadmin"))} == {alpha["shop"].store}
    with pytest.raises(NotFound):  # the township's row needs a township-wide role
        service.coverage_history(who("vadmin"))
    with pytest.raises(NotFound):
        service.coverage_history(who("vadmin"), v1)
    assert len(service.coverage_history(who("vadmin"), v0)) == 1
    for name in ("villager", "gridder", "keeper", "panel"):
        with pytest.raises(Forbidden):
            service.coverage_now(who(name))
        assert service.coverage_summary(who(name)) == {"visible": False}
    with pytest.raises(Forbidden):
        service.add_record(who("vadmin"), {"kind": "budget", "amount": "1", "received_on": "2026-01-01"})


# --- pages and API -------------------------------------------------------------------------------

def test_api_answers_the_figures_and_names_bad_fields(client, world, fw):
    with client.application.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        run(world, clock.today())
    headers = bearer(api_token(client, "alpha", "admin"))
    body = client.get("/api/v1/t/alpha/funds/coverage", headers=headers).get_json()
    township = body[0]
    assert township["village_id"] is None and township["liability_fen"] == 9632
    assert township["funds_left_fen"] == 90000 - 16800 and township["stock_cost_fen"] == 29300
    assert township["coverage_pct"] == pytest.approx(100 * 102500 / 9632)
    resp = client.post("/api/v1/t/alpha/funds/records", headers=headers,
                       json={"kind": "gift", "amount": "-5", "received_on": "2026-13-01"})
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]["json"]) == {"kind", "amount", "received_on"}
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    resp = client.post("/api/v1/t/alpha/funds/records", headers=headers,
                       json={"kind": "budget", "amount": "5", "received_on": tomorrow})
    assert resp.status_code == 409 and "received_on" in resp.get_json()["errors"]["json"]
    resp = client.post("/api/v1/t/alpha/funds/records", headers=headers,
                       json={"kind": "donation", "amount": "12.34", "received_on": clock.today().isoformat()})
    assert resp.status_code == 201 and resp.get_json()["amount_fen"] == 1234
    resp = client.patch("/api/v1/t/alpha/funds/settings", headers=headers, json={"coverage_warn_pct": 0})
    assert resp.status_code == 422 and "coverage_warn_pct" in resp.get_json()["errors"]["json"]
    villager = bearer(api_token(client, "alpha", "villager"))
    assert client.get("/api/v1/t/alpha/funds/coverage", headers=villager).status_code == 403
    assert client.get("/api/v1/t/alpha/funds/records", headers=villager).status_code == 403


def test_another_townships_record_and_village_are_not_found(client, world, fw):
    from tests.test_cross_tenant import _beta_objects

    beta = _beta_objects(client.application, world)
    headers = bearer(api_token(client, "alpha", "admin"))
    assert client.get(f"/api/v1/t/alpha/funds/records/{beta['fund_record_id']}", headers=headers).status_code == 404
    resp = client.post(f"/api/v1/t/alpha/funds/records/{beta['fund_record_id']}/reverse", headers=headers,
                       json={"reason": "x"})
    assert resp.status_code == 404
    resp = client.get(f"/api/v1/t/alpha/funds/coverage/history?village_id={world.b.villages[0]}", headers=headers)
    assert resp.status_code == 404


def test_the_page_shows_the_scope_below_in_red_and_takes_a_record(client, world, fw):
    with client.application.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        service.update_settings(who("admin"), {"point_value": "5.00"})
        db.session.commit()
        run(world, clock.today())
    page_login(client, "alpha", "admin")
    html = client.get("/t/alpha/funds/").get_data(as_text=True)
    assert f'data-scope="{world.a.villages[0]}" data-below="yes"' in html
    assert 'data-scope="township" data-below="no"' in html
    assert "¥560.00" in html  # 官田村's liability, 112 points x ¥5.00
    assert "-¥999.00" in html and "重复登记" in html  # the reversal, with its reason
    token = csrf_token(client, "/t/alpha/funds/")
    resp = client.post("/t/alpha/funds/records", data={"csrf_token": token, "kind": "budget", "amount": "-3",
                                                       "received_on": "2026-02-30"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="e-amount"' in html and 'id="e-received_on"' in html
    resp = client.post("/t/alpha/funds/records", data={"csrf_token": token, "kind": "donation", "amount": "88.80",
                                                       "received_on": clock.today().isoformat(), "note": "乡贤捐赠"})
    assert resp.status_code == 303
    assert "乡贤捐赠" in client.get("/t/alpha/funds/").get_data(as_text=True)


def test_villager_cannot_see_funds_and_village_admin_reads_only(client, world, fw):
    page_login(client, "alpha", "villager")
    assert client.get("/t/alpha/funds/").status_code == 403
    other = client.application.test_client()
    page_login(other, "alpha", "vadmin")
    html = other.get("/t/alpha/funds/").get_data(as_text=True)
    assert other.get("/t/alpha/funds/").status_code == 200 and 'id="record-form"' not in html
    token = csrf_token(other, "/t/alpha/funds/")
    assert other.post("/t/alpha/funds/settings", data={"csrf_token": token, "coverage_warn_pct": "50"}).status_code == 403


def test_dashboard_panel_renders_the_summary(app, world, fw):
    from flask import g, render_template

    with app.test_request_context("/t/alpha/"), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        g.tenant_slug = "alpha"
        service.update_settings(who("admin"), {"point_value": "5.00"})
        run(world, clock.today())
        summary = service.coverage_summary(who("admin"))
        assert summary["visible"] and not summary["warning"] and summary["below"] == ["官田村"]
        assert summary["coverage_pct"] == pytest.approx(100 * 102500 / 56000)
        html = render_template("funds/_panel.html", funds_summary=summary)
        assert 'data-warning="yes"' in html and "/t/alpha/funds/" in html and "官田村" in html
        vadmin = service.coverage_summary(who("vadmin"))
        assert vadmin["warning"] and vadmin["scope"] == "官田村"


def test_a_dashboard_that_just_includes_the_panel_shows_the_signed_in_actors_summary(app, world, fw):
    from flask import g, render_template_string

    with app.test_request_context("/t/alpha/"), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        g.tenant_slug = "alpha"
        service.update_settings(who("admin"), {"point_value": "5.00"})
        run(world, clock.today())
        for username, shown in (("admin", True), ("vadmin", True), ("villager", False), ("gridder", False)):
            g.actor = who(username)  # as the request's sign-in sets it
            html = render_template_string('{% include "funds/_panel.html" %}')
            assert ('id="fund-panel"' in html) == shown, username
            if shown:
                assert 'data-warning="yes"' in html and "官田村" in html
