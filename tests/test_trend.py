"""The villager's own trend on their points home (issue 13): points month by month (earned, spent,
deducted, corrected) from the cockpit's facts plus what came after the last build, and the village
rank at each month's end from the kept ranking snapshots; drawn as server SVG with its numbers as a
table and a workbook, on a page that stays under 50 KB transferred.

The numbers are checked against what the test posted and against a recount over the ledger here
(ORM rows added up in Python, not the facts' SQL)."""
from __future__ import annotations

import gzip
import io
import re
import time as time_module
import uuid
from collections import defaultdict
from datetime import date, time

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit import facts
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.points.models import LedgerPosting, LedgerTransaction
from jifen.tenants.rankings import service as rankings
from tests.conftest import csrf_token, page_login

TODAY = date(2026, 6, 15)
MONTHS = ["1月", "2月", "3月", "4月", "5月", "6月"]
# what the test posts for the villager's household: (earned, spent, deducted, corrected) per month
EXPECTED = [(5, 0, 0, 0), (4, 0, 3, 0), (8, 0, 0, -6), (0, 3, 0, 0), (2, 2, 0, 0), (1, 1, 0, 0)]
# its rank in 官田村 at each month's end (no snapshot kept in April: a gap), June: the 14th's
EXPECTED_RANKS = [1, 2, 1, None, 2, 2]


def _at(day: date, hour: int = 12):
    return clock.at(clock.local_moment(day, time(hour, 0)))


def _earn(household, points, day):
    with _at(day):
        return ledger.earn(household_id=household, points=points, occurred_on=day, source_kind="activity",
                           source_id=uuid.uuid4(), memo="活动").transaction


def _snapshot(day: date):
    with _at(day, 23):
        rankings.take_snapshot(day)


@pytest.fixture
def history(app, pw):
    """Half a year of the villager's household (h1) and its neighbour (h2) in 官田村, month-end
    ranking snapshots, the facts built on 31 May, and June's entries written after that build.
    (Its own app context: the pages are then asked in theirs, as in production.)"""
    h1, h2 = pw.household, pw.household2
    with app.app_context(), tenant_scope(_tenant(pw)):
        in_village = set(db.session.execute(select(Household.id).where(Household.village_id == pw.village)).scalars())
        assert in_village == {h1, h2}
        _earn(h1, 5, date(2026, 1, 10))
        _earn(h2, 2, date(2026, 1, 15))
        _snapshot(date(2026, 1, 31))
        _earn(h1, 4, date(2026, 2, 3))
        _earn(h2, 10, date(2026, 2, 10))
        _earn(h1, -3, date(2026, 2, 20))
        _snapshot(date(2026, 2, 28))
        march = _earn(h1, 8, date(2026, 3, 5))
        _earn(h2, 1, date(2026, 3, 20))
        _snapshot(date(2026, 3, 31))
        with _at(date(2026, 4, 2)):
            ledger.spend(household_id=h1, points=3, period=2026, source_kind="redemption", source_id=uuid.uuid4(),
                         on=date(2026, 4, 2))
        with _at(date(2026, 4, 8)):  # the March award corrected to 2: -6, counted in March
            ledger.correct(march, new_points=2, reason="核实有误", request_id=uuid.uuid4())
        order = uuid.uuid4()
        with _at(date(2026, 4, 20)):  # a store order reserved in April, picked up (spent) in May
            ledger.reserve(household_id=h1, points=2, period=2026, order_id=order, on=date(2026, 4, 20))
        with _at(date(2026, 5, 5)):
            ledger.settle(household_id=h1, points=2, period=2026, order_id=order, spend=True, on=date(2026, 5, 5))
        _earn(h1, 2, date(2026, 5, 10))
        _earn(h2, 4, date(2026, 5, 20))
        _snapshot(date(2026, 5, 31))
        with _at(date(2026, 5, 31), 23):
            facts.build(date(2026, 5, 31))
        db.session.commit()
        time_module.sleep(0.005)  # ids carry milliseconds: June's entries come after the build's
        _earn(h1, 1, date(2026, 6, 12))
        with _at(date(2026, 6, 13)):
            ledger.spend(household_id=h1, points=1, period=2026, source_kind="redemption", source_id=uuid.uuid4(),
                         on=date(2026, 6, 13))
        _snapshot(date(2026, 6, 14))
        db.session.commit()
        kept = set(db.session.execute(select(rankings.RankingSnapshot.taken_on)).scalars())
        assert date(2026, 4, 30) not in kept and date(2026, 3, 31) in kept
    return h1, h2


