"""The county cockpit: every figure equals a recount straight from the registers and the ledger
(not through the facts) for both townships of 紫金县, after their nightly facts; another county's
operator sees none of them; no household name or id reaches the page, the 大屏 or the API.
"""
from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import Operator, User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit import county, facts
from jifen.tenants.dividends.models import DividendPayout, DividendPool, DividendRun
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.points import ledger
from jifen.tenants.points.models import Application, LedgerPosting, LedgerTransaction
from jifen.tenants.rulebook.models import CommitmentSignature, RuleItem, VillageRulebook
from tests.conftest import CSRF_RE, api_token, bearer, page_login

MAY_NIGHT, TODAY = date(2026, 5, 15), date(2026, 6, 15)  # 31 days apart: the coverage change
JUNE, MAY = date(2026, 6, 1), date(2026, 5, 1)
PEOPLE = ["张三伟", "李四", "王小明", "赵二娘"]  # every household head of the world and this test


def _noon(day, tenant):
    return clock.at(clock.local_moment(day, time(12, 0), tenant))


def _earn(household, points, day, item=None):
    ledger.earn(household_id=household, points=points, occurred_on=day, source_kind="activity",
                source_id=uuid.uuid4(), item=item, memo="活动")


def _household(village, node, plate, name):
    h = Household(village_id=village, grid_node_id=node, door_plate=plate, head_name=name)
    db.session.add(h)
    db.session.flush()
    db.session.add(Resident(household_id=h.id, name=name, name_pinyin="x", name_initials="x", relation="head"))
    return h.id


def _paid_run(village, amount_by_household: dict, paid_at):
    """A paid dividend run written to the tables (the settlement is tested elsewhere)."""
    pool = DividendPool(village_id=village, title="分红", amount_fen=sum(amount_by_household.values()),
                        source="collective_income", period=2026, base_percent=0)
    db.session.add(pool)
    db.session.flush()
    run = DividendRun(pool_id=pool.id, number=1, state="paid", village_id=village, period=2026,
                      amount_fen=pool.amount_fen, base_percent=0, min_points=0,
                      households=len(amount_by_household), total_fen=pool.amount_fen, paid_at=paid_at,
                      payment_reference="转账001")
    db.session.add(run)
    db.session.flush()
    for household, fen in amount_by_household.items():
        db.session.add(DividendPayout(run_id=run.id, household_id=household, village_id=village, chunk_seq=0,
                                      earned=1, amount_fen=fen, remainder=Decimal(0)))
    db.session.flush()


@pytest.fixture
def county_world(app, pw, world):
    """Both townships with postings in May and June (late entries, a correction, spending), a
    commitment signed, a grid worker at work, a dividend paid; facts built on May 15 and June 15.
    Built in a context of its own (the page tests' clients must not share one); returns the ids."""
    with app.app_context():
        ids = _build(pw, world)
    return ids


def _tenants(ids) -> dict:
    return {slug: db.session.get(Tenant, tenant_id) for slug, tenant_id in ids.items()}


def _build(pw, world) -> dict:
    alpha = db.session.execute(select(Tenant).where(Tenant.slug == "alpha")).scalar_one()
    beta = db.session.execute(select(Tenant).where(Tenant.slug == "beta")).scalar_one()
    with tenant_scope(alpha), _noon(MAY_NIGHT, alpha):
        item = tenant_get(RuleItem, pw.items["A1"])
        _earn(pw.household, 5, date(2026, 5, 3), item)
        _earn(pw.household2, -2, date(2026, 5, 10))
        vr = db.session.execute(select(VillageRulebook.id)).scalars().first()
        db.session.add(CommitmentSignature(village_rulebook_id=vr, household_id=pw.household, signed_on=MAY_NIGHT,
                                           signer_name="张三伟"))
        facts.build(MAY_NIGHT)
    with tenant_scope(beta), _noon(MAY_NIGHT, beta):
        _earn(world.b.household, 3, date(2026, 5, 9))
        facts.build(MAY_NIGHT)
    db.session.commit()
    with tenant_scope(alpha), _noon(TODAY, alpha):
        third = _household(world.a.villages[0], world.a.grid[-1], "3号", "王小明")
        _earn(pw.household, 4, date(2026, 6, 2), item)
        _earn(third, 6, date(2026, 6, 10))
        _earn(pw.household2, -3, date(2026, 6, 11))
        _earn(pw.household2, 2, date(2026, 5, 28))  # late: May's
        tx = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.household_id == pw.household)
                                .order_by(LedgerTransaction.id)).scalars().first()
        ledger.correct(tx, new_points=1, reason="更正", request_id=uuid.uuid4())
        ledger.spend(household_id=pw.household, points=3, period=2026, source_kind="redemption",
                     source_id=uuid.uuid4(), on=TODAY)
        db.session.add(Application(household_id=pw.household, village_id=pw.village, item_id=pw.items["V1"],
                                   item_code="V1", version_id=item.version_id, points=1, occurred_on=TODAY,
                                   origin="staff", state="submitted", submitted_by=world.a.user_id("grid_worker")))
        _paid_run(pw.village, {pw.household: 12_345, pw.household2: 0}, clock.now() - timedelta(days=1))
        facts.build(TODAY)
    with tenant_scope(beta), _noon(TODAY, beta):
        fourth = _household(world.b.villages[0], world.b.grid[-1], "8号", "赵二娘")
        _earn(fourth, 7, date(2026, 6, 5))
        _paid_run(world.b.villages[0], {world.b.household: 50_000, fourth: 25_000},
                  datetime(2026, 3, 1, 2, tzinfo=timezone.utc))
        _paid_run(world.b.villages[0], {world.b.household: 999}, datetime(2025, 12, 31, 2, tzinfo=timezone.utc))
        facts.build(TODAY)
    db.session.commit()
    return {"alpha": alpha.id, "beta": beta.id}


