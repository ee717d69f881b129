"""The township dashboard: its numbers against independent queries over the ledger and registers,
who reaches which scope, the filters, the workbook, and the 大屏."""
from __future__ import annotations

import io
import uuid
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit import facts
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.points.models import Application, LedgerPosting, LedgerTransaction
from jifen.tenants.rulebook.models import CommitmentSignature
from tests.conftest import api_token, bearer, page_login

NOW = datetime(2026, 6, 20, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai


def _earn(household, points, day):
    ledger.earn(household_id=household, points=points, occurred_on=day, source_kind="activity",
                source_id=uuid.uuid4(), memo="活动")


@pytest.fixture
def board(app, pw):
    """pw's township with postings in April, May and June, the facts built on June 20, and one
    posting after the build (today's, shown live)."""
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == pw.slug)).scalar_one()
        with tenant_scope(tenant), clock.at(NOW):
            _earn(pw.household, 6, date(2026, 4, 3))
            _earn(pw.household, -2, date(2026, 5, 4))
            _earn(pw.household2, 3, date(2026, 6, 5))
            _earn(pw.household2, 4, date(2026, 6, 6))
            ledger.spend(household_id=pw.household, points=1, period=2026, source_kind="redemption",
                         source_id=uuid.uuid4(), on=date(2026, 6, 7))
            facts.build(date(2026, 6, 20))
            db.session.commit()
            _earn(pw.household, 5, date(2026, 6, 20))  # after the night's build
            db.session.commit()
    return pw


def ledger_month(month: date) -> dict:
    """The month's figures straight from the ledger (independent of the facts)."""
    end = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    rows = db.session.execute(select(LedgerTransaction.source_kind, LedgerTransaction.household_id,
                                     LedgerPosting.account, LedgerPosting.earned, LedgerPosting.available)
                              .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
                              .where(LedgerTransaction.occurred_on >= month, LedgerTransaction.occurred_on < end)).all()
    items = [(h, e) for kind, h, account, e, _a in rows if account == "household" and kind in ("application", "activity")]
    return {"issued": sum(e for _h, e in items if e > 0), "deducted": -sum(e for _h, e in items if e < 0),
            "redeemed": sum(a for _k, _h, account, _e, a in rows if account == "redeemed"),
            "participants": len({h for h, _e in items})}


def test_the_admins_dashboard_shows_the_ledgers_numbers(app, board):
    client = app.test_client()
    page_login(client, board.slug, "admin")
    html = client.get(f"/t/{board.slug}/cockpit/?month=2026-06").get_data(as_text=True)
    api = app.test_client()
    body = api.get(f"/api/v1/t/{board.slug}/cockpit/dashboard?month=2026-06",
                   headers=bearer(api_token(api, board.slug, "admin"))).get_json()
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant):
            households = db.session.execute(select(func.count()).select_from(Household).where(
                Household.status == "active")).scalar_one()
            by_month = {m: ledger_month(date(2026, m, 1)) for m in (4, 5, 6)}
            per_village = dict(db.session.execute(select(Household.village_id, func.count()).where(
                Household.status == "active").group_by(Household.village_id)).all())
            villagers = set(db.session.execute(select(RoleScope.scope_id).join(
                RoleAssignment, RoleAssignment.id == RoleScope.assignment_id).where(
                RoleAssignment.role == "villager", RoleScope.scope_kind == "household")).scalars())
            signed = set(db.session.execute(select(CommitmentSignature.household_id)).scalars())
            active = set(db.session.execute(select(Household.id).where(Household.status == "active")).scalars())
            waiting = db.session.execute(select(func.count()).select_from(Application).where(
                Application.state == "submitted")).scalar_one()
    june = body["current"]
    now = body["coverage"]["now"]
    assert (now["with_account"], now["signed"]) == (len(villagers & active), len(signed & active))
    assert {c["id"]: c["households"] for c in body["children"]} == {
        str(v): per_village.get(v, 0) for v in map(uuid.UUID, (c["id"] for c in body["children"]))}
    assert body["work"]["verify"]["count"] == waiting
    # every active household in one bucket of the earned-points histogram (the facts' night: before today's 5)
    assert sum(b["households"] for b in body["histogram"]) == households
    assert [(b["from"], b["to"], b["households"]) for b in body["histogram"] if b["from"] > 0] == [(4, 4, 1), (7, 7, 1)]
    # June: the night's facts (3 + 4 issued, 1 redeemed) plus today's 5, posted after the build
    assert (june["issued"], june["redeemed"]) == (by_month[6]["issued"], by_month[6]["redeemed"]) == (12, 1)
    assert [m["issued"] for m in body["months"][3:6]] == [by_month[m]["issued"] for m in (4, 5, 6)]
    assert body["months"][4]["deducted"] == by_month[5]["deducted"] == 2
    # participation counts the nightly facts: household2 in June (today's posting counts tomorrow)
    assert june["participants"] == 1 and body["coverage"]["now"]["households"] == households
    assert body["year"]["issued"] == sum(v["issued"] for v in by_month.values())
    assert f'id="ck-issued">{june["issued"]}<' in html and 'data-chart="points-by-month-box"' in html
    assert "echarts.min.js" in html  # the library only on dashboard pages
    assert 'id="integrity-panel"' in html  # the admin reviews integrity signals from here