def _tenant(pw) -> Tenant:
    return db.session.execute(select(Tenant).where(Tenant.slug == pw.slug)).scalar_one()


def recount(household_id, period: int) -> dict:
    """{month: (earned, spent, deducted, corrected)} of the household, from its ledger rows: posted
    items' points by sign, corrections' points, and what its transactions put in the store's
    REDEEMED account (an order counts when it is picked up)."""
    out: dict = defaultdict(lambda: [0, 0, 0, 0])
    txs = {t.id: t for t in db.session.execute(select(LedgerTransaction).where(
        LedgerTransaction.household_id == household_id, LedgerTransaction.period == period)).scalars()}
    for t in txs.values():
        month = t.occurred_on.replace(day=1)
        if t.source_kind in ("application", "activity"):
            out[month][0 if t.points > 0 else 2] += abs(t.points)
        elif t.source_kind == "correction":
            out[month][3] += t.points
    for p in db.session.execute(select(LedgerPosting).where(LedgerPosting.account == "redeemed")).scalars():
        if p.transaction_id in txs:
            out[txs[p.transaction_id].occurred_on.replace(day=1)][1] += p.available
    return {m: tuple(v) for m, v in out.items()}


def _table(html: str, key: str) -> list[list[str]]:
    figure = re.search(rf'<figure class="chart" id="chart-{key}".*?</figure>', html, re.S).group(0)
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', figure, re.S)
    return [[re.sub(r"<[^>]+>", "", head)] + re.findall(r'<td class="num">([^<]*)</td>', cells) for head, cells in rows]


def _villager(app, pw):
    """The villager signed in on TODAY (the pages below are read on TODAY too)."""
    client = app.test_client()
    with clock.at(clock.local_moment(TODAY, time(8, 0))):
        assert page_login(client, pw.slug, "villager").status_code == 302
    return client


def test_the_panel_shows_each_months_points_as_posted_and_as_the_ledger_recounts_them(app, pw, history):
    h1, _h2 = history
    with app.app_context(), tenant_scope(_tenant(pw)):
        counted = recount(h1, 2026)
    assert [counted.get(date(2026, m, 1), (0, 0, 0, 0)) for m in range(1, 7)] == EXPECTED
    client = _villager(app, pw)
    with clock.at(clock.local_moment(TODAY, time(9, 0))):
        html = client.get(f"/t/{pw.slug}/ledger/households/{h1}").get_data(as_text=True)
    panel = re.search(r'<section class="card tr-panel" id="trend-panel">.*?</section>', html, re.S).group(0)
    assert "我的积分走势" in panel
    table = _table(panel, "points-trend")
    assert table == [[month, *(str(v) for v in row)] for month, row in zip(MONTHS, EXPECTED, strict=True)]
    assert re.findall(r'<th scope="col">([^<]*)</th>', panel)[:5] == ["月份", "获得 (分)", "兑换 (分)", "扣除 (分)",
                                                                       "更正 (分)"]
    # the chart draws the same numbers: a bar per non-zero value, its number in the bar's title
    svg = re.search(r'<svg[^>]*id="points-trend-svg".*?</svg>', panel, re.S).group(0)
    assert 'role="img"' in svg and "<title>3月 · 获得: 8分</title>" in svg and "<title>5月 · 兑换: 2分</title>" in svg
    ranks = _table(panel, "rank-trend")
    assert ranks == [[month, "" if r is None else str(r)] for month, r in zip(MONTHS, EXPECTED_RANKS, strict=True)]
    assert "每月底在官田村的排名" in panel and 'id="rank-trend-svg"' in panel