# --- the recount: the registers and the ledger, read directly ----------------------------------------

def recount(tenant, month: date, on: date) -> dict:
    """What the cockpit should say of `tenant` for `month`, from the tables (registers as they are
    now: the registers in this test change only before the builds that read them)."""
    with tenant_scope(tenant):
        households = {h.id for h in db.session.execute(select(Household).where(Household.status == "active"))
                      .scalars()}
        villager_users = {u.id for u in db.session.execute(select(User).where(User.status == "active")).scalars()}
        accounts = set()
        for a, s in db.session.execute(select(RoleAssignment, RoleScope).join(
                RoleScope, RoleScope.assignment_id == RoleAssignment.id)).all():
            if a.role == "villager" and s.scope_kind == "household" and a.user_id in villager_users:
                accounts.add(s.scope_id)
        signed = {c.household_id for c in db.session.execute(select(CommitmentSignature)).scalars()}
        workers = {a.user_id for a in db.session.execute(select(RoleAssignment)).scalars() if a.role == "grid_worker"}
        since = clock.now() - timedelta(days=30)
        active = {a.submitted_by for a in db.session.execute(select(Application)).scalars()
                  if a.submitted_by in workers and _aware(a.created_at) >= since}
        postings = defaultdict(list)
        for p in db.session.execute(select(LedgerPosting)).scalars():
            postings[p.transaction_id].append(p)
        sums = defaultdict(lambda: defaultdict(int))  # month -> measure -> points
        participants = defaultdict(set)
        for t in db.session.execute(select(LedgerTransaction)).scalars():
            m = t.occurred_on.replace(day=1)
            for p in postings[t.id]:
                if p.account == "household" and t.source_kind in ("application", "activity"):
                    sums[m]["issued" if p.earned > 0 else "deducted"] += abs(p.earned)
                    participants[m].add(t.household_id)
                elif p.account == "redeemed":
                    sums[m]["redeemed"] += p.available
        paid = [r for r in db.session.execute(select(DividendRun).where(DividendRun.state == "paid")).scalars()
                if _aware(r.paid_at).astimezone(clock.zone(tenant)).date().year == month.year
                and _aware(r.paid_at).astimezone(clock.zone(tenant)).date() <= county.month_end(month)]
        reached = {p.household_id for p in db.session.execute(select(DividendPayout)).scalars()
                   if p.run_id in {r.id for r in paid} and p.amount_fen > 0}
    ytd = [m for m in sums if m.year == month.year and m <= month]
    return {"households": len(households), "with_account": len(accounts & households),
            "signed": len(signed & households), "grid_workers": len(active),
            "participants": len(participants[month]),
            "issued": sums[month]["issued"], "deducted": sums[month]["deducted"], "redeemed": sums[month]["redeemed"],
            "issued_ytd": sum(sums[m]["issued"] for m in ytd), "deducted_ytd": sum(sums[m]["deducted"] for m in ytd),
            "redeemed_ytd": sum(sums[m]["redeemed"] for m in ytd),
            "dividends_fen": sum(r.total_fen for r in paid), "dividend_households": len(reached), "as_of": on}


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _figures(f: county.Figures) -> dict:
    return {k: getattr(f, k) for k in ("households", "with_account", "signed", "grid_workers", "participants",
                                       "issued", "deducted", "redeemed", "issued_ytd", "deducted_ytd",
                                       "redeemed_ytd", "dividends_fen", "dividend_households", "as_of")}