def test_each_role_opens_its_own_scope_and_no_further(app, board):
    client = app.test_client()
    page_login(client, board.slug, "vadmin")
    own = client.get(f"/t/{board.slug}/cockpit/")
    assert own.status_code == 200
    api = app.test_client()
    token = bearer(api_token(api, board.slug, "vadmin"))
    body = api.get(f"/api/v1/t/{board.slug}/cockpit/dashboard", headers=token).get_json()
    assert body["scope"]["kind"] == "village" and body["scope"]["id"] == str(board.village)
    elsewhere = api.get(f"/api/v1/t/{board.slug}/cockpit/dashboard?village={uuid.uuid4()}", headers=token)
    assert elsewhere.status_code == 404 and "village" in str(elsewhere.get_json()["errors"])
    keeper = app.test_client()
    page_login(keeper, board.slug, "keeper")
    assert keeper.get(f"/t/{board.slug}/cockpit/").status_code == 403
    villager = app.test_client()
    page_login(villager, board.slug, "villager")
    assert villager.get(f"/t/{board.slug}/cockpit/").status_code == 403


def test_a_bad_filter_is_a_422_naming_it(app, board):
    api = app.test_client()
    token = bearer(api_token(api, board.slug, "admin"))
    for name, value in (("month", "2026-13"), ("village", "nope"), ("period", "1999")):
        resp = api.get(f"/api/v1/t/{board.slug}/cockpit/dashboard?{name}={value}", headers=token)
        errors = resp.get_json()["errors"]
        assert resp.status_code == 422 and any(name in where for where in errors.values()), (name, errors)


