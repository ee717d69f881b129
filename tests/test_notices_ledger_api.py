"""The notices, ledger and inbox API: listing, publishing, objections (idempotent), decisions,
balances and the passbook, corrections (idempotent, admin only), balance checks, settings, inbox."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.tenants.points import ledger
from jifen.tenants.points.models import APPLICATION_SOURCE, LedgerTransaction, Notice, Objection
from tests.conftest import api_token, bearer
from tests.test_ledger_pages import posted
from tests.test_notices_pages import certified, in_alpha, on_notice

BASE = "/api/v1/t/alpha"


def test_publish_list_and_detail(client, app, world, pw):
    with in_alpha(app, world):
        certified(pw)
    admin = bearer(api_token(client, "alpha", world.a.username()))
    resp = client.post(f"{BASE}/notices/publish", json={"village_id": str(pw.village)}, headers=admin)
    assert resp.status_code == 201 and resp.get_json()["item_count"] == 1 and resp.get_json()["is_open"]
    again = client.post(f"{BASE}/notices/publish", json={"village_id": str(pw.village)}, headers=admin)
    assert again.status_code == 409 and "village_id" in again.get_json()["errors"]["json"]
    listed = client.get(f"{BASE}/notices/", headers=admin).get_json()
    assert [n["number"] for n in listed] == [1]
    detail = client.get(f"{BASE}/notices/{listed[0]['id']}", headers=admin).get_json()
    assert detail["items"][0]["head_name"] == "张三伟" and detail["items"][0]["state"] == "on_notice"
    assert detail["public_url"].endswith("/notices/public/" + detail["public_url"].rsplit("/", 1)[1])


def test_objection_is_idempotent_and_decided(client, app, world, pw):
    app_id, notice_id, _token, _closes = on_notice(app, world, pw)
    villager = bearer(api_token(client, "alpha", "villager2"))
    body = {"application_id": str(app_id), "reason": "没看到"}
    headers = villager | {"Idempotency-Key": "obj-1"}
    first = client.post(f"{BASE}/notices/objections", json=body, headers=headers)
    assert first.status_code == 201
    replay = client.post(f"{BASE}/notices/objections", json=body, headers=headers)
    assert replay.status_code == 201 and replay.get_json()["id"] == first.get_json()["id"]
    other = client.post(f"{BASE}/notices/objections", json=body | {"reason": "别的"}, headers=headers)
    assert other.status_code == 409
    with in_alpha(app, world):
        assert db.session.execute(select(func.count()).select_from(Objection)).scalar_one() == 1
    panel = bearer(api_token(client, "alpha", "panel3"))
    oid = first.get_json()["id"]
    missing = client.post(f"{BASE}/notices/objections/{oid}/decision", json={"decision": "maybe", "reason": "?"},
                          headers=panel)
    assert missing.status_code == 422 and "decision" in missing.get_json()["errors"]["json"]
    done = client.post(f"{BASE}/notices/objections/{oid}/decision", json={"decision": "uphold", "reason": "属实"},
                       headers=panel)
    assert done.status_code == 200 and done.get_json()["status"] == "upheld"
    for decision in ("uphold", "dismiss"):  # deciding it again is a repeat action, like every other: 409
        again = client.post(f"{BASE}/notices/objections/{oid}/decision", json={"decision": decision, "reason": "再议"},
                            headers=panel)
        assert again.status_code == 409, again.get_json()
        assert "decision" in again.get_json()["errors"]["json"]
    detail = client.get(f"{BASE}/notices/{notice_id}", headers=panel).get_json()
    assert detail["items"][0]["state"] == "rejected"


def test_objection_refused_after_close_and_from_another_village(client, app, world, pw):
    app_id, _nid, _token, _closes = on_notice(app, world, pw)
    with in_alpha(app, world):
        notice = db.session.execute(select(Notice)).scalar_one()
        notice.opens_on = notice.closes_on = clock.today() - timedelta(days=2)
        db.session.commit()
    villager = bearer(api_token(client, "alpha", "villager2"))
    late = client.post(f"{BASE}/notices/objections", json={"application_id": str(app_id), "reason": "晚了"},
                       headers=villager)
    assert late.status_code == 409 and "notice" in late.get_json()["errors"]["json"]
    staff = bearer(api_token(client, "alpha", world.a.username("grid_worker")))  # not a villager at all
    assert client.post(f"{BASE}/notices/objections", json={"application_id": str(app_id), "reason": "x"},
                       headers=staff).status_code in (403, 404)


def test_balances_passbook_and_correction(client, app, world, pw):
    tx_id = posted(app, world, pw)
    villager = bearer(api_token(client, "alpha", "villager"))
    year = clock.today().year
    bal = client.get(f"{BASE}/ledger/households/{pw.household}/balances?period={year}", headers=villager)
    assert bal.get_json() == {"household_id": str(pw.household), "period": year, "earned": 5, "available": 5}
    assert client.get(f"{BASE}/ledger/households/{pw.household2}/balances", headers=villager).status_code == 404
    refused = client.post(f"{BASE}/ledger/entries/{tx_id}/corrections", json={"points": 0, "reason": "x"},
                          headers=villager)
    assert refused.status_code == 403
    admin = bearer(api_token(client, "alpha", world.a.username()))
    body, key = {"points": 1, "reason": "只算一次"}, {"Idempotency-Key": "fix-1"}
    first = client.post(f"{BASE}/ledger/entries/{tx_id}/corrections", json=body, headers=admin | key)
    assert first.status_code == 201 and first.get_json()["points"] == -4
    assert first.get_json()["reverses_id"] == str(tx_id)
    replay = client.post(f"{BASE}/ledger/entries/{tx_id}/corrections", json=body, headers=admin | key)
    assert replay.get_json()["id"] == first.get_json()["id"]
    with in_alpha(app, world):
        assert db.session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one() == 2
    book = client.get(f"{BASE}/ledger/households/{pw.household}/passbook", headers=villager).get_json()
    assert [e["points"] for e in book["entries"]] == [5, -4] and book["earned"] == 1
    check = client.post(f"{BASE}/ledger/check-balances", json={}, headers=admin)
    assert check.status_code == 200 and check.get_json()["differences"] == []
    assert client.post(f"{BASE}/ledger/check-balances", json={}, headers=villager).status_code == 403


def test_a_correction_gives_back_exactly_what_the_entry_took(client, app, world, pw):
    """Issue 11: 2 earned points, a -5 deduction takes only those 2 (available stays at 0); correcting
    it to 0 gives back the 2 it took, not 5 (the household must not spend 3 points it never had)."""
    with in_alpha(app, world):
        day = clock.today()
        for points in (2, -5):
            tx = ledger.earn(household_id=pw.household, points=points, occurred_on=day,
                             source_kind=APPLICATION_SOURCE, source_id=new_id()).transaction
        deduction = tx.id
        db.session.commit()
    admin = bearer(api_token(client, "alpha", world.a.username()))
    url = f"{BASE}/ledger/households/{pw.household}/balances"

    def balances():
        got = client.get(url, headers=admin).get_json()
        return got["earned"], got["available"]

    def correct(points):
        return client.post(f"{BASE}/ledger/entries/{deduction}/corrections",
                           json={"points": points, "reason": "扣错了"}, headers=admin)

    assert balances() == (-3, 0)
    assert correct(0).status_code == 201
    assert balances() == (2, 2)
    assert correct(3).status_code == 201  # above what it took: new points, in full
    assert balances() == (5, 5)
    assert correct(-5).status_code == 201  # back to the deduction: takes what there is
    assert balances() == (-3, 0)
    same = correct(-5)  # to its own amount: refused, nothing moves
    assert same.status_code == 409 and "points" in same.get_json()["errors"]["json"]
    assert balances() == (-3, 0)
    check = client.post(f"{BASE}/ledger/check-balances", json={}, headers=admin)
    assert check.status_code == 200 and check.get_json()["differences"] == []


def test_settings_api(client, app, world, pw):
    admin = bearer(api_token(client, "alpha", world.a.username()))
    assert client.get(f"{BASE}/ledger/settings", headers=admin).get_json() == {
        "quorum": 2, "notice_days": 5, "period_end": "carry_over", "carry_over_limit": None}
    bad = client.put(f"{BASE}/ledger/settings", json={"quorum": 2, "notice_days": 40}, headers=admin)
    assert bad.status_code == 422 and list(bad.get_json()["errors"]["json"]) == ["notice_days"]
    ok = client.put(f"{BASE}/ledger/settings", json={"quorum": 3, "notice_days": 7}, headers=admin)
    assert ok.get_json() == {"quorum": 3, "notice_days": 7, "period_end": "carry_over", "carry_over_limit": None}
    villager = bearer(api_token(client, "alpha", "villager"))
    assert client.put(f"{BASE}/ledger/settings", json={"quorum": 1, "notice_days": 1},
                      headers=villager).status_code == 403


def test_inbox_api(client, app, world, pw):
    posted(app, world, pw)
    mine = bearer(api_token(client, "alpha", "villager"))
    theirs = bearer(api_token(client, "alpha", "villager2"))
    inbox = client.get(f"{BASE}/inbox/", headers=mine).get_json()
    assert inbox["unread"] == len(inbox["items"]) >= 3
    assert {n["household_id"] for n in inbox["items"]} == {str(pw.household)}
    assert inbox["items"][0]["kind"] == "posted" and "测试项S1" in inbox["items"][0]["text"]
    assert client.get(f"{BASE}/inbox/", headers=theirs).get_json()["items"] == []
    assert client.post(f"{BASE}/inbox/read", headers=mine).get_json()["marked"] == inbox["unread"]
    assert client.get(f"{BASE}/inbox/", headers=mine).get_json()["unread"] == 0
