"""Ranking pages, API and household panel: who sees which ranking, masked names, movement, paging,
the period selector (the hand-built township of tests/test_rankings.py)."""
from __future__ import annotations

from datetime import date

import pytest

from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.rankings import service
from tests.conftest import api_token, bearer, page_login
from tests.test_rankings import DAY1, DAY2, build, earn


@pytest.fixture
def town(app, world):
    """The township with two snapshots: DAY1, then hA4 earns 30 and DAY2 (hA4 goes 4th -> 1st in A)."""
    with app.app_context():
        t = build(world)
        with tenant_scope(db.session.get(Tenant, t.tenant_id)):
            service.take_snapshot(DAY1)
            earn(t.hh["hA4"], 30, DAY2)
            service.take_snapshot(DAY2)
            db.session.commit()
    return t


def _page(client, world, role, url):
    assert page_login(client, "alpha", world.a.username(role)).status_code == 302
    return client.get(url)


def test_staff_see_the_village_ranking_with_full_names_and_movement(client, world, town):
    resp = _page(client, world, "village_admin", f"/t/alpha/rankings/villages/{town.villages['A']}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    # rank order: 赵六 (hA4, 35) 1st up 3, 李建国 (hA3, 30) 2nd down 1, 张三伟 and 王小明 3rd, 孙八 5th
    order = [html.index(n) for n in ("赵六", "李建国", "王小明", "孙八")]
    assert order == sorted(order)
    assert "↑3" in html and "↓1" in html
    assert "钱七" not in html  # moved out: not ranked
    assert "周九" not in html  # village B


def test_villager_sees_only_their_village_with_other_names_masked(client, world, town):
    resp = _page(client, world, "villager", "/t/alpha/rankings/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/rankings/villages/{town.villages['A']}")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "张三伟" in html  # their own household, in full
    assert f'id="own-{town.hh["h0"]}"' in html  # highlighted
    assert "李*国" in html and "李建国" not in html and "赵*" in html and "赵六" not in html
    for url in (f"/t/alpha/rankings/villages/{town.villages['B']}", "/t/alpha/rankings/township",
                f"/t/alpha/rankings/grid/{town.nodes['UA1'].id}"):
        assert client.get(url).status_code == 404, url


def test_grid_worker_sees_their_subtree_and_village_not_above(client, world, town):
    n = town.nodes  # the grid worker's scope is MA (medium, village A)
    assert _page(client, world, "grid_worker", f"/t/alpha/rankings/grid/{n['MA'].id}").status_code == 200
    html = client.get(f"/t/alpha/rankings/grid/{n['SA'].id}").get_data(as_text=True)
    assert "李建国" in html and "赵六" not in html  # SA holds hA3, h0, hA2, hA6; hA4 is under SA2
    assert client.get(f"/t/alpha/rankings/grid/{n['LA'].id}").status_code == 404
    assert client.get(f"/t/alpha/rankings/villages/{town.villages['A']}").status_code == 200
    assert client.get(f"/t/alpha/rankings/villages/{town.villages['B']}").status_code == 404


def test_a_large_grid_spanning_villages_and_the_township(client, world, town):
    lx = town.nodes["LX"].id
    html = _page(client, world, "township_admin", f"/t/alpha/rankings/grid/{lx}").get_data(as_text=True)
    assert html.index("冯十二") < html.index("吴十")  # hC1 (village C) 50 before hB2 (village B) 20
    html = client.get("/t/alpha/rankings/township").get_data(as_text=True)
    assert html.index("冯十二") < html.index("赵六") < html.index("孙八")
    index = client.get("/t/alpha/rankings/").get_data(as_text=True)
    assert 'id="township-ranking"' in index and str(lx) in index
    other = app_client(client)
    assert _page(other, world, "village_admin", "/t/alpha/rankings/township").status_code == 404
    assert other.get(f"/t/alpha/rankings/grid/{lx}").status_code == 404  # spans beyond their village


def app_client(client):
    return client.application.test_client()


def test_storekeeper_sees_their_store_village(client, world, town):
    assert _page(client, world, "storekeeper", f"/t/alpha/rankings/villages/{town.villages['A']}").status_code == 200
    assert client.get(f"/t/alpha/rankings/villages/{town.villages['B']}").status_code == 404


def test_period_selector_and_a_bad_period(client, world, town, app):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        service.take_snapshot(date(2025, 12, 31))
        db.session.commit()
    url = f"/t/alpha/rankings/villages/{town.villages['A']}"
    html = _page(client, world, "township_admin", url + "?period=2025").get_data(as_text=True)
    assert "2025-12-31" in html and "↑" not in html  # 2025's last snapshot; no movement in it
    assert "2026-03-11" in client.get(url).get_data(as_text=True)  # default: the latest
    resp = client.get(url + "?period=20x5")
    assert resp.status_code == 422 and 'id="e-period"' in resp.get_data(as_text=True)
    # the periods page links a closed year's rankings as /rankings/?period=Y: the year carries on
    index = client.get("/t/alpha/rankings/?period=2025").get_data(as_text=True)
    assert "2025-12-31" in index and f"villages/{town.villages['A']}?period=2025" in index


def test_no_ranking_yet(client, world):
    resp = _page(client, world, "township_admin", f"/t/alpha/rankings/villages/{world.a.villages[0]}")
    assert resp.status_code == 200 and "rk-list" not in resp.get_data(as_text=True)


def test_household_home_panel_shows_rank_and_movement(client, world, town):
    html = _page(client, world, "villager", f"/t/alpha/ledger/households/{town.hh['h0']}").get_data(as_text=True)
    assert 'id="ranking-panel"' in html
    panel = html[html.index('id="ranking-panel"'):]
    panel = panel[:panel.index("</section>")]
    assert 'id="rank-village"><span class="rk-big">3</span>' in panel and "↓1" in panel
    assert 'id="rank-township"><span class="rk-big">7</span>' in panel


# --- API -----------------------------------------------------------------------------------------

def _api(client, world, role):
    return bearer(api_token(client, "alpha", world.a.username(role)))


def test_api_village_ranking_pages_and_fields(client, world, town):
    h = _api(client, world, "township_admin")
    body = client.get(f"/api/v1/t/alpha/rankings/villages/{town.villages['A']}?per_page=2&page=2", headers=h).get_json()
    assert body["scope"]["kind"] == "village" and body["snapshot"]["taken_on"] == "2026-03-11"
    assert body["snapshot"]["previous_on"] == "2026-03-10" and body["total"] == 5 and body["pages"] == 3
    # page 2 of (赵六 1, 李建国 2, 王小明 3 / 张三伟 3 — ties by pinyin: wang < zhang —, 孙八 5)
    assert [(r["rank"], r["head_name"], r["movement"], r["new"]) for r in body["items"]] == [
        (3, "王小明", -1, False), (3, "张三伟", -1, False)]
    assert body["names_masked"] is False and body["items"][0]["household_id"] == str(town.hh["hA2"])
    first = client.get(f"/api/v1/t/alpha/rankings/villages/{town.villages['A']}?date=2026-03-10",
                       headers=h).get_json()
    assert first["snapshot"]["taken_on"] == "2026-03-10" and first["items"][0]["head_name"] == "李建国"
    bad = client.get(f"/api/v1/t/alpha/rankings/villages/{town.villages['A']}?date=tomorrow", headers=h)
    assert bad.status_code == 422 and "date" in str(bad.get_json())


def test_api_villager_masked_and_scoped(client, world, town):
    h = _api(client, world, "villager")
    body = client.get(f"/api/v1/t/alpha/rankings/villages/{town.villages['A']}", headers=h).get_json()
    assert body["names_masked"] is True
    own = [r for r in body["items"] if r["own"]]
    assert [(r["head_name"], r["household_id"]) for r in own] == [("张三伟", str(town.hh["h0"]))]
    others = [r for r in body["items"] if not r["own"]]
    assert all(r["household_id"] is None and "*" in r["head_name"] for r in others)
    assert body["own"][0]["rank"] == 3
    assert client.get(f"/api/v1/t/alpha/rankings/villages/{town.villages['B']}", headers=h).status_code == 404
    assert client.get("/api/v1/t/alpha/rankings/township", headers=h).status_code == 404
    mine = client.get(f"/api/v1/t/alpha/rankings/households/{town.hh['h0']}", headers=h).get_json()
    ranks = {r["scope"]: (r["rank"], r["of"], r["movement"]) for r in mine["ranks"]}
    assert ranks == {"village": (3, 5, -1), "grid1": (3, 5, -1), "grid2": (3, 5, -1), "grid3": (2, 4, 0),
                     "grid4": (1, 2, 0), "township": (7, 9, -1)}
    assert client.get(f"/api/v1/t/alpha/rankings/households/{town.hh['hA3']}", headers=h).status_code == 404


def test_api_grid_node_and_snapshots(client, world, town):
    h = _api(client, world, "grid_worker")
    body = client.get(f"/api/v1/t/alpha/rankings/grid-nodes/{town.nodes['SA'].id}", headers=h).get_json()
    assert body["scope"] == {"kind": "grid", "id": str(town.nodes["SA"].id), "name": "小网格", "level": 3}
    assert [(r["rank"], r["head_name"]) for r in body["items"]] == [
        (1, "李建国"), (2, "王小明"), (2, "张三伟"), (4, "孙八")]
    assert client.get(f"/api/v1/t/alpha/rankings/grid-nodes/{town.nodes['LB'].id}", headers=h).status_code == 404
    snaps = client.get("/api/v1/t/alpha/rankings/snapshots", headers=h).get_json()
    assert [(s["taken_on"], s["households"]) for s in snaps] == [("2026-03-11", 9), ("2026-03-10", 9)]


def test_api_township_pages_through_ties_in_order(client, world, town):
    h = _api(client, world, "township_admin")
    seen = []
    for page in range(1, 7):
        body = client.get(f"/api/v1/t/alpha/rankings/township?per_page=2&page={page}", headers=h).get_json()
        seen += [(r["rank"], r["household_id"]) for r in body["items"]]
    assert body["total"] == 9 and body["pages"] == 5
    names = {str(v): k for k, v in town.hh.items()}
    # 50 | 35 | 30 30 | 20 20 | 10 10 | 0 — ties by household id, every household once
    assert [r for r, _ in seen] == [1, 2, 3, 3, 5, 5, 7, 7, 9]
    assert seen == sorted(seen) and len({h for _, h in seen}) == 9
    assert [names[h] for _, h in seen][:2] == ["hC1", "hA4"] and names[seen[-1][1]] == "hA6"


def test_a_village_ranking_is_kept_until_the_township_commits(app, client, world, town):
    """The body is served again without reading the ranking while nothing changed; a household
    renamed (a commit in the township) shows at once; a villager's kept page (masked names) is
    never served to staff, nor the staff's to the villager."""
    from sqlalchemy import event

    from jifen.tenants.households.models import Household

    url = f"/t/alpha/rankings/villages/{town.villages['A']}"
    seen = []
    with app.app_context():
        engine = db.engine
    def note(*args):
        seen.append(args[2])
    first = _page(client, world, "village_admin", url).get_data(as_text=True)
    assert "李建国" in first
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get(url).get_data(as_text=True) == first
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen and not [s for s in seen if "ranking_entries" in s]  # kept: the ranking is not read again
    with app.app_context(), tenant_scope(db.session.get(Tenant, town.tenant_id)):
        db.session.get(Household, (town.tenant_id, town.hh["hA3"])).head_name = "李建业"
        db.session.commit()
    again = client.get(url).get_data(as_text=True)
    assert "李建业" in again and "李建国" not in again
    villager = app.test_client()
    masked = _page(villager, world, "villager", url).get_data(as_text=True)
    assert "李*业" in masked and "李建业" not in masked
    assert "李建业" in client.get(url).get_data(as_text=True)
    # a village the villager may not reach stays a 404 though staff have its body kept
    other = f"/t/alpha/rankings/villages/{town.villages['B']}"
    assert "周九" in _page(app.test_client(), world, "township_admin", other).get_data(as_text=True)
    assert villager.get(other).status_code == 404