def test_the_workbook_has_every_charts_table(app, board):
    client = app.test_client()
    page_login(client, board.slug, "admin")
    resp = client.get(f"/t/{board.slug}/cockpit/?month=2026-06&format=xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(resp.data))
    sheet = book[book.sheetnames[0]]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "月份" and rows[6][1] == 12  # June's issued points, as on the page


def test_a_long_ranking_shows_its_ends_and_links_the_whole_list(app, board, monkeypatch):
    """The dashboard of a large township ranks only its best and worst places (one each here) with a
    row linking to the whole ranking; the ranking page lists every village in the same order; the
    workbook keeps every village."""
    import re

    from jifen.tenants.cockpit import views

    client = app.test_client()
    page_login(client, board.slug, "admin")
    whole = client.get(f"/t/{board.slug}/cockpit/ranking?month=2026-06")
    assert whole.status_code == 200
    ranked = re.findall(r'<tr><td>(\d+)</td><td><a href="[^"]*village=([0-9a-f-]+)', whole.get_data(as_text=True))
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant):
            from jifen.tenants.villages.models import Village

            villages = set(map(str, db.session.execute(select(Village.id)).scalars()))
    assert len(villages) >= 3 and {v for _r, v in ranked} == villages
    assert [int(r) for r, _v in ranked] == list(range(1, len(villages) + 1))

    monkeypatch.setattr(views, "RANKED_ENDS", 1)
    html = client.get(f"/t/{board.slug}/cockpit/?month=2026-06").get_data(as_text=True)
    shown = re.findall(r'<tr><td>(\d+)</td><td><a href="[^"]*village=([0-9a-f-]+)', html)
    assert shown == [ranked[0], ranked[-1]]
    gap = re.search(r'<a href="([^"]+)" id="ck-ranking-all">([^<]+)<', html)
    assert gap and gap.group(1).startswith(f"/t/{board.slug}/cockpit/ranking?") and "month=2026-06" in gap.group(1)
    assert f"中间还有 {len(villages) - 2} 个村" in gap.group(2)
    book = load_workbook(io.BytesIO(client.get(f"/t/{board.slug}/cockpit/?month=2026-06&format=xlsx").data))
    places = [ws for ws in book.worksheets if any("参与率" in str(c) for row in ws.iter_rows(max_row=1, values_only=True)
                                                  for c in row) and ws.max_row - 1 == len(villages)]
    assert places, "the workbook's ranking sheet has every village"


def test_the_ranking_page_keeps_to_the_readers_scope(app, board):
    client = app.test_client()
    page_login(client, board.slug, "vadmin")
    own = client.get(f"/t/{board.slug}/cockpit/ranking")
    assert own.status_code == 200 and 'id="ck-ranking"' in own.get_data(as_text=True)  # the village's grids
    assert client.get(f"/t/{board.slug}/cockpit/ranking?village={uuid.uuid4()}").status_code == 404
    villager = app.test_client()
    page_login(villager, board.slug, "villager")
    assert villager.get(f"/t/{board.slug}/cockpit/ranking").status_code == 403


def test_the_screen_refreshes_itself_in_both_languages(app, board):
    client = app.test_client()
    page_login(client, board.slug, "admin")
    html = client.get(f"/t/{board.slug}/cockpit/screen").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="60">' in html and "本年发放积分" in html
    client.post(f"/t/{board.slug}/lang", data={"locale": "en", "csrf_token": _csrf(client, board.slug)})
    assert "Points issued this year" in client.get(f"/t/{board.slug}/cockpit/screen").get_data(as_text=True)


def _csrf(client, slug):
    from tests.conftest import csrf_token

    return csrf_token(client, f"/t/{slug}/account")




def test_a_rule_category_filters_the_facts_and_todays_postings_alike(app, board):
    """Points of a category's items: the night's facts plus what was posted since (both, not one)."""
    from jifen.platform.tenancy import tenant_get
    from jifen.tenants.rulebook.models import RuleItem

    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == board.slug)).scalar_one()
        with tenant_scope(tenant), clock.at(NOW):
            item = tenant_get(RuleItem, board.items["A1"])
            category = item.category_id
            ledger.earn(household_id=board.household, points=3, occurred_on=date(2026, 6, 8), source_kind="activity",
                        source_id=uuid.uuid4(), item=item, memo="活动")
            facts.build(date(2026, 6, 20))
            db.session.commit()
            ledger.earn(household_id=board.household2, points=2, occurred_on=date(2026, 6, 20),
                        source_kind="activity", source_id=uuid.uuid4(), item=item, memo="活动")
            db.session.commit()
    api = app.test_client()
    token = bearer(api_token(api, board.slug, "admin"))
    body = api.get(f"/api/v1/t/{board.slug}/cockpit/dashboard?month=2026-06&category={category}", headers=token).get_json()
    assert body["current"]["issued"] == 5  # 3 in the facts, 2 posted after the build; none without an item
    assert [(i["code"], i["issued"]) for i in body["top_items"]] == [("A1", 3)]  # item rows: the night's