def test_the_workbook_has_the_panels_tables(app, pw, history):
    h1, _h2 = history
    client = _villager(app, pw)
    with clock.at(clock.local_moment(TODAY, time(9, 0))):
        html = client.get(f"/t/{pw.slug}/ledger/households/{h1}").get_data(as_text=True)
        link = re.search(r'<p class="chart-download"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")
        resp = client.get(link)
    assert resp.status_code == 200 and "2026-06-15.xlsx" in resp.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(resp.data))
    points, ranks = (list(s.iter_rows(values_only=True)) for s in book.worksheets)
    assert points[0] == ("月份", "获得 (分)", "兑换 (分)", "扣除 (分)", "更正 (分)")
    assert [list(r) for r in points[1:]] == [[m, *row] for m, row in zip(MONTHS, EXPECTED, strict=True)]
    assert [list(r) for r in ranks[1:]] == [[m, r] for m, r in zip(MONTHS, EXPECTED_RANKS, strict=True)]


def test_another_household_and_another_township_get_404(app, pw, world, history):
    h1, h2 = history
    client = _villager(app, pw)
    with clock.at(clock.local_moment(TODAY, time(9, 0))):
        assert client.get(f"/t/{pw.slug}/trend/households/{h2}.xlsx").status_code == 404  # the neighbour's
        assert client.get(f"/t/{pw.slug}/trend/households/{world.b.household}.xlsx").status_code == 404
        assert client.get(f"/t/{pw.slug}/trend/households/{h1}.xlsx?period=abc").status_code == 200  # this year
        staff = app.test_client()  # the village admin sees the household's trend too, "Points trend"
        assert page_login(staff, pw.slug, "vadmin").status_code == 302
        html = staff.get(f"/t/{pw.slug}/ledger/households/{h1}").get_data(as_text=True)
        assert '<h2>积分走势</h2>' in html and staff.get(f"/t/{pw.slug}/trend/households/{h1}.xlsx").status_code == 200


def test_a_household_with_no_points_yet_sees_the_empty_state_in_both_languages(app, pw):
    client = _villager(app, pw)
    home = f"/t/{pw.slug}/ledger/households/{pw.household}"
    for locale, words, title in (("zh_CN", "暂无数据", "我的积分走势"), ("en", "No data yet", "My points trend")):
        with clock.at(clock.local_moment(TODAY, time(9, 0))):
            client.post(f"/t/{pw.slug}/lang", data={"locale": locale, "csrf_token": csrf_token(client, home)})
            html = client.get(home).get_data(as_text=True)
        panel = re.search(r'<section class="card tr-panel" id="trend-panel">.*?</section>', html, re.S).group(0)
        assert title in panel and words in panel and "<svg" in panel
        assert len(_table(panel, "points-trend")) == 6  # January to June, all zero


def _transferred(client, html: str) -> tuple[int, list]:
    """Bytes on the wire for the page and the static files it loads, gzipped as nginx sends them
    (deploy/nginx.compose.conf: gzip_comp_level 5, text types, 1 kB minimum)."""
    def wire(body: bytes) -> int:
        return len(gzip.compress(body, compresslevel=5)) if len(body) >= 1024 else len(body)

    total, assets = wire(html.encode()), []
    for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        resp = client.get(url.replace("&amp;", "&"))
        assert resp.status_code == 200, url
        total += wire(resp.data)
        assets.append(url.split("?")[0])
        resp.close()
    return total, assets


def test_the_villagers_home_with_its_charts_stays_under_50_kb_transferred(app, pw, history):
    h1, _h2 = history
    client = _villager(app, pw)
    with clock.at(clock.local_moment(TODAY, time(9, 0))):
        html = client.get(f"/t/{pw.slug}/ledger/households/{h1}").get_data(as_text=True)
    assert 'id="points-trend-svg"' in html and 'id="rank-trend-svg"' in html
    total, assets = _transferred(client, html)
    assert "/static/vendor/echarts/echarts.min.js" not in assets and "/static/charts.js" not in assets
    assert total < 50 * 1024, (total, assets)
