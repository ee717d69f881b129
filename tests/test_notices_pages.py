"""Public notice pages: the staff list and publish button, the public page and its A4 print,
objections by villagers (and refusals), the panel's decision."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import applications as apps
from jifen.tenants.points import notices, posting
from jifen.tenants.points.models import Application, Notice, Objection
from tests.conftest import CSRF_RE, PASSWORD, page_login, set_password


def who(username) -> Actor:
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def in_alpha(app, world):
    class Scope:
        def __enter__(self):
            self.ctx = app.app_context()
            self.ctx.push()
            self.scope = tenant_scope(db.session.get(Tenant, world.a.tenant_id))
            self.scope.__enter__()

        def __exit__(self, *exc):
            if exc[0] is None:
                db.session.commit()  # the test runs its own unit of work: services never commit
            self.scope.__exit__(*exc)
            self.ctx.pop()
    return Scope()


def certified(pw, household=None, code="S1", points=5, description="志愿服务"):
    """A staff record on the household, certified by two panel members (needs a tenant scope)."""
    a = apps.record_conduct(who("gridder"), household or pw.household, {
        "item_code": code, "occurred_on": clock.today().isoformat(), "description": description,
        "points": points})
    for m in ("panel1", "panel2"):
        apps.vote(who(m), a.id, {"decision": "approve"})
    return a.id


def on_notice(app, world, pw, household=None) -> tuple:
    """(application id, notice id, public token, closes_on) of one item on a fresh notice."""
    with in_alpha(app, world):
        app_id = certified(pw, household)
        notice = notices.publish(Actor.system(), pw.village)
        return app_id, notice.id, notice.public_token, notice.closes_on


def form_token(client, path) -> str:
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


def test_staff_publish_now_and_notice_page(client, app, world, pw):
    with in_alpha(app, world):
        app_id = certified(pw)
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    html = client.get("/t/alpha/notices/").get_data(as_text=True)
    assert f'value="{pw.village}"' in html  # a publish-now button for 官田村
    resp = client.post("/t/alpha/notices/publish", data={"village_id": str(pw.village),
                                                          "csrf_token": form_token(client, "/t/alpha/notices/")})
    assert resp.status_code == 302
    with in_alpha(app, world):
        notice = db.session.execute(select(Notice)).scalar_one()
        assert tenant_get(Application, app_id).state == "on_notice"
        notice_id, token = notice.id, notice.public_token
    page = client.get(f"/t/alpha/notices/{notice_id}").get_data(as_text=True)
    assert "张三伟" in page and 'data-state="on_notice"' in page and token in page
    # nothing left to publish: the button is gone and publishing again names the village
    again = client.post("/t/alpha/notices/publish", data={"village_id": str(pw.village),
                                                           "csrf_token": form_token(client, "/t/alpha/notices/")})
    assert again.status_code == 422 and 'class="error"' in again.get_data(as_text=True)


def test_public_page_and_print_need_no_login(client, app, world, pw):
    _app_id, _nid, token, closes_on = on_notice(app, world, pw)
    resp = client.get(f"/t/alpha/notices/public/{token}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "官田村" in html and "1号" in html and "张*伟" in html and "张三伟" not in html
    assert "测试项S1" in html and "+5" in html and closes_on.isoformat() in html
    assert "nt-object" not in html  # no object button for the anonymous reader
    printed = client.get(f"/t/alpha/notices/public/{token}/print").get_data(as_text=True)
    assert "size: A4" in printed and "官田村" in printed and "1号" in printed and "测试项S1" in printed
    assert "nt-sign" in printed
    assert client.get("/t/alpha/notices/public/not-a-token").status_code == 404
    assert client.get(f"/t/beta/notices/public/{token}").status_code == 404  # alpha's token on beta


def test_villager_objects_from_the_public_page(client, app, world, pw):
    app_id, notice_id, token, _closes = on_notice(app, world, pw)
    assert page_login(client, "alpha", "villager2").status_code == 302
    html = client.get(f"/t/alpha/notices/public/{token}").get_data(as_text=True)
    url = f"/t/alpha/notices/public/{token}/items/{app_id}/object"
    assert url in html
    csrf = form_token(client, url)
    empty = client.post(url, data={"reason": "  ", "csrf_token": csrf})
    assert empty.status_code == 422 and 'id="e-reason"' in empty.get_data(as_text=True)
    resp = client.post(url, data={"reason": "没看到他参加", "csrf_token": csrf})
    assert resp.status_code == 302
    with in_alpha(app, world):
        objection = db.session.execute(select(Objection)).scalar_one()
        assert objection.reason == "没看到他参加" and objection.household_id == pw.household2
        assert tenant_get(Application, app_id).state == "objected"
        objection_id = objection.id
    # the panel dismisses it from the notice page
    staff = app.test_client()
    assert page_login(staff, "alpha", "panel3").status_code == 302
    page = staff.get(f"/t/alpha/notices/{notice_id}").get_data(as_text=True)
    assert f"/t/alpha/notices/objections/{objection_id}/decide" in page
    csrf = CSRF_RE.search(page).group(1)
    bad = staff.post(f"/t/alpha/notices/objections/{objection_id}/decide", data={"decision": "dismiss",
                                                                                 "csrf_token": csrf})
    assert bad.status_code == 422
    ok = staff.post(f"/t/alpha/notices/objections/{objection_id}/decide",
                    data={"decision": "dismiss", "reason": "有签到表", "csrf_token": csrf})
    assert ok.status_code == 302
    with in_alpha(app, world):
        assert tenant_get(Application, app_id).state == "on_notice"
        assert tenant_get(Objection, objection_id).status == "dismissed"


def test_villager_of_another_village_may_not_object(client, app, world, pw):
    from jifen.platform.staff import service as staff
    from jifen.tenants.households.models import Household
    from jifen.tenants.villages.models import GridNode

    app_id, _nid, token, _closes = on_notice(app, world, pw)
    with in_alpha(app, world):
        other = world.a.villages[1]
        node = GridNode(level=1, name="网格", village_id=other, parent_id=None, path="")
        db.session.add(node)
        db.session.flush()
        node.path = f"/{node.id}/"
        hh = Household(village_id=other, grid_node_id=node.id, door_plate="9号", head_name="王五")
        db.session.add(hh)
        db.session.flush()
        user, _ = staff.invite(who(world.a.username()), {
            "username": "outsider", "display_name": "王五", "roles": [{"role": "villager", "scope_ids": [hh.id]}]})
        set_password(user)
        db.session.commit()
    assert page_login(client, "alpha", "outsider").status_code == 302
    assert "nt-object" not in client.get(f"/t/alpha/notices/public/{token}").get_data(as_text=True)
    url = f"/t/alpha/notices/public/{token}/items/{app_id}/object"
    assert client.get(url).status_code == 404
    csrf = form_token(client, f"/t/alpha/notices/public/{token}")
    assert client.post(url, data={"reason": "不对", "csrf_token": csrf}).status_code == 404
    with in_alpha(app, world):
        assert db.session.execute(select(Objection)).first() is None


def test_objection_after_the_notice_closed_is_refused(client, app, world, pw):
    app_id, _nid, token, closes_on = on_notice(app, world, pw)
    with in_alpha(app, world):
        notice = db.session.execute(select(Notice)).scalar_one()
        notice.opens_on = notice.closes_on = clock.today() - timedelta(days=1)  # ended yesterday
        db.session.commit()
    assert page_login(client, "alpha", "villager2").status_code == 302
    html = client.get(f"/t/alpha/notices/public/{token}").get_data(as_text=True)
    assert "nt-object" not in html
    url = f"/t/alpha/notices/public/{token}/items/{app_id}/object"
    csrf = form_token(client, f"/t/alpha/notices/public/{token}")
    resp = client.post(url, data={"reason": "太晚了吗", "csrf_token": csrf})
    assert resp.status_code == 422
    assert re.search(r'id="e-notice"><p class="error">', resp.get_data(as_text=True))
    with in_alpha(app, world):
        posting.nightly(Actor.system(), today=clock.today())
        assert tenant_get(Application, app_id).state == "posted"
        assert db.session.execute(select(Objection)).first() is None


def test_villager_reaches_the_notice_from_home_objects_and_only_the_panel_sees_the_name(client, app, world, pw):
    """From the household home and from the public page (a sign-in link that comes back), the
    objection form says who sees the name, the row then says "objected", and the public page never
    shows the objector's name; the panel's page does."""
    app_id, notice_id, token, _closes = on_notice(app, world, pw)
    with in_alpha(app, world):
        db.session.execute(select(User).where(User.username == "villager2")).scalar_one().display_name = "欧阳异议"
    public = f"/t/alpha/notices/public/{token}"
    html = client.get(public).get_data(as_text=True)
    assert 'id="notice-signin"' in html and "登录" in html
    login = re.search(r'href="(/t/alpha/login\?next=[^"]+)"', html).group(1)
    assert login.endswith(f"next={public}")
    resp = client.post(login, data={"username": "villager2", "password": PASSWORD,
                                    "csrf_token": form_token(client, login)})
    assert resp.status_code == 302 and resp.location.endswith(public)

    home = client.get(f"/t/alpha/ledger/households/{pw.household2}").get_data(as_text=True)
    assert 'id="notice-panel"' in home and public in home and "本村公示" in home
    html = client.get(public).get_data(as_text=True)
    assert 'id="notice-signin"' not in html
    url = f"{public}/items/{app_id}/object"
    form = client.get(url).get_data(as_text=True)
    assert 'id="who-sees"' in form and "认定监督工作组" in form and "不会显示" in form
    assert client.post(url, data={"reason": "没看到他参加", "csrf_token": form_token(client, url)}).status_code == 302
    html = client.get(public).get_data(as_text=True)
    row = html[html.index(f'data-application="{app_id}"'):]
    row = row[:row.index("</tr>")]
    assert "data-objected" in row and "已提异议" in row and url not in row
    assert "欧阳异议" not in html.split("<main", 1)[1]  # (the header names the one signed in)
    assert "您已对其中 1 项提出异议" in client.get(f"/t/alpha/ledger/households/{pw.household2}").get_data(as_text=True)

    neighbour = app.test_client()
    assert page_login(neighbour, "alpha", "villager").status_code == 302
    for other in (app.test_client(), neighbour):  # the public, and another villager of the village
        seen = other.get(public).get_data(as_text=True)
        assert "欧阳异议" not in seen and "data-objected" not in seen
        assert "欧阳异议" not in other.get(f"{public}/print").get_data(as_text=True)
    panel = app.test_client()
    assert page_login(panel, "alpha", "panel3").status_code == 302
    assert "欧阳异议" in panel.get(f"/t/alpha/notices/{notice_id}").get_data(as_text=True)
