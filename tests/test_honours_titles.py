"""Honour titles and recommendation lists: a shortlist respects the quota, the criteria and the tag;
ties at the quota line; the panel confirms or declines within its village, never for its own
household, never beyond the quota; confirmed titles reach the household (file, message, wall);
recommendation lists filter by age from ID numbers and export an .xlsx; who may do what."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Forbidden, InputConflict, NotFound
from jifen.platform.staff import service as staff
from jifen.tenants.honours import recommendations, titles, wall
from jifen.tenants.honours.models import CONFIRMED, DECLINED, SHORTLISTED, HonourCandidate
from jifen.tenants.notifications.models import Notification
from tests.conftest import api_token, bearer, csrf_token, page_login, set_password
from tests.honours_world import NAMES, add_household, give, id_number, in_tenant, set_levels, who

PAGES = "/t/alpha/honours"
API = "/api/v1/t/alpha/honours"
PARTY = "party_member"


def _households(app, world, pw, rows) -> list:
    """rows: (points, tags, members) per household of 官田村."""
    def make():
        ids = []
        for n, (points, tags, members) in enumerate(rows):
            hid = add_household(pw.village, world.a.grid[-1], NAMES[n], f"{10 + n}号", tags=tags, members=members)
            if points:
                give(hid, points)
            ids.append(hid)
        return ids
    return in_tenant(app, world.a.tenant_id, make)


def _title(app, world, **values):
    data = {"name_zh": "最美党员户", "name_en": "Model Party-member Household", "quota": 2} | values
    return in_tenant(app, world.a.tenant_id, lambda: titles.create_title(who("admin"), data).id)


def _draw(app, world, title_id, village_id, username="vadmin"):
    def draw():
        s = titles.draw_shortlist(who(username), title_id, village_id)
        return s.id, [(c.household_id, c.status, c.tied) for c in titles.candidates_of(s.id)]
    return in_tenant(app, world.a.tenant_id, draw)


def _decide(app, world, username, candidate_household, shortlist_id, decision, reason=""):
    def run():
        c = db.session.execute(select(HonourCandidate).where(HonourCandidate.shortlist_id == shortlist_id,
                                                             HonourCandidate.household_id == candidate_household)
                               ).scalar_one()
        return titles.decide(who(username), c.id, {"decision": decision, "reason": reason}).status
    return in_tenant(app, world.a.tenant_id, run)


def test_shortlist_respects_quota_criteria_tag_and_vetoes(app, world, pw):
    ids = _households(app, world, pw, [(50, [PARTY], ()), (40, [PARTY], ()), (60, [], ()), (45, [PARTY], ()),
                                       (10, [PARTY], ()), (70, [PARTY], ())])
    in_tenant(app, world.a.tenant_id, lambda: (set_levels(who("admin"), {1: (1, None), 3: (40, None)},
                                                          vetoes={"D1": 1}), give(ids[5], -2, "D1")))
    title = _title(app, world, min_points=20, min_stars=3, required_tag=PARTY, quota=2)
    shortlist, found = _draw(app, world, title, pw.village)
    # 70 has a veto deduction, 60 has no tag, 10 is below the minimum: 50 and 45 (quota 2), not 40
    assert [h for h, _s, _t in found] == [ids[0], ids[3]]
    assert all(s == SHORTLISTED and not t for _h, s, t in found)
    # a title with no minimum never draws households without points
    plain = _title(app, world, name_zh="最美家庭", quota=20, required_tag=None, no_veto=False)
    _s, everyone = _draw(app, world, plain, pw.village)
    assert set(h for h, _s, _t in everyone) == set(ids) and pw.household not in {h for h, _s, _t in everyone}


def test_ties_at_the_quota_line_all_go_on_the_list_and_the_panel_keeps_the_quota(app, world, pw):
    ids = _households(app, world, pw, [(60, (), ()), (50, (), ()), (50, (), ()), (40, (), ())])
    title = _title(app, world, name_zh="最美家庭", quota=2, required_tag=None)
    shortlist, found = _draw(app, world, title, pw.village)
    assert [(h, t) for h, _s, t in found] == [(ids[0], False), (ids[1], True), (ids[2], True)]
    assert _decide(app, world, "panel1", ids[0], shortlist, "confirm") == CONFIRMED
    assert _decide(app, world, "panel2", ids[1], shortlist, "confirm") == CONFIRMED
    with pytest.raises(InputConflict) as e:  # two places, both taken
        _decide(app, world, "panel3", ids[2], shortlist, "confirm")
    assert "decision" in e.value.errors
    assert _decide(app, world, "panel3", ids[2], shortlist, "decline", "名额已满") == DECLINED


def test_panel_confirms_and_declines_with_reason_recorded_and_the_household_is_told(app, world, pw, client):
    ids = _households(app, world, pw, [(60, (), ()), (50, (), ()), (40, (), ())])
    title = _title(app, world, name_zh="最美家庭", quota=2, required_tag=None)
    shortlist, _found = _draw(app, world, title, pw.village)
    # pages: the panel member of 官田村 sees the shortlist with its decision forms
    page_login(client, "alpha", "panel1")
    html = client.get(f"{PAGES}/shortlists/{shortlist}").get_data(as_text=True)
    assert html.count('class="hn-decide"') == 2
    cand = in_tenant(app, world.a.tenant_id, lambda: {c.household_id: c.id for c in titles.candidates_of(shortlist)})
    token = csrf_token(client, f"{PAGES}/shortlists/{shortlist}")
    resp = client.post(f"{PAGES}/candidates/{cand[ids[1]]}/decide", data={"csrf_token": token, "decision": "decline"})
    assert resp.status_code == 422  # a decline needs a reason
    assert client.post(f"{PAGES}/candidates/{cand[ids[0]]}/decide",
                       data={"csrf_token": token, "decision": "confirm"}).status_code == 302
    assert client.post(f"{PAGES}/candidates/{cand[ids[1]]}/decide",
                       data={"csrf_token": token, "decision": "decline", "reason": "邻里有矛盾未化解"}).status_code == 302
    # deciding again is refused, naming the field
    resp = client.post(f"{PAGES}/candidates/{cand[ids[0]]}/decide", data={"csrf_token": token, "decision": "decline",
                                                                          "reason": "x"})
    assert resp.status_code == 422

    def check():
        rows = {c.household_id: c for c in titles.candidates_of(shortlist)}
        assert (rows[ids[0]].status, rows[ids[0]].decided_by_name) == (CONFIRMED, "panel1")
        assert (rows[ids[1]].status, rows[ids[1]].reason) == (DECLINED, "邻里有矛盾未化解")
        notes = db.session.execute(select(Notification).where(Notification.kind == "honour_confirmed")).scalars().all()
        assert [n.household_id for n in notes] == [ids[0]]
        actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.action.like("honour.%"))).scalars().all()
        assert {"honour.shortlist", "honour.confirm", "honour.decline"} <= set(actions)
    in_tenant(app, world.a.tenant_id, check)
    # redrawing keeps the decisions and fills the declined place from the ranking (40 points)
    _s, again = _draw(app, world, title, pw.village)
    assert {h: s for h, s, _t in again} == {ids[0]: CONFIRMED, ids[1]: DECLINED, ids[2]: SHORTLISTED}
    # the title is in the household's civility file and on the village wall
    page_login(client, "alpha", "admin")
    file_html = client.get(f"/t/alpha/ledger/households/{ids[0]}/file").get_data(as_text=True)
    assert 'id="honours"' in file_html and "最美家庭" in file_html
    token_w = in_tenant(app, world.a.tenant_id, lambda: wall.create_link(who("admin"), pw.village).public_token)
    wall_html = app.test_client().get(f"{PAGES}/wall/{token_w}").get_data(as_text=True)
    assert 'id="titles"' in wall_html and "最美家庭" in wall_html and "安*" in wall_html


def test_panel_of_another_village_cannot_and_nobody_decides_on_their_own_household(app, world, pw, client):
    ids = _households(app, world, pw, [(60, (), ()), (50, (), ())])
    title = _title(app, world, name_zh="最美家庭", quota=3, required_tag=None)
    in_tenant(app, world.a.tenant_id, lambda: give(pw.household2, 30))
    shortlist, found = _draw(app, world, title, pw.village)
    assert pw.household2 in {h for h, _s, _t in found}
    with pytest.raises(NotFound):  # "panel" sits on the panel of 礼坑村
        _decide(app, world, "panel", ids[0], shortlist, "confirm")
    with pytest.raises(Forbidden):  # a village admin is not the panel
        _decide(app, world, "vadmin", ids[0], shortlist, "confirm")

    def member_of_household2():  # a panel member whose phone is 李四's: 李四's household is their own
        user, _secret = staff.invite(who("admin"), {"username": "panel-li", "display_name": "李四", "phone": "13800000002",
                                                    "roles": [{"role": "panel_member", "scope_ids": [pw.village]}]})
        set_password(user)
    in_tenant(app, world.a.tenant_id, member_of_household2)
    with pytest.raises(InputConflict) as e:
        _decide(app, world, "panel-li", pw.household2, shortlist, "confirm")
    assert "decision" in e.value.errors
    assert _decide(app, world, "panel-li", ids[0], shortlist, "confirm") == CONFIRMED
    # the API answers the same: 404 for the other village's panel
    resp = client.post(f"{API}/candidates/{in_tenant(app, world.a.tenant_id, lambda: titles.candidates_of(shortlist)[1].id)}"
                       "/decision", headers=bearer(api_token(client, "alpha", "panel")), json={"decision": "confirm"})
    assert resp.status_code == 404
    # the digest: shortlists waiting for the panel (李四's own candidate does not count for panel-li)
    assert in_tenant(app, world.a.tenant_id, lambda: titles.waiting_shortlists(who("panel1"))) == 1
    assert in_tenant(app, world.a.tenant_id, lambda: titles.waiting_shortlists(who("panel-li"))) == 1
    assert in_tenant(app, world.a.tenant_id, lambda: titles.waiting_shortlists(who("panel"))) == 0
    assert in_tenant(app, world.a.tenant_id, lambda: titles.waiting_shortlists(who("vadmin"))) == 0


def test_drawing_is_for_the_village_admin_of_the_village_and_the_township_admin(app, world, pw, client):
    title = _title(app, world, name_zh="最美家庭", required_tag=None)
    other = world.a.villages[2]
    with pytest.raises(InputConflict) as e:
        _draw(app, world, title, other)  # vadmin of 官田村, not of 梅园村
    assert "village_id" in e.value.errors
    with pytest.raises(Forbidden):
        _draw(app, world, title, pw.village, username="panel1")
    assert _draw(app, world, title, other, username="admin")[1] == []
    headers = bearer(api_token(client, "alpha", "vadmin"))
    resp = client.post(f"{API}/titles/{title}/shortlists", headers=headers, json={"village_id": str(pw.village)})
    assert resp.status_code == 201 and resp.get_json()["candidates"] == []
    resp = client.post(f"{API}/titles/{title}/shortlists", headers=headers,
                       json={"village_id": str(pw.village), "period": 1999})
    assert resp.status_code == 422 and "period" in resp.get_json()["errors"]["json"]
    assert client.post(f"{API}/titles", headers=headers, json={"name_zh": "x"}).status_code == 403
    admin = bearer(api_token(client, "alpha", "admin"))
    resp = client.post(f"{API}/titles", headers=admin, json={"name_zh": "最美家庭", "quota": 0})
    assert resp.status_code == 422 and "quota" in resp.get_json()["errors"]["json"]  # the document's bound
    resp = client.post(f"{API}/titles", headers=admin, json={"name_zh": "最美家庭", "quota": 3})
    assert resp.status_code == 409 and "name_zh" in resp.get_json()["errors"]["json"]  # taken: the data's rule
    resp = client.patch(f"{API}/titles/{title}", headers=admin, json={"required_tag": "党员户", "quota": 4})
    assert resp.status_code == 200 and (resp.get_json()["required_tag"], resp.get_json()["quota"]) == (PARTY, 4)


# --- recommendation lists ------------------------------------------------------------------------------

def _born(years_ago: int, today: date) -> date:
    """A birthday on January 1: `years_ago` years old on any day of this year."""
    return date(today.year - years_ago, 1, 1)


def test_recommendation_list_filters_by_age_from_id_numbers_and_exports_xlsx(app, world, pw, client):
    today = in_tenant(app, world.a.tenant_id, clock.today)
    young, mid, old = (id_number(_born(y, today), n) for n, y in ((1, 20), (2, 35), (3, 70)))
    _households(app, world, pw, [
        (30, (), [("安小明", "child", young), ("安老汉", "parent", old)]),
        (50, (), [("白小华", "child", mid), ("白无证", "child", None)]),
        (5, (), [("曹小军", "child", id_number(_born(25, today), 4))]),
    ])

    def setup():
        return recommendations.create_list(who("admin"), {"name_zh": "村班子后备人选", "min_points": 20, "min_age": 18,
                                                          "max_age": 40, "note": "供村两委参考"}).id
    rec = in_tenant(app, world.a.tenant_id, setup)
    found = in_tenant(app, world.a.tenant_id, lambda: recommendations.members(who("vadmin"), rec, pw.village))
    # points first (白 50 before 安 30), then pinyin; 曹's household has 5 points; the heads have no ID number
    assert [(m.resident.name, m.age) for m in found.members] == [("白小华", 35), ("安小明", 20)]
    assert sorted(m.resident.name for m in found.unknown_age) == ["安明", "白华", "白无证"]
    assert found.households == 2 and found.members[0].id_number == mid  # a village admin sees ID numbers
    # by relation: children only
    in_tenant(app, world.a.tenant_id, lambda: recommendations.update_list(who("admin"), rec, {"relation": "child"}))
    found = in_tenant(app, world.a.tenant_id, lambda: recommendations.members(who("vadmin"), rec, pw.village))
    assert [m.resident.name for m in found.unknown_age] == ["白无证"]
    # the export opens and has the rows; masked on request
    page_login(client, "alpha", "vadmin")
    resp = client.get(f"{PAGES}/lists/{rec}/export?village_id={pw.village}")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    body = [r for r in values if isinstance(r[0], int)]
    assert [(r[1], r[3], r[4], r[7]) for r in body] == [("白小华", 35, mid, 50), ("安小明", 20, young, 30),
                                                        ("白无证", None, None, 50)]
    assert "官田村" in values[0][0] and "村班子后备人选" in values[0][0]
    masked = load_workbook(io.BytesIO(client.get(f"{PAGES}/lists/{rec}/export?village_id={pw.village}&masked=1").data)).active
    assert [r[4] for r in masked.iter_rows(values_only=True) if isinstance(r[0], int)][0] == mid[:4] + "*" * 10 + mid[-4:]
    html = client.get(f"{PAGES}/lists/{rec}?village_id={pw.village}").get_data(as_text=True)
    assert 'id="unknown-age"' in html and html.count('class="hn-member"') == 2
    # the API: members; other villages and other roles
    headers = bearer(api_token(client, "alpha", "vadmin"))
    body = client.get(f"{API}/lists/{rec}/members?village_id={pw.village}", headers=headers).get_json()
    assert [m["name"] for m in body["members"]] == ["白小华", "安小明"] and body["members"][0]["household_points"] == 50
    assert client.get(f"{API}/lists/{rec}/members?village_id={world.a.villages[2]}", headers=headers).status_code == 404
    for username in ("panel1", "cadre", "villager"):
        h = bearer(api_token(client, "alpha", username))
        assert client.get(f"{API}/lists/{rec}/members?village_id={pw.village}", headers=h).status_code == 403
    resp = client.post(f"{API}/lists", headers=bearer(api_token(client, "alpha", "admin")),
                       json={"name_zh": "参军", "min_age": 30, "max_age": 18, "relation": "cousin"})
    assert resp.status_code == 422 and {"max_age", "relation"} <= set(resp.get_json()["errors"]["json"])


def test_birth_dates_and_ages_from_id_numbers():
    assert recommendations.birth_date(id_number(date(1990, 2, 28))) == date(1990, 2, 28)
    assert recommendations.birth_date("44162219901332123X") is None  # month 13
    assert recommendations.birth_date(None) is None and recommendations.birth_date("123") is None
    assert recommendations.age_on(date(1990, 6, 1), date(2026, 5, 31)) == 35
    assert recommendations.age_on(date(1990, 6, 1), date(2026, 6, 1)) == 36
    assert recommendations.age_on(None, date(2026, 1, 1)) is None


def test_title_and_list_pages_for_the_township_admin(app, world, pw, client):
    page_login(client, "alpha", "admin")
    token = csrf_token(client, f"{PAGES}/titles/new")
    form = {"csrf_token": token, "name_zh": "最美家庭", "quota": "3", "min_points": "10", "no_veto": "1",
            "active": "1", "once": "k1"}
    assert client.post(f"{PAGES}/titles/new", data=form).status_code == 302
    assert client.post(f"{PAGES}/titles/new", data=form).status_code in (302, 303)  # a resent form: one title
    assert in_tenant(app, world.a.tenant_id, lambda: len(titles.list_titles(who("admin"), include_inactive=True))) == 1
    resp = client.post(f"{PAGES}/titles/new", data=form | {"once": "k2", "quota": "0"})
    assert resp.status_code == 422 and 'id="f-quota"' in resp.get_data(as_text=True)
    token = csrf_token(client, f"{PAGES}/lists/new")
    assert client.post(f"{PAGES}/lists/new", data={"csrf_token": token, "name_zh": "入党积极分子", "min_age": "18",
                                                   "max_age": "35", "active": "1", "once": "k3"}).status_code == 302
    index = client.get(f"{PAGES}/?village_id={pw.village}").get_data(as_text=True)
    assert "最美家庭" in index and "入党积极分子" in index
    assert 'data-title=' in client.get(f"{PAGES}/titles").get_data(as_text=True)
    page_login(client, "alpha", "vadmin")
    assert client.get(f"{PAGES}/titles/new").status_code == 403
    assert client.get(f"{PAGES}/lists/new").status_code == 403
    assert client.get(f"{PAGES}/settings").status_code == 403


def test_random_bodies_to_the_honours_api_never_cause_a_500_and_refusals_write_nothing(app, world, pw):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from sqlalchemy import func

    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    title = _title(app, world, name_zh="最美家庭", required_tag=None)
    ids = _households(app, world, pw, [(30, (), ())])
    shortlist, _found = _draw(app, world, title, pw.village, username="admin")
    candidate = in_tenant(app, world.a.tenant_id, lambda: titles.candidates_of(shortlist)[0].id)
    assert ids
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                        st.text(max_size=12), st.sampled_from(["D1", "A1", "党员户", "child", str(pw.village), ""]))
    rows = st.lists(st.dictionaries(st.sampled_from(["stars", "min_points", "top_percent", "item_code", "max_stars"]),
                                    scalars, max_size=4), max_size=3)
    keys = ["levels", "vetoes", "name_display", "wall_size", "name_zh", "quota", "min_points", "min_stars",
            "required_tag", "no_veto", "min_age", "max_age", "relation", "village_id", "period", "decision", "reason"]
    bodies = st.dictionaries(st.sampled_from(keys), scalars | rows, max_size=5)
    routes = [("put", f"{API}/settings"), ("post", f"{API}/titles"), ("patch", f"{API}/titles/{title}"),
              ("post", f"{API}/lists"), ("post", f"{API}/titles/{title}/shortlists"),
              ("post", f"{API}/candidates/{candidate}/decision"), ("post", f"{API}/ratings/recompute")]

    def audit_count():
        with app.app_context():
            return db.session.execute(select(func.count()).select_from(AuditEntry)
                                      .execution_options(all_tenants=True)).scalar()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=bodies)
    def check(route, body):
        method, url = route
        before = audit_count()
        resp = getattr(client, method)(url, json=body, headers=admin)
        assert resp.status_code < 500, (method, url, body, resp.get_data(as_text=True)[:500])
        if resp.status_code >= 400:
            assert {"code", "status"} <= set(resp.get_json())
            assert audit_count() == before, (method, url, body)

    check()


def test_the_demo_loader_fills_the_area_once(app, world, pw):
    from jifen.tenants.honours import demo
    from jifen.tenants.honours.models import HonourShortlist, HonourTitle, HonourWall, RecommendationList, StarRating
    from jifen.tenants.villages.models import Village

    _households(app, world, pw, [(60, [PARTY], ()), (30, (), ()), (5, (), ())])

    def load():
        villages = {v.name: v for v in db.session.execute(select(Village)).scalars()}
        line = demo.load_demo(who("admin"), villages)
        counts = tuple(len(db.session.execute(select(m)).scalars().all())
                       for m in (StarRating, HonourTitle, HonourShortlist, HonourCandidate, RecommendationList, HonourWall))
        return line, counts
    first, counts = in_tenant(app, world.a.tenant_id, load)
    assert counts[:3] == (5, 2, 6) and counts[4:] == (3, 3)  # ratings; 2 titles drawn in 3 villages; 3 lists, 3 walls
    assert "/t/alpha/honours/wall/" in first
    again, counts_again = in_tenant(app, world.a.tenant_id, load)
    assert counts_again == counts and again == first
