"""Activities: creating them, sign-up, attendance marked by staff or checked in with the code, the
applications attendance makes, the participation report by household tag, scope and the API."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid, NotFound
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.activities import service
from jifen.tenants.activities.models import Activity, ActivitySignup, Attendance
from jifen.tenants.households.models import HouseholdTag
from jifen.tenants.points.models import Application
from tests.conftest import api_token, bearer, csrf_token, page_login

PAGES = "/t/alpha/activities"
API = "/api/v1/t/alpha/activities"


@pytest.fixture
def scope(app, world):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            yield


def who(username):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def _in_alpha(app, world, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            result = fn()
            db.session.commit()  # the test runs its own unit of work: services never commit
            return result


def _today(app, world):
    return _in_alpha(app, world, clock.today)


def _apps(app, world, activity_id):
    return _in_alpha(app, world, lambda: [(a.household_id, a.state, a.points, a.origin) for a in db.session.execute(
        select(Application).where(Application.activity_id == uuid.UUID(str(activity_id)))).scalars()])


def _activity(app, world, pw, code="S1", held_on=None, title="环境卫生集中整治"):
    def make():
        return service.create_activity(who("admin"), {
            "village_id": pw.village, "item_code": code, "title": title, "place": "村委会",
            "held_on": held_on or clock.today()}).id
    return _in_alpha(app, world, make)


def _form_token(client, path):
    return csrf_token(client, path)


def test_staff_create_villager_signs_up_staff_marks_and_marking_again_adds_nothing(app, client, world, pw):
    today = _today(app, world)
    page_login(client, "alpha", "gridder")
    token = _form_token(client, f"{PAGES}/new")
    resp = client.post(f"{PAGES}/new", data={"csrf_token": token, "village_id": str(pw.village), "item_code": "S1",
                                            "title": "义务植树", "place": "后山", "held_on": today.isoformat()})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    activity_id = resp.headers["Location"].rstrip("/").split("/")[-1]
    code = _in_alpha(app, world, lambda: db.session.execute(select(Activity.checkin_code)).scalar_one())
    assert re.fullmatch(r"[0-9]{6}", code)
    page = client.get(f"{PAGES}/{activity_id}").get_data(as_text=True)
    assert code in page and 'id="attendance-form"' in page  # the code to read out, the checklist
    assert client.get(f"{PAGES}/").get_data(as_text=True).count(activity_id) >= 1
    assert 'id="activity-form"' in client.get(f"{PAGES}/{activity_id}/edit").get_data(as_text=True)

    villager = app.test_client()
    page_login(villager, "alpha", "villager")
    vpage = villager.get(f"{PAGES}/{activity_id}").get_data(as_text=True)
    assert code not in vpage and 'id="signup-button"' in vpage and 'id="attendance-form"' not in vpage
    assert 'id="checkin-form"' in villager.get(f"{PAGES}/{activity_id}/checkin").get_data(as_text=True)
    assert villager.get(f"{PAGES}/{activity_id}/report").status_code == 403
    token = csrf_token(villager, f"{PAGES}/{activity_id}")
    assert villager.post(f"{PAGES}/{activity_id}/signup", data={"csrf_token": token,
                                                               "household_id": str(pw.household)}).status_code == 302
    signups = _in_alpha(app, world, lambda: db.session.execute(select(ActivitySignup.household_id)).scalars().all())
    assert signups == [pw.household]

    page = client.get(f"{PAGES}/{activity_id}").get_data(as_text=True)
    # signed-up households come first in the checklist
    assert page.index(f'value="{pw.household}"') < page.index(f'value="{pw.household2}"')
    token = _form_token(client, f"{PAGES}/{activity_id}")
    data = {"csrf_token": token, "household_id": [str(pw.household), str(pw.household2)]}
    assert client.post(f"{PAGES}/{activity_id}/attendance", data=data).status_code == 302
    apps = _apps(app, world, activity_id)
    assert sorted(a[0] for a in apps) == sorted([pw.household, pw.household2])
    assert {a[1] for a in apps} == {"verified"} and {a[2] for a in apps} == {4} and {a[3] for a in apps} == {"activity"}
    assert client.post(f"{PAGES}/{activity_id}/attendance", data=data).status_code == 302  # again: harmless
    assert len(_apps(app, world, activity_id)) == 2
    assert _in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(Attendance)).scalar()) == 2


def test_verification_only_item_starts_certified_and_all_or_nothing(app, world, pw, scope):
    activity = service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "V1",
                                                      "title": "党员志愿服务", "held_on": clock.today()})
    with pytest.raises(Invalid) as e:  # one bad id: nothing is written
        service.mark_attendance(who("gridder"), activity.id, [str(pw.household), "not-an-id"])
    assert "household_ids.1" in e.value.errors
    assert db.session.execute(select(func.count()).select_from(Application)).scalar() == 0
    marked = service.mark_attendance(who("gridder"), activity.id, [str(pw.household)])
    assert len(marked.created) == 1
    assert db.session.execute(select(Application.state)).scalar_one() == "certified"


def test_villager_checks_in_with_the_code_wrong_code_names_code(app, client, world, pw):
    activity_id = _activity(app, world, pw)
    code = _in_alpha(app, world, lambda: db.session.execute(select(Activity.checkin_code)).scalar_one())
    headers = bearer(api_token(client, "alpha", "villager"))
    wrong = "000000" if code != "000000" else "111111"
    resp = client.post(f"{API}/{activity_id}/checkin", json={"code": wrong}, headers=headers)
    assert resp.status_code == 409 and "code" in resp.get_json()["errors"]["json"]  # the activity's code refuses it
    assert _apps(app, world, activity_id) == []
    resp = client.post(f"{API}/{activity_id}/checkin", json={"code": code}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["checked_in"] is True
    assert [(a[0], a[1]) for a in _apps(app, world, activity_id)] == [(pw.household, "submitted")]
    # checking in again changes nothing; staff marking it afterwards does not add a second one
    assert client.post(f"{API}/{activity_id}/checkin", json={"code": code}, headers=headers).status_code == 201
    staff = bearer(api_token(client, "alpha", "gridder"))
    resp = client.post(f"{API}/{activity_id}/attendance", json={"household_ids": [str(pw.household)]}, headers=staff)
    assert resp.status_code == 201 and resp.get_json()["already_marked"] == [str(pw.household)]
    assert len(_apps(app, world, activity_id)) == 1

    # the page: a wrong code is shown next to the code field
    page_login(client, "alpha", "villager2")
    token = csrf_token(client, f"{PAGES}/{activity_id}/checkin")
    resp = client.post(f"{PAGES}/{activity_id}/checkin", data={"csrf_token": token, "code": wrong})
    assert resp.status_code == 422 and 'id="f-code"' in resp.get_data(as_text=True)
    resp = client.post(f"{PAGES}/{activity_id}/checkin", data={"csrf_token": token, "code": code})
    assert resp.status_code == 200 and 'id="checked-in"' in resp.get_data(as_text=True)
    assert len(_apps(app, world, activity_id)) == 2


def test_check_in_only_while_open_and_near_the_day(app, world, pw, scope):
    today = clock.today()
    later = service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "S1", "title": "下周活动",
                                                   "held_on": today + timedelta(days=3)})
    with pytest.raises(InputConflict) as e:
        service.check_in(who("villager"), later.id, later.checkin_code)
    assert "code" in e.value.errors
    now = service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "S1", "title": "今天活动",
                                                 "held_on": today})
    service.close_activity(who("admin"), now.id)
    with pytest.raises(InputConflict):
        service.check_in(who("villager"), now.id, now.checkin_code)
    with pytest.raises(InputConflict) as e:  # and no sign-up once closed
        service.sign_up(who("villager"), now.id)
    assert "status" in e.value.errors
    assert db.session.execute(select(func.count()).select_from(Attendance)).scalar() == 0


def test_create_refuses_an_item_not_in_force(app, world, pw, scope):
    with pytest.raises(InputConflict) as e:
        service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "NOPE", "title": "x",
                                               "held_on": clock.today()})
    assert "item_code" in e.value.errors
    with pytest.raises(InputConflict) as e:  # before the rulebook was adopted
        service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "S1", "title": "x",
                                               "held_on": "2024-06-01"})
    assert "item_code" in e.value.errors or "held_on" in e.value.errors
    with pytest.raises(InputConflict) as e:  # a deduction is no reward for attending
        service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "D1", "title": "x",
                                               "held_on": clock.today()})
    assert "item_code" in e.value.errors


def test_report_counts_by_household_tag(app, client, world, pw):
    activity_id = _activity(app, world, pw)

    def tag_and_mark():
        db.session.add(HouseholdTag(household_id=pw.household2, tag="poverty_alleviated"))
        db.session.commit()
        service.sign_up(who("villager"), activity_id)
        service.mark_attendance(who("gridder"), activity_id, [pw.household2])
    _in_alpha(app, world, tag_and_mark)

    headers = bearer(api_token(client, "alpha", "vadmin"))
    resp = client.get(f"{API}/{activity_id}/report", headers=headers)
    assert resp.status_code == 200
    rows = {r["tag"]: r for r in resp.get_json()["rows"]}
    assert (rows[None]["households"], rows[None]["signed_up"], rows[None]["attended"]) == (2, 1, 1)
    tagged = rows["poverty_alleviated"]
    assert (tagged["households"], tagged["signed_up"], tagged["attended"], tagged["points_pending"]) == (1, 0, 1, 4)
    assert {s["state"]: s["count"] for s in resp.get_json()["applications"]} == {"verified": 1}

    page_login(client, "alpha", "vadmin")
    html = client.get(f"{PAGES}/{activity_id}/report").get_data(as_text=True)
    row = re.search(r'<tr data-tag="poverty_alleviated">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="n-households">1</td>' in row and '<td class="n-attended">1</td>' in row


def test_out_of_scope_is_404(app, client, world, pw):
    activity_id = _activity(app, world, pw)
    # the panel member works in another village of the same township
    page_login(client, "alpha", "panel")
    assert client.get(f"{PAGES}/{activity_id}").status_code == 404
    assert client.get(f"{PAGES}/{activity_id}/report").status_code == 404
    assert activity_id.hex not in client.get(f"{PAGES}/").get_data(as_text=True)
    headers = bearer(api_token(client, "alpha", "panel"))
    assert client.get(f"{API}/{activity_id}", headers=headers).status_code == 404
    # a village's grid worker reaches it; a villager of the village sees it but not its code
    staff = bearer(api_token(client, "alpha", "gridder"))
    assert client.get(f"{API}/{activity_id}", headers=staff).get_json()["checkin_code"]
    villager = bearer(api_token(client, "alpha", "villager"))
    body = client.get(f"{API}/{activity_id}", headers=villager).get_json()
    assert body["id"] == str(activity_id) and body["checkin_code"] is None
    assert client.get(f"{API}/", headers=villager).get_json()[0]["id"] == str(activity_id)
    # villagers may not mark attendance; a villager may not sign up someone else's household
    resp = client.post(f"{API}/{activity_id}/attendance", json={"household_ids": [str(pw.household)]}, headers=villager)
    assert resp.status_code == 403
    resp = client.post(f"{API}/{activity_id}/signups", json={"household_id": str(pw.household2)}, headers=villager)
    assert resp.status_code in (403, 404)
    assert _in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(ActivitySignup)).scalar()) == 0


def test_staff_cannot_mark_a_household_of_another_village(app, world, pw, scope):
    from jifen.tenants.households.models import Household

    other = Household(village_id=world.a.villages[1], grid_node_id=world.a.grid[-1], door_plate="9号", head_name="王五")
    db.session.add(other)
    db.session.commit()
    activity = service.create_activity(who("admin"), {"village_id": pw.village, "item_code": "S1", "title": "整治",
                                                      "held_on": clock.today()})
    with pytest.raises(InputConflict) as e:
        service.mark_attendance(who("admin"), activity.id, [other.id])
    assert "household_ids.0" in e.value.errors
    with pytest.raises(NotFound):
        service.get_activity(who("panel"), activity.id)


def test_api_create_and_attendance_are_idempotent(app, client, world, pw):
    headers = bearer(api_token(client, "alpha", "gridder"))
    today = _today(app, world).isoformat()
    body = {"village_id": str(pw.village), "item_code": "S1", "title": "党员志愿服务", "held_on": today}
    first = client.post(f"{API}/", json=body, headers=headers | {"Idempotency-Key": "create-1"})
    assert first.status_code == 201, first.get_json()
    again = client.post(f"{API}/", json=body, headers=headers | {"Idempotency-Key": "create-1"})
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert _in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(Activity)).scalar()) == 1
    activity_id = first.get_json()["id"]

    mark = {"household_ids": [str(pw.household), str(pw.household2)]}
    key = headers | {"Idempotency-Key": "mark-1"}
    one = client.post(f"{API}/{activity_id}/attendance", json=mark, headers=key)
    assert one.status_code == 201 and len(one.get_json()["created"]) == 2
    two = client.post(f"{API}/{activity_id}/attendance", json=mark, headers=key)
    assert two.status_code == 201 and two.get_json() == one.get_json()  # the stored answer
    other = client.post(f"{API}/{activity_id}/attendance", json={"household_ids": [str(pw.household)]}, headers=key)
    assert other.status_code == 409
    assert len(_apps(app, world, activity_id)) == 2
    resp = client.post(f"{API}/{activity_id}/attendance", json={"household_ids": ["x"]}, headers=headers)
    assert resp.status_code == 422


def test_demo_is_idempotent(app, world, scope):
    from jifen.tenants.activities.demo import ACTIVITIES, load_demo
    from jifen.tenants.households.models import Household
    from jifen.tenants.rulebook import demo as rulebook_demo
    from jifen.tenants.villages.models import Village

    for n in range(45):
        db.session.add(Household(village_id=world.a.villages[0], grid_node_id=world.a.grid[-1],
                                 door_plate=f"{n + 10}号", head_name=f"林{n}", head_pinyin=f"lin{n}"))
    db.session.commit()
    villages = {v.name: v for v in db.session.execute(select(Village)).scalars()}
    admin = who("admin")
    rulebook_demo.load_demo(admin, villages)
    db.session.commit()
    load_demo(admin, villages)

    def counts():
        return tuple(db.session.execute(select(func.count()).select_from(m)).scalar()
                     for m in (Activity, ActivitySignup, Attendance, Application))

    before = counts()
    activities = db.session.execute(select(Activity)).scalars().all()
    assert sorted(a.title for a in activities) == sorted(t[0] for t in ACTIVITIES)  # only 官田村 has households
    for a in activities:
        n = db.session.execute(select(func.count()).select_from(Attendance).where(Attendance.activity_id == a.id)).scalar()
        assert 20 <= n <= 40 and a.held_on.year == 2026
    assert before[2] == before[3]  # each attendance made its application
    load_demo(admin, villages)
    assert counts() == before


def test_api_declares_the_static_rules_and_answers_stored_data_and_the_date_with_409(app, client, world, pw):
    """A rule about the input alone is in the OpenAPI document, from the service's own limits (a
    422 naming the field); the item in force, the year and the activity's code are the township's
    data or the date (a 409 naming the field). Nothing is written either way."""
    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert spec["Activity"]["properties"]["title"]["maxLength"] == service.MAX_TITLE
    assert spec["Activity"]["properties"]["item_code"]["maxLength"] == service.MAX_ITEM_CODE
    assert spec["Activity"]["properties"]["description"]["maxLength"] == service.MAX_DESCRIPTION
    marks = spec["AttendanceMark"]["properties"]["household_ids"]
    assert (marks["minItems"], marks["maxItems"]) == (1, service.MAX_MARK)
    headers = bearer(api_token(client, "alpha", "gridder"))
    today = _today(app, world)
    body = {"village_id": str(pw.village), "item_code": "S1", "title": "党员志愿服务", "held_on": today.isoformat()}
    for bad, field in (({"title": " "}, "title"), ({"title": "长" * (service.MAX_TITLE + 1)}, "title"),
                       ({"item_code": ""}, "item_code"), ({"held_on": "2026-13-01"}, "held_on")):
        resp = client.post(f"{API}/", json=body | bad, headers=headers)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], (bad, resp.get_json())
    for bad, field in (({"item_code": "NOPE"}, "item_code"), ({"item_code": "D1"}, "item_code"),
                       ({"held_on": f"{today.year - 2}-06-01"}, "held_on"),
                       ({"village_id": str(uuid.UUID(int=0))}, "village_id")):
        resp = client.post(f"{API}/", json=body | bad, headers=headers)
        assert resp.status_code == 409 and field in resp.get_json()["errors"]["json"], (bad, resp.get_json())
    assert _in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(Activity)).scalar()) == 0
    activity_id = client.post(f"{API}/", json=body, headers=headers).get_json()["id"]
    resp = client.post(f"{API}/{activity_id}/attendance", json={"household_ids": []}, headers=headers)
    assert resp.status_code == 422 and "household_ids" in resp.get_json()["errors"]["json"]
    villager = bearer(api_token(client, "alpha", "villager"))
    resp = client.post(f"{API}/{activity_id}/checkin", json={"code": " "}, headers=villager)
    assert resp.status_code == 422 and "code" in resp.get_json()["errors"]["json"]
    client.post(f"{API}/{activity_id}/close", headers=headers)
    resp = client.post(f"{API}/{activity_id}/signups", json={"household_id": str(pw.household)}, headers=villager)
    assert resp.status_code == 409 and "status" in resp.get_json()["errors"]["json"]  # closed
    assert _in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(ActivitySignup))
                     .scalar()) == 0