def _operator(username="op"):
    return actor_for(db.session.execute(select(Operator).where(Operator.username == username)).scalar_one())


# --- the figures --------------------------------------------------------------------------------------

def test_every_figure_equals_a_recount_from_the_registers_and_the_ledger(county_world, ctx):
    with clock.at(clock.local_moment(TODAY, time(13, 0))):
        expected = {slug: recount(t, JUNE, TODAY) for slug, t in _tenants(county_world).items()}
        cockpit = county.county_cockpit(_operator(), JUNE)
    got = {row.slug: _figures(row.now) for row in cockpit.townships}
    assert got == expected
    # something happened in each column (the recount is not all zeros)
    assert expected["alpha"]["issued"] == 10 and expected["alpha"]["deducted"] == 3
    assert expected["alpha"]["redeemed"] == 3 and expected["alpha"]["grid_workers"] == 1
    assert expected["alpha"]["signed"] == 1 and expected["alpha"]["with_account"] == 2
    assert (expected["beta"]["dividends_fen"], expected["beta"]["dividend_households"]) == (75_000, 2)
    assert (expected["alpha"]["dividends_fen"], expected["alpha"]["dividend_households"]) == (12_345, 1)
    # the county's total is the sum; its rate is over the county's households
    total = cockpit.total.now
    for key in ("households", "participants", "issued", "issued_ytd", "redeemed_ytd", "dividends_fen"):
        assert getattr(total, key) == expected["alpha"][key] + expected["beta"][key]
    assert total.participation == pytest.approx(total.participants / total.households)
    with clock.at(clock.local_moment(TODAY, time(13, 0))):
        by_month = [(m.month, m.issued, m.deducted, m.redeemed) for m in cockpit.months]
        assert by_month == [(date(2026, n, 1), *(sum(recount(t, date(2026, n, 1), TODAY)[k] for t in _tenants(
            county_world).values()) for k in ("issued", "deducted", "redeemed"))) for n in range(1, 7)]
    assert by_month[4][1] > 0  # May


def test_the_month_before_and_the_change(county_world, ctx):
    """Coverage as of the latest night and its change since a night at least 28 days before (May
    15); participation of both months over the households registered now, as the township's own
    dashboard counts it; points of each month and its own year to date."""
    cockpit = county.county_cockpit(_operator(), JUNE)
    alpha = next(row for row in cockpit.townships if row.slug == "alpha")
    may = recount(_tenants(county_world)["alpha"], MAY, MAY_NIGHT)
    may["households"] -= 1  # the third household came in June: May 15's night did not count it
    may["dividends_fen"], may["dividend_households"], may["grid_workers"] = 0, 0, 0  # paid in June, at work in June
    assert _figures(alpha.before) == may
    assert alpha.change("households") == 1 and alpha.change("grid_workers") == 1
    assert alpha.change("issued") == alpha.now.issued - may["issued"]
    assert alpha.before.participation == pytest.approx(may["participants"] / alpha.now.households)
    assert alpha.change("participation") == pytest.approx(
        round((alpha.now.participants - may["participants"]) / alpha.now.households * 100, 1))
    # May's own page: May's late entry counted in May; the coverage is tonight's, whatever the month
    may_page = county.county_cockpit(_operator(), MAY)
    alpha_may = next(r for r in may_page.townships if r.slug == "alpha")
    assert (alpha_may.now.issued, alpha_may.now.households) == (may["issued"], alpha.now.households)


def test_ranked_by_the_chosen_figure_largest_first(county_world, ctx):
    by_dividends = county.county_cockpit(_operator(), JUNE, "dividends_fen")
    assert [(r.slug, r.rank) for r in by_dividends.townships] == [("beta", 1), ("alpha", 2)]
    by_households = county.county_cockpit(_operator(), JUNE, "households")
    assert [r.slug for r in by_households.townships] == ["alpha", "beta"]
    assert county.county_cockpit(_operator(), JUNE, "no-such").sort == county.DEFAULT_SORT


def test_a_township_with_no_facts_yet_shows_none_and_stays_out_of_the_rates(ctx, world):
    cockpit = county.county_cockpit(_operator(), JUNE)
    assert {r.slug for r in cockpit.townships} == {"alpha", "beta"}
    assert all(r.now.households is None and r.now.participation is None for r in cockpit.townships)
    assert cockpit.total.now.households is None


# --- who sees what ------------------------------------------------------------------------------------

