"""The villager's own home (issue 14): balance, next steps and this village's rules with "apply for
this", no staff tiles; staff keep their tiles. No rule codes in villager views; store orders are not
"+0" rows of the civility file."""
from __future__ import annotations

import re

import pytest

from jifen.platform.db import db
from jifen.tenants.notifications.service import notify
from tests.conftest import page_login
from tests.test_ledger_pages import posted
from tests.test_notices_pages import in_alpha
from tests.test_store_orders_pages import PAGES, review_and_confirm, setup_shop, signed_in


def _villager(app):
    client = app.test_client()
    assert page_login(client, "alpha", "villager").status_code == 302
    return client


def test_villager_home_is_their_household_with_next_steps_and_rules(app, world, pw):
    posted(app, world, pw)  # +5 earned for 张三伟
    with in_alpha(app, world):
        notify(pw.household, "corrected", "home-1", item="打扫卫生", points=3, reason="核对")
        db.session.commit()
    home = _villager(app).get("/t/alpha/")
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    assert '<div class="lg-balance" id="earned"><span class="lg-num">5</span>' in html
    assert 'id="next-steps"' in html and 'href="/t/alpha/orders/shop"' in html and 'href="/t/alpha/inbox/"' in html
    assert f'href="/t/alpha/orders/my-card?household_id={pw.household}"' in html  # the code for the store counter
    assert f'href="/t/alpha/ledger/households/{pw.household}/passbook"' in html
    assert re.search(r'<span class="badge" id="unread">\d+ 条新消息</span>', html)  # new messages are said
    # this village's rules a household applies for, each with its own apply link; staff items are not there
    rules = html[html.index('id="rules"'):]
    for code in ("A1", "A2", "V1"):
        assert f"测试项{code}" in rules
        assert f"/t/alpha/points/apply?household_id={pw.household}&amp;item_id={pw.items[code]}" in rules
    assert "测试项S1" not in rules and "测试项D1" not in rules
    # no staff tiles, and no link that answers with a redirect
    assert 'class="tiles"' not in html and "/t/alpha/villages/" not in html and "/t/alpha/households/" not in html
    for redirecting in ('"/t/alpha/ledger/me"', '"/t/alpha/rankings/"', '"/t/alpha/honours/"'):
        assert redirecting not in html


def test_the_home_is_kept_until_the_township_commits_then_shows_what_changed(app, world, pw):
    """Opened again, the home is served without reading the balance; a new message (a commit in the
    township) shows at once. (That a kept page is never another view's: tests/test_page_cache.py.)"""
    from sqlalchemy import event

    client = _villager(app)
    first = client.get("/t/alpha/").get_data(as_text=True)
    assert 'id="unread"' not in first
    seen = []

    def note(*args):
        seen.append(args[2])
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get("/t/alpha/").get_data(as_text=True) == first
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert not [s for s in seen if "household_balances" in s or "ranking_entries" in s]
    with in_alpha(app, world):
        notify(pw.household, "corrected", "home-kept", item="打扫卫生", points=3, reason="核对")
        db.session.commit()
    assert 'id="unread">1 条新消息<' in client.get("/t/alpha/").get_data(as_text=True)


def test_apply_for_this_opens_the_form_with_the_item_chosen(app, world, pw):
    page = _villager(app).get(f"/t/alpha/points/apply?household_id={pw.household}&item_id={pw.items['A2']}")
    assert page.status_code == 200
    assert re.search(rf'<option value="{pw.items["A2"]}" selected>', page.get_data(as_text=True))


def test_staff_keep_their_tiles(app, world, pw):
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    html = staff.get("/t/alpha/").get_data(as_text=True)
    assert 'class="tiles"' in html and 'id="next-steps"' not in html


