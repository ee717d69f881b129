"""Period close: available points of a past year carry over into the next year or expire, per the
township's policy, by ledger entries only; earned points of the year stay; nothing posts twice; a
close that stopped halfway finishes the same; the daily job closes once; pages, API, settings, CLI."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.service import verify_chain
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict
from jifen.platform.jobs.models import JobRun
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get
from jifen.tenants.households.models import Household
from jifen.tenants.notifications.models import Notification
from jifen.tenants.points import ledger, period_close
from jifen.tenants.points.applications import settings, update_settings
from jifen.tenants.points.models import (
    EXPIRED,
    HOUSEHOLD,
    PERIOD_CLOSE,
    REDEMPTION,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
    PeriodClose,
)
from jifen.workers.period_jobs import CLOSE, period_close_job
from tests.conftest import PG_URL, api_token, bearer, page_login
from tests.test_notices_pages import form_token, in_alpha

Y, NEXT = 2025, 2026  # a past year (the tests close it) and the one after
THIS_YEAR = date.today().year  # the tenant's current year (Asia/Shanghai: at worst a day apart)


# --- helpers -------------------------------------------------------------------------------------

def admin(world):
    return actor_for(tenant_get(User, world.a.user_id()))


def give(household, earned: int, spent: int = 0, day: date = date(Y, 6, 1)) -> None:
    """Earn `earned` points and spend `spent` of them with the real ledger, committed."""
    ledger.earn(household_id=household, points=earned, occurred_on=day, source_kind="application",
                source_id=new_id(), memo="测试项：打扫卫生")
    if spent:
        ledger.spend(household_id=household, points=spent, period=day.year, source_kind=REDEMPTION,
                     source_id=new_id(), on=day, memo="积分超市")
    db.session.commit()


def third_household(world, pw):
    h = Household(village_id=pw.village, grid_node_id=world.a.grid[-1], door_plate="3号", head_name="王五",
                  head_pinyin="wangwu", head_initials="ww")
    db.session.add(h)
    db.session.commit()
    return h.id


def bal(household, period) -> tuple[int, int] | None:
    b = ledger.balance(household, period)
    return (b.earned, b.available) if b else None


def close_txs(household=None) -> list[LedgerTransaction]:
    q = select(LedgerTransaction).where(LedgerTransaction.source_kind == PERIOD_CLOSE)
    if household is not None:
        q = q.where(LedgerTransaction.household_id == household)
    return list(db.session.execute(q.order_by(LedgerTransaction.created_at)).scalars())


def legs(tx) -> list[tuple]:
    return sorted((p.account, p.household_id == tx.household_id if p.household_id else None, p.period, p.available,
                   p.earned) for p in db.session.execute(
        select(LedgerPosting).where(LedgerPosting.transaction_id == tx.id)).scalars())


def ledger_clean() -> None:
    report = ledger.recompute()
    assert report["differences"] == [] and report["unbalanced"] == [], report


def set_policy(world, policy: str, limit="") -> None:
    update_settings(admin(world), {"quorum": 2, "notice_days": 5, "period_end": policy, "carry_over_limit": limit})


def state() -> dict:
    """Everything a close writes, in a comparable form."""
    balances = {(b.household_id, b.period): (b.earned, b.available)
                for b in db.session.execute(select(HouseholdBalance)).scalars()}
    entries = sorted((tx.household_id, tx.period, tx.source_id, tx.points, tuple(legs(tx))) for tx in close_txs())
    return {"balances": balances, "entries": entries}


SYSTEM = Actor.system("test")


def error_fields(resp) -> set:
    """The fields an API error names (body validation and service errors alike)."""
    errors = resp.get_json()["errors"]
    return set(errors.get("json", errors))


# --- the ledger entries --------------------------------------------------------------------------

def test_carry_over_moves_available_points_into_the_next_year_by_entries(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 30, spent=10)  # earned 30, available 20
        give(pw.household2, 5, spent=5)  # earned 5, nothing available
        assert settings().period_end == "carry_over"  # the default
        run = period_close.run_close(SYSTEM, Y)
        assert (run.households, run.carried, run.expired) == (1, 20, 0)
        # the year keeps what it earned; its available points moved into the next year
        assert bal(pw.household, Y) == (30, 0) and bal(pw.household, NEXT) == (0, 20)
        assert bal(pw.household2, Y) == (5, 0) and bal(pw.household2, NEXT) is None
        [tx] = close_txs()
        assert tx.household_id == pw.household and tx.period == Y and tx.points == 0
        assert tx.source_id == period_close.source_id(pw.household, Y) and tx.occurred_on == date(Y, 12, 31)
        assert legs(tx) == [(HOUSEHOLD, True, Y, -20, 0), (HOUSEHOLD, True, NEXT, 20, 0)]
        assert close_txs(pw.household2) == []  # nothing available: no entry
        pc = period_close.get_close(Y)
        assert (pc.status, pc.policy, pc.households, pc.carried, pc.expired) == ("done", "carry_over", 1, 20, 0)
        ledger_clean()
        notes = db.session.execute(select(Notification).where(Notification.kind.like("points_%"))).scalars().all()
        assert [(n.household_id, n.kind, n.params["points"]) for n in notes] == [
            (pw.household, "points_carried_over", 20)]
        assert notes[0].link == f"ledger/households/{pw.household}/passbook?period={NEXT}"
        assert verify_chain().ok


def test_expire_policy_moves_available_points_to_the_expired_account(app, world, pw):
    with in_alpha(app, world):
        set_policy(world, "expire")
        give(pw.household, 30, spent=10)
        give(pw.household2, 4)
        run = period_close.run_close(SYSTEM, Y)
        assert (run.households, run.carried, run.expired) == (2, 0, 24)
        assert bal(pw.household, Y) == (30, 0) and bal(pw.household2, Y) == (4, 0)
        assert bal(pw.household, NEXT) is None  # nothing reaches the next year
        tx = close_txs(pw.household)[0]
        assert legs(tx) == [(EXPIRED, None, Y, 20, 0), (HOUSEHOLD, True, Y, -20, 0)]
        expired = db.session.execute(select(func.sum(LedgerPosting.available)).where(
            LedgerPosting.account == EXPIRED)).scalar_one()
        assert expired == 24
        assert {n.kind for n in db.session.execute(select(Notification)).scalars()} == {"points_expired"}
        ledger_clean()


def test_carry_over_limit_carries_up_to_the_limit_and_expires_the_rest(app, world, pw):
    with in_alpha(app, world):
        set_policy(world, "carry_over", 15)
        give(pw.household, 20)
        give(pw.household2, 9)
        run = period_close.run_close(SYSTEM, Y)
        assert (run.carried, run.expired) == (15 + 9, 5)
        assert bal(pw.household, NEXT) == (0, 15) and bal(pw.household2, NEXT) == (0, 9)
        tx = close_txs(pw.household)[0]
        assert legs(tx) == [(EXPIRED, None, Y, 5, 0), (HOUSEHOLD, True, Y, -20, 0), (HOUSEHOLD, True, NEXT, 15, 0)]
        note = db.session.execute(select(Notification).where(Notification.household_id == pw.household)).scalar_one()
        assert (note.kind, note.params["points"], note.params["expired"]) == ("points_carried_over", 15, 5)
        ledger_clean()


def test_a_rerun_posts_nothing_twice_and_earned_points_of_the_year_stay(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 12)
        give(pw.household, 8, day=date(NEXT, 2, 1))  # the next year has points of its own
        period_close.run_close(SYSTEM, Y)
        before = state()
        again = period_close.run_close(SYSTEM, Y)
        assert (again.households, again.carried, again.chunks) == (0, 0, 0)
        assert period_close.nightly(SYSTEM, today=date(NEXT, 1, 5))["households"] == 0
        assert state() == before
        assert bal(pw.household, Y) == (12, 0) and bal(pw.household, NEXT) == (8, 20)
        assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 1
        ledger_clean()


def test_a_close_that_stops_after_its_first_chunk_finishes_the_same_when_run_again(app, world, pw):
    class Crash(Exception):
        pass

    def crash(n):
        raise Crash(n)

    with in_alpha(app, world):
        third = third_household(world, pw)
        for h, pts in ((pw.household, 11), (pw.household2, 7), (third, 3)):
            give(h, pts)
        expected = {h: pts for h, pts in ((pw.household, 11), (pw.household2, 7), (third, 3))}
        with pytest.raises(Crash):
            period_close.run_close(SYSTEM, Y, chunk=1, after_chunk=crash)
        pc = period_close.get_close(Y)
        assert (pc.status, pc.households) == ("running", 1)  # one chunk committed, counted with it
        assert len(close_txs()) == 1
        ledger_clean()  # a stopped close leaves a consistent ledger
        run = period_close.run_close(SYSTEM, Y, chunk=1)  # resumed
        assert run.households == 2
        pc = period_close.get_close(Y)
        assert (pc.status, pc.households, pc.carried, pc.expired) == ("done", 3, 21, 0)
        for h, pts in expected.items():
            assert bal(h, Y) == (pts, 0) and bal(h, NEXT) == (0, pts)
            [tx] = close_txs(h)
            assert tx.source_id == period_close.source_id(h, Y)
            assert legs(tx) == [(HOUSEHOLD, True, Y, -pts, 0), (HOUSEHOLD, True, NEXT, pts, 0)]
        assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 3
        # the counters match the ledger
        carried = db.session.execute(select(func.sum(LedgerPosting.available)).where(
            LedgerPosting.account == HOUSEHOLD, LedgerPosting.period == NEXT)).scalar_one()
        assert carried == pc.carried
        ledger_clean()
        assert verify_chain().ok


def test_points_posted_into_a_closed_year_are_swept_by_the_next_daily_run(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 10)
        assert period_close.nightly(SYSTEM, today=date(NEXT, 1, 1))["periods"] == [Y]
        give(pw.household, 4, day=date(Y, 12, 20))  # a December application posted in January
        assert bal(pw.household, Y) == (14, 4)
        result = period_close.nightly(SYSTEM, today=date(NEXT, 1, 2))
        assert (result["periods"], result["households"], result["carried"]) == ([Y], 1, 4)
        assert bal(pw.household, Y) == (14, 0) and bal(pw.household, NEXT) == (0, 14)
        first, second = close_txs(pw.household)
        assert {first.source_id, second.source_id} == {period_close.source_id(pw.household, Y),
                                                       period_close.source_id(pw.household, Y, 1)}
        pc = period_close.get_close(Y)
        assert (pc.households, pc.carried) == (2, 14)  # two entries for one household
        assert period_close.nightly(SYSTEM, today=date(NEXT, 1, 3))["households"] == 0
        ledger_clean()


def test_an_old_year_carries_into_a_closed_year_and_on_into_the_current_one(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 6, day=date(Y - 1, 3, 1))
        give(pw.household, 9)
        result = period_close.nightly(SYSTEM, today=date(NEXT, 1, 1))
        assert result["periods"] == [Y - 1, Y]
        assert bal(pw.household, Y - 1) == (6, 0) and bal(pw.household, Y) == (9, 0)
        assert bal(pw.household, NEXT) == (0, 15)
        ledger_clean()


def test_reserved_points_of_an_open_order_stay_with_the_order(app, world, pw):
    """The close moves available points only; what a store order holds is not touched."""
    with in_alpha(app, world):
        give(pw.household, 10)
        b = ledger.lock_balance(pw.household, Y)  # a reservation, as the store's order does it
        tx = LedgerTransaction(id=new_id(), source_kind="order", source_id=new_id(), household_id=pw.household,
                               period=Y, points=0, occurred_on=date(Y, 12, 30), memo="订单")
        batch = ledger.Batch()
        batch.transactions.append(tx)
        batch.postings += [{"id": new_id(), "transaction_id": tx.id, "account": HOUSEHOLD,
                            "household_id": pw.household, "period": Y, "available": -4, "earned": 0},
                           {"id": new_id(), "transaction_id": tx.id, "account": "reserved", "household_id": None,
                            "period": Y, "available": 4, "earned": 0}]
        b.available -= 4
        batch.write()
        db.session.commit()
        period_close.run_close(SYSTEM, Y)
        assert bal(pw.household, NEXT) == (0, 6)
        reserved = db.session.execute(select(func.sum(LedgerPosting.available)).where(
            LedgerPosting.account == "reserved")).scalar_one()
        assert reserved == 4
        ledger_clean()


# --- the daily job -------------------------------------------------------------------------------

def test_the_daily_job_closes_on_january_first_once(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 10)
        tenant = str(world.a.tenant_id)
        assert period_close_job(tenant, f"{NEXT - 1}-12-31")["periods"] == []  # the year is not over
        assert period_close.get_close(Y) is None
        first = period_close_job(tenant, f"{NEXT}-01-01")
        assert (first["periods"], first["carried"]) == ([Y], 10)
        after = state()
        assert period_close_job(tenant, f"{NEXT}-01-01") == {"skipped": "already done", **first}
        assert period_close_job(tenant, f"{NEXT}-01-01", force=True)["households"] == 0  # run again: nothing
        second = period_close_job(tenant, f"{NEXT}-01-02")
        assert (second["periods"], second["households"]) == ([], 0)
        assert state() == after and len(close_txs()) == 1
        runs = db.session.execute(select(JobRun.local_date, JobRun.status).where(JobRun.job == CLOSE)
                                  .order_by(JobRun.local_date)).all()
        assert [s for _d, s in runs] == ["done"] * 3
        ledger_clean()


def test_a_township_whose_job_missed_january_first_closes_on_the_second(app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 10)
        result = period_close_job(str(world.a.tenant_id), f"{NEXT}-01-02")
        assert (result["periods"], result["carried"]) == ([Y], 10)
        assert period_close.get_close(Y).status == "done"
        assert bal(pw.household, NEXT) == (0, 10)


def test_the_job_on_an_empty_township_does_nothing(app, world):
    with in_alpha(app, world):
        assert period_close.nightly(SYSTEM, today=date(NEXT, 1, 1)) == {
            "periods": [], "households": 0, "carried": 0, "expired": 0}
        assert db.session.execute(select(func.count()).select_from(PeriodClose)).scalar_one() == 0


# --- hand close: service, pages, API -------------------------------------------------------------

def test_the_current_year_cannot_be_closed(app, world, pw):
    with in_alpha(app, world):
        with pytest.raises(Conflict) as err:
            period_close.request_close(admin(world), {"period": THIS_YEAR})
        assert "period" in err.value.errors
        with pytest.raises(Conflict):
            period_close.request_close(admin(world), {"period": str(THIS_YEAR + 1)})


def test_admin_closes_a_past_year_from_the_periods_page(client, app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 30, spent=10)
        give(pw.household2, 3)
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    html = client.get("/t/alpha/periods/").get_data(as_text=True)
    assert f'id="p-{Y}" data-status="unclosed"' in html and f'id="p-{THIS_YEAR}" data-status="open"' in html
    assert f"/t/alpha/periods/close?period={Y}" in html
    assert f"/rankings/?period={Y}" in html and f"/honours/?period={Y}" in html
    confirm = client.get(f"/t/alpha/periods/close?period={Y}").get_data(as_text=True)
    assert '<dd id="pv-households">2</dd>' in confirm and '<dd id="pv-available">23</dd>' in confirm
    assert '<dd id="pv-carried">23</dd>' in confirm and '<dd id="pv-expired">0</dd>' in confirm
    assert client.get(f"/t/alpha/periods/close?period={THIS_YEAR}").status_code == 409
    csrf = form_token(client, f"/t/alpha/periods/close?period={Y}")
    data = {"period": str(Y), "once": new_id().hex, "csrf_token": csrf}
    resp = client.post("/t/alpha/periods/close", data=data)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/periods/?closed={Y}#p-{Y}")
    again = client.post("/t/alpha/periods/close", data=data)  # the same form sent twice: one close
    assert again.status_code == 303
    html = client.get(f"/t/alpha/periods/?closed={Y}").get_data(as_text=True)
    assert f'id="p-{Y}" data-status="done"' in html and 'id="closed-note"' in html
    assert '<dd class="pc-carried">23</dd>' in html and '<dd class="pc-earned">33</dd>' in html
    assert re.search(r'class="pc-when muted">[^<]*龙窝镇管理员', html)  # when, and who closed it
    assert f"/t/alpha/periods/close?period={Y}" not in html  # closed: no button
    closed_again = client.post("/t/alpha/periods/close", data={"period": str(Y), "csrf_token": csrf})
    assert closed_again.status_code == 409
    current = client.post("/t/alpha/periods/close", data={"period": str(THIS_YEAR), "csrf_token": csrf})
    assert current.status_code == 409
    junk = client.post("/t/alpha/periods/close", data={"period": "二〇二五", "csrf_token": csrf})
    assert junk.status_code == 422 and 'class="error"' in junk.get_data(as_text=True)
    with in_alpha(app, world):
        assert len(close_txs()) == 2
        assert period_close.get_close(Y).started_by == world.a.user_id()
        ledger_clean()


def test_who_sees_the_periods_page_and_who_may_close(client, app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 5)
    assert page_login(client, "alpha", "vadmin").status_code == 302
    html = client.get("/t/alpha/periods/")
    assert html.status_code == 200 and f'id="p-{Y}"' in html.get_data(as_text=True)
    assert "pc-close" not in html.get_data(as_text=True)
    assert client.get(f"/t/alpha/periods/close?period={Y}").status_code == 403
    csrf = form_token(client, "/t/alpha/periods/")
    assert client.post("/t/alpha/periods/close", data={"period": str(Y), "csrf_token": csrf}).status_code == 403
    home = client.get("/t/alpha/").get_data(as_text=True)
    assert "/t/alpha/periods/" in home  # the console tile
    villager = app.test_client()
    assert page_login(villager, "alpha", "villager").status_code == 302
    assert villager.get("/t/alpha/periods/").status_code == 403
    assert "/t/alpha/periods/" not in villager.get("/t/alpha/").get_data(as_text=True)
    other = app.test_client()
    assert page_login(other, "beta", world.b.username()).status_code == 302
    assert other.get("/t/alpha/periods/").status_code == 404
    with in_alpha(app, world):
        assert close_txs() == []


def test_api_lists_previews_and_closes_a_past_year(client, app, world, pw):
    with in_alpha(app, world):
        set_policy(world, "carry_over", 4)
        give(pw.household, 10)
    base = "/api/v1/t/alpha/periods"
    token = bearer(api_token(client, "alpha", world.a.username()))
    periods = client.get(f"{base}/", headers=token).get_json()
    row = next(p for p in periods if p["period"] == Y)
    assert (row["status"], row["earned"], row["available"], row["close"]) == ("unclosed", 10, 10, None)
    assert row["rankings_url"].endswith(f"/rankings/?period={Y}")
    preview = client.get(f"{base}/preview?period={Y}", headers=token).get_json()
    assert (preview["carried"], preview["expired"], preview["carry_over_limit"]) == (4, 6, 4)
    current = client.post(f"{base}/close", json={"period": THIS_YEAR}, headers=token)
    assert current.status_code == 409 and "period" in error_fields(current)
    bad = client.post(f"{base}/close", json={"period": "soon"}, headers=token)
    assert bad.status_code == 422 and "period" in error_fields(bad)
    old = client.post(f"{base}/close", json={"period": 1999}, headers=token)
    assert old.status_code == 422 and "period" in error_fields(old)
    done = client.post(f"{base}/close", json={"period": Y}, headers=token | {"Idempotency-Key": "close-1"})
    assert done.status_code == 202, done.get_json()
    body = done.get_json()  # accepted: the request commits, then the job runs (inline here, after the answer)
    assert body["status"] == "running" and body["period"] == Y
    replay = client.post(f"{base}/close", json={"period": Y}, headers=token | {"Idempotency-Key": "close-1"})
    assert replay.status_code == 202 and replay.get_json() == body
    twice = client.post(f"{base}/close", json={"period": Y}, headers=token)
    assert twice.status_code == 409 and "period" in error_fields(twice)
    row = next(p for p in client.get(f"{base}/", headers=token).get_json() if p["period"] == Y)
    assert (row["status"], row["earned"], row["available"]) == ("done", 10, 0)
    assert (row["close"]["households"], row["close"]["carried"], row["close"]["expired"]) == (1, 4, 6)
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert client.get(f"{base}/", headers=vadmin).status_code == 200
    assert client.post(f"{base}/close", json={"period": Y - 1}, headers=vadmin).status_code == 403
    villager = bearer(api_token(client, "alpha", "villager"))
    assert client.get(f"{base}/", headers=villager).status_code == 403
    beta = bearer(api_token(client, "beta", world.b.username()))
    assert client.get(f"{base}/", headers=beta).status_code in (401, 404)


# --- the passbook reads well in both years --------------------------------------------------------

def test_the_passbook_shows_the_close_in_both_years(client, app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 30, spent=10)
        give(pw.household, 2, day=date(NEXT, 3, 1))
        period_close.run_close(SYSTEM, Y)
        [tx] = close_txs()
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    book = f"/t/alpha/ledger/households/{pw.household}/passbook"
    old = client.get(f"{book}?period={Y}").get_data(as_text=True)
    assert f'id="t-{tx.id}" data-points="0" data-available="-20"' in old
    assert '<strong id="earned">30</strong>' in old and '<strong id="available">0</strong>' in old
    assert f"/ledger/entries/{tx.id}/correct" not in old  # a close entry is not corrected
    new = client.get(f"{book}?period={NEXT}").get_data(as_text=True)
    assert f'id="t-{tx.id}" data-points="0" data-available="20"' in new and "lg-carried-in" in new
    assert '<strong id="earned">2</strong>' in new and '<strong id="available">22</strong>' in new
    assert new.index(f'id="t-{tx.id}"') < new.index('data-points="2"')  # the opening line of the year
    assert f'<option value="{NEXT}"' in new and f'<option value="{Y}"' in new
    assert client.get(f"/t/alpha/ledger/entries/{tx.id}/correct").status_code == 404
    token = bearer(api_token(client, "alpha", world.a.username()))
    fix = client.post(f"/api/v1/t/alpha/ledger/entries/{tx.id}/corrections", json={"points": 5, "reason": "x"},
                      headers=token)
    assert fix.status_code == 409 and "transaction" in error_fields(fix)
    api_book = client.get(f"/api/v1/t/alpha/ledger/households/{pw.household}/passbook?period={NEXT}",
                          headers=token).get_json()
    assert str(tx.id) in [e["id"] for e in api_book["entries"]] and api_book["available"] == 22


# --- settings ------------------------------------------------------------------------------------

def test_settings_page_and_api_validate_the_policy(client, app, world, pw):
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    url = "/t/alpha/ledger/settings"
    html = client.get(url).get_data(as_text=True)
    assert 'name="period_end" value="carry_over" checked' in html
    csrf = form_token(client, url)
    bad = client.post(url, data={"quorum": "2", "notice_days": "5", "period_end": "forfeit", "carry_over_limit": "0",
                                 "csrf_token": csrf})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="e-period_end"' in text and 'id="e-carry_over_limit"' in text
    ok = client.post(url, data={"quorum": "2", "notice_days": "5", "period_end": "expire", "carry_over_limit": "",
                                "csrf_token": csrf})
    assert ok.status_code == 302
    assert 'name="period_end" value="expire" checked' in client.get(url).get_data(as_text=True)
    token = bearer(api_token(client, "alpha", world.a.username()))
    api = "/api/v1/t/alpha/ledger/settings"
    assert client.get(api, headers=token).get_json() == {"quorum": 2, "notice_days": 5, "period_end": "expire",
                                                          "carry_over_limit": None}
    wrong = client.put(api, json={"quorum": 2, "notice_days": 5, "period_end": "sometimes"}, headers=token)
    assert wrong.status_code == 422 and "period_end" in error_fields(wrong)
    limit = client.put(api, json={"quorum": 2, "notice_days": 5, "carry_over_limit": -3}, headers=token)
    assert limit.status_code == 422 and "carry_over_limit" in error_fields(limit)
    typed = client.put(api, json={"quorum": 2, "notice_days": 5, "carry_over_limit": "many"}, headers=token)
    assert typed.status_code == 422
    kept = client.put(api, json={"quorum": 3, "notice_days": 5}, headers=token)  # left out: unchanged
    assert kept.status_code == 200 and kept.get_json()["period_end"] == "expire"
    carry = client.put(api, json={"quorum": 3, "notice_days": 5, "period_end": "carry_over", "carry_over_limit": 50},
                       headers=token)
    assert carry.get_json() == {"quorum": 3, "notice_days": 5, "period_end": "carry_over", "carry_over_limit": 50}
    with in_alpha(app, world):
        s = settings()
        assert (s.period_end, s.carry_over_limit) == ("carry_over", 50)


def test_cli_closes_a_past_year(runner, app, world, pw):
    with in_alpha(app, world):
        give(pw.household, 7)
    result = runner.invoke(args=["points", "close-period", "--tenant", "alpha", "--period", str(Y)])
    assert result.exit_code == 0, result.output
    assert f"alpha {Y}: done" in result.output and "carried 7" in result.output
    again = runner.invoke(args=["points", "close-period", "--tenant", "alpha", "--period", str(Y)])
    assert again.exit_code == 0 and "this run closed 0 households" in again.output
    current = runner.invoke(args=["points", "close-period", "--tenant", "alpha", "--period", str(THIS_YEAR)])
    assert current.exit_code != 0 and "period" in current.output
    with in_alpha(app, world):
        assert len(close_txs()) == 1
        ledger_clean()


# --- racing closes on PostgreSQL's row locks -----------------------------------------------------

@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_racing_closes_post_each_household_once(app, world, pw):
    from tests.race import race

    with in_alpha(app, world):
        third = third_household(world, pw)
        for h, pts in ((pw.household, 11), (pw.household2, 7), (third, 3)):
            give(h, pts)
    results = race(app, world.a.tenant_id, 4, lambda i: period_close.run_close(Actor.system(f"w{i}"), Y, chunk=1)
                    .households)
    assert sum(results) == 3
    with in_alpha(app, world):
        assert len(close_txs()) == 3
        pc = period_close.get_close(Y)
        assert (pc.status, pc.households, pc.carried) == ("done", 3, 21)
        assert bal(pw.household, NEXT) == (0, 11) and bal(third, NEXT) == (0, 3)
        ledger_clean()
        assert verify_chain().ok