def test_another_countys_operator_sees_none_of_these_townships(app, county_world):
    with app.app_context():
        assert county.county_cockpit(_operator("op2"), JUNE).townships == []
    client = app.test_client()
    page_login(client, None, "op2")
    for url in ("/county/cockpit/?month=2026-06", "/county/cockpit/screen?month=2026-06"):
        html = client.get(url).get_data(as_text=True)
        assert "龙窝镇" not in html and "九和镇" not in html and "alpha" not in html
    api = app.test_client()
    body = api.get("/api/v1/county/cockpit/?month=2026-06", headers=bearer(api_token(api, None, "op2"))).get_json()
    assert body["townships"] == [] and body["total"]["figures"]["households"] is None


def test_township_accounts_cannot_reach_the_county_cockpit(app, county_world, world):
    client = app.test_client()
    page_login(client, "alpha", world.a.username())
    resp = client.get("/county/cockpit/")
    assert resp.status_code == 302 and "/county/login" in resp.headers["Location"]
    api = app.test_client()
    headers = bearer(api_token(api, "alpha", world.a.username()))
    assert api.get("/api/v1/county/cockpit/", headers=headers).status_code == 401


def test_no_household_name_or_id_on_the_page_the_screen_or_the_api(app, county_world):
    ids = []
    with app.app_context():
        for tenant in _tenants(county_world).values():
            with tenant_scope(tenant):
                ids += [str(h.id) for h in db.session.execute(select(Household)).scalars()]
    client = app.test_client()
    page_login(client, None, "op")
    api = app.test_client()
    headers = bearer(api_token(api, None, "op"))
    page = client.get("/county/cockpit/?month=2026-06")
    screen = client.get("/county/cockpit/screen?month=2026-06")
    answer = api.get("/api/v1/county/cockpit/?month=2026-06", headers=headers)
    assert page.status_code == screen.status_code == answer.status_code == 200
    for text in (page.get_data(as_text=True), screen.get_data(as_text=True), answer.get_data(as_text=True)):
        assert "龙窝镇" in text or "\\u9f99\\u7a9d\\u9547" in text  # the township is there
        for name in PEOPLE:
            assert name not in text
        for household_id in ids:
            assert household_id not in text and household_id.replace("-", "") not in text


# --- the page, the screen and the API -------------------------------------------------------------------

def test_the_page_ranks_with_totals_on_top_and_names_a_bad_month(app, county_world):
    client = app.test_client()
    page_login(client, None, "op")
    html = client.get("/county/cockpit/?month=2026-06&sort=dividends_fen").get_data(as_text=True)
    rows = re.findall(r'<tr data-township="([a-z]+)"><td>(\d+)</td>', html)
    assert rows == [("beta", "1"), ("alpha", "2")]
    assert html.index('id="county-totals"') < html.index('id="townships"')
    assert 'href="/county/cockpit/"' in client.get("/county/").get_data(as_text=True)  # in the console's nav
    bad = client.get("/county/cockpit/?month=2026-13")
    assert bad.status_code == 422
    assert re.search(r'id="e-month">[^<]+</p>', bad.get_data(as_text=True))


def test_the_api_answers_the_same_figures_and_refuses_a_bad_month(app, county_world):
    api = app.test_client()
    headers = bearer(api_token(api, None, "op"))
    body = api.get("/api/v1/county/cockpit/?month=2026-06&sort=households", headers=headers).get_json()
    assert (body["month"], body["previous_month"], body["sort"]) == ("2026-06", "2026-05", "households")
    with app.app_context(), clock.at(clock.local_moment(TODAY, time(13, 0))):
        expected = recount(_tenants(county_world)["alpha"], JUNE, TODAY)
    alpha = body["townships"][0]
    assert (alpha["slug"], alpha["rank"]) == ("alpha", 1)
    assert {k: alpha["figures"][k] for k in expected if k != "as_of"} == {k: v for k, v in expected.items()
                                                                          if k != "as_of"}
    assert alpha["change"]["households"] == 1
    for bad in ("month=2026-13", "month=June", "sort=names"):
        resp = api.get(f"/api/v1/county/cockpit/?{bad}", headers=headers)
        assert resp.status_code == 422 and bad.split("=")[0] in str(resp.get_json()["errors"]), bad


@pytest.mark.parametrize("locale, words", [("zh_CN", "参与率"), ("en", "Participation")])
def test_the_screen_refreshes_itself_in_chinese_and_english(app, county_world, locale, words):
    client = app.test_client()
    page_login(client, None, "op")
    html = client.get("/county/cockpit/screen?month=2026-06").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    client.post("/lang", data={"locale": locale, "next": "/county/cockpit/screen", "csrf_token": token})
    resp = client.get("/county/cockpit/screen?month=2026-06")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'<meta http-equiv="refresh" content="60">', html)
    assert words in html
    assert "<script" not in html  # nothing for the CSP to allow
    assert html.count("data-township-bar=") == 4  # two townships in each of the two charts
    assert "Content-Security-Policy" in resp.headers
