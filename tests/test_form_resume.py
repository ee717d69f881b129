"""A form sent after the sign-in session expired survives sign-in and is sent after it."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from jifen.platform import clock
from jifen.platform.accounts import credential_cache
from jifen.platform.accounts.models import UserSession
from jifen.platform.db import db
from tests.conftest import CSRF_RE, PASSWORD
from tests.points_world import in_alpha
from tests.test_kept_photos import KEPT_RE, big_jpeg, post_apply
from tests.test_points_pages import P, apps_of, form_of, signed_in, today

HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def expire_sessions(app, world):
    """Every sign-in session of the township ends now, as its 12 hours would."""
    def run():
        db.session.execute(update(UserSession).values(expires_at=clock.now() - timedelta(minutes=1)))
        credential_cache.changed(str(world.a.tenant_id))
    in_alpha(app, world, run)


def expired_post(app, world, client, pw, day, **more):
    token, once = form_of(client, f"{P}/apply")
    data = {"csrf_token": token, "once": once, "household_id": str(pw.household), "item_id": str(pw.items["A2"]),
            "occurred_on": day, "description": "帮邻居修屋顶"} | more
    expire_sessions(app, world)
    return client.post(f"{P}/apply", data=data, content_type="multipart/form-data"), once


def test_an_expired_session_keeps_the_form_through_sign_in_and_sends_it_once(app, world, pw):
    villager = signed_in(app, "villager")
    day = today(app, world)
    resp, once = expired_post(app, world, villager, pw, day, photos=(big_jpeg(200, 100), "p.jpg"))
    assert resp.status_code == 401
    html = resp.get_data(as_text=True)
    assert 'id="resume-login"' in html and 'id="resume-why"' in html and 'id="resume-files"' in html  # why; files lost
    assert f'action="/t/alpha/login?next={P}/apply"' in html.replace("%2F", "/")
    assert 'name="resume:description" value="帮邻居修屋顶"' in html and f'name="resume:once" value="{once}"' in html
    assert "resume:csrf_token" not in html and apps_of(app, world) == []

    carried = dict(HIDDEN_RE.findall(html))
    # a wrong password keeps the form too
    wrong = villager.post(f"/t/alpha/login?next={P}/apply", data=carried | {"username": "villager", "password": "x"})
    assert wrong.status_code == 422 and 'name="resume:description" value="帮邻居修屋顶"' in wrong.get_data(as_text=True)
    signed = villager.post(f"/t/alpha/login?next={P}/apply",
                           data=carried | {"username": "villager", "password": PASSWORD})
    assert signed.status_code == 200
    page = signed.get_data(as_text=True)
    assert 'id="resume-form"' in page and f'action="{P}/apply"' in page and "data-submit-now" in page
    fields = dict(HIDDEN_RE.findall(page))
    assert fields["description"] == "帮邻居修屋顶" and fields["once"] == once
    assert fields["csrf_token"] != carried["csrf_token"]  # a fresh token for the new session
    sent = villager.post(f"{P}/apply", data=fields)
    again = villager.post(f"{P}/apply", data=fields)  # sent twice (a reload): still one record
    assert sent.status_code == 303 and again.location == sent.location
    [application] = apps_of(app, world)
    assert application.description == "帮邻居修屋顶"


def test_kept_photo_ids_survive_sign_in(app, world, pw):
    villager = signed_in(app, "villager")
    refused = post_apply(villager, pw, "2999-01-01", photos=[(big_jpeg(300, 200), "a.jpg")])
    [kept] = KEPT_RE.findall(refused.get_data(as_text=True))
    resp, _once = expired_post(app, world, villager, pw, today(app, world), staged_photos=kept, item_id=str(pw.items["A1"]))
    carried = [(k, v) for k, v in HIDDEN_RE.findall(resp.get_data(as_text=True))]
    assert ("resume:staged_photos", kept) in carried and 'id="resume-files"' not in resp.get_data(as_text=True)
    signed = villager.post(f"/t/alpha/login?next={P}/apply",
                           data=dict(carried) | {"username": "villager", "password": PASSWORD})
    fields = dict(HIDDEN_RE.findall(signed.get_data(as_text=True)))
    assert villager.post(f"{P}/apply", data=fields).status_code == 303
    [application] = apps_of(app, world)
    assert application.item_id == pw.items["A1"]


def test_a_form_without_this_browsers_token_is_not_carried(app, world, pw):
    villager = signed_in(app, "villager")
    expire_sessions(app, world)
    resp = villager.post(f"{P}/apply", data={"csrf_token": "forged", "description": "x"})
    assert resp.status_code == 302 and "/t/alpha/login" in resp.location


def test_the_carried_form_goes_only_to_a_page_of_the_same_township(app, world, pw):
    villager = app.test_client()
    path = "/t/alpha/login"
    token = CSRF_RE.search(villager.get(path).get_data(as_text=True)).group(1)
    for nxt in ("/t/beta/points/apply", "//evil.example/t/alpha/", "https://evil.example/t/alpha/points/apply"):
        resp = villager.post(f"{path}?next={nxt}", data={"csrf_token": token, "username": "villager",
                                                        "password": PASSWORD, "resume:description": "x"})
        assert resp.status_code == 302 and 'resume-form' not in resp.get_data(as_text=True), nxt
        assert not resp.location.startswith(("//", "https://evil"))  # a plain redirect, no form sent there
        token = CSRF_RE.search(villager.get(path).get_data(as_text=True)).group(1)