def test_villager_application_page_shows_no_rule_code(app, world, pw):
    client = _villager(app)
    apply = client.get("/t/alpha/points/apply").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', apply).group(1)
    once = re.search(r'name="once" value="([^"]+)"', apply).group(1)
    sent = client.post("/t/alpha/points/apply", data={
        "csrf_token": token, "once": once, "household_id": str(pw.household), "item_id": str(pw.items["A2"]),
        "occurred_on": "2026-12-01", "description": "打扫公共区域"})
    assert sent.status_code == 303, sent.get_data(as_text=True)[:1500]
    detail = client.get(sent.location).get_data(as_text=True)
    assert "测试项A2" in detail and '<span class="muted">A2</span>' not in detail
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    assert '<span class="muted">A2</span>' in staff.get(sent.location).get_data(as_text=True)


@pytest.fixture
def shop(app, world):
    with app.app_context():
        return setup_shop(world)


def test_store_orders_are_not_plus_zero_rows_of_the_civility_file(app, world, shop):
    villager = signed_in(app, "villager")
    _html, confirm = review_and_confirm(villager, f"{PAGES}/shop", {
        "household_id": str(shop.household), "store_id": str(shop.store),
        f"qty-{shop.toothpaste}": "1", f"qty-{shop.towel}": "", f"qty-{shop.powder}": ""})
    assert villager.post(f"{PAGES}/shop", data=confirm).status_code == 303
    passbook = villager.get(f"/t/alpha/ledger/households/{shop.household}/passbook").get_data(as_text=True)
    assert "lg-order" in passbook  # the passbook says what the order did to available points
    file = villager.get(f"/t/alpha/ledger/households/{shop.household}/file").get_data(as_text=True)
    assert '<td class="lg-pts">+0</td>' not in file


def test_villager_reads_the_rules_in_force_without_drafts_or_other_villages(app, world, pw):
    html = _villager(app).get("/t/alpha/rulebook/").get_data(as_text=True)
    assert "积分管理实施细则" in html  # the version in force
    assert "草稿" not in html and "/rulebook/villages/" not in html
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    staff_html = staff.get("/t/alpha/rulebook/").get_data(as_text=True)
    assert "草稿" in staff_html and "/rulebook/villages/" in staff_html


def test_villager_village_list_has_names_not_codes(app, world, pw):
    html = _villager(app).get("/t/alpha/villages/").get_data(as_text=True)
    assert "官田村" in html and "alpha-0" not in html
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    assert "alpha-0" in staff.get("/t/alpha/villages/").get_data(as_text=True)


def test_a_village_draft_is_hidden_from_the_villager_by_page_api_and_list(app, world, pw):
    """A village's draft adoption is work in progress: the villager (and a grid worker) meet a 404 and
    lists without it; the township admin who manages it reads it."""
    from sqlalchemy import select

    from jifen.tenants.rulebook import adoption
    from jifen.tenants.villages.models import Village
    from tests.conftest import api_token, bearer
    from tests.test_rulebook import actor_of
    with in_alpha(app, world):  # the next village of the township starts its adoption
        other = db.session.execute(select(Village.id).where(Village.id != pw.village)).scalars().first()
        draft = adoption.start_village_rulebook(actor_of(world, "township_admin"), other)
        db.session.commit()
        draft_id = draft.id
    villager = _villager(app)
    assert villager.get(f"/t/alpha/rulebook/village-rulebooks/{draft_id}").status_code == 404
    assert "草稿" not in villager.get(f"/t/alpha/rulebook/villages/{other}").get_data(as_text=True)
    api = app.test_client()
    headers = bearer(api_token(api, "alpha", "villager"))
    assert api.get(f"/api/v1/t/alpha/rulebook/village-rulebooks/{draft_id}", headers=headers).status_code == 404
    listed = api.get(f"/api/v1/t/alpha/rulebook/villages/{other}/rulebooks", headers=headers)
    assert listed.status_code == 200 and listed.get_json() == []
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    assert staff.get(f"/t/alpha/rulebook/village-rulebooks/{draft_id}").status_code == 200
    admin_list = staff.get(f"/api/v1/t/alpha/rulebook/villages/{other}/rulebooks",
                           headers=bearer(api_token(staff, "alpha", world.a.username()))).get_json()
    assert [r["status"] for r in admin_list] == ["draft"]
