"""Sign-in, sessions, CSRF, rate limits, setup links, passwords and API tokens, as a user meets them."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts import passwords
from jifen.platform.accounts.models import SetupLink, User, UserSession
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import PASSWORD, api_token, bearer, csrf_token, page_login


def _in_alpha(app, world, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            result = fn()
        db.session.commit()
        return result


def test_password_hashes_are_argon2id_and_rehashed_when_parameters_change(app, world, make_app):
    def stored():
        return db.session.get(User, (world.a.tenant_id, world.a.user_id())).password_hash

    old = _in_alpha(app, world, stored)
    assert old.startswith("$argon2id$") and "m=8192,t=1" in old
    stronger = make_app(ARGON2_TIME_COST=2)
    client = stronger.test_client()
    assert page_login(client, "alpha", "admin").status_code == 302
    new = _in_alpha(stronger, world, stored)
    assert new != old and "t=2" in new
    PasswordHasher().verify(new, PASSWORD)


def test_login_starts_a_new_session_and_logout_ends_it(client, world):
    csrf_token(client, "/t/alpha/login")
    before = client.get_cookie("session", domain="jifen.test").value
    assert page_login(client, "alpha", "admin").status_code == 302
    after = client.get_cookie("session", domain="jifen.test").value
    assert after != before
    assert client.get("/t/alpha/").status_code == 200
    token = csrf_token(client, "/t/alpha/")
    assert client.post("/t/alpha/logout", data={"csrf_token": token}).status_code == 302
    # replaying the signed-in cookie after logout does not work: the session was revoked server-side
    client.set_cookie("session", after, domain="jifen.test")
    resp = client.get("/t/alpha/")
    assert resp.status_code == 302 and "/t/alpha/login" in resp.headers["Location"]


def test_wrong_password_is_told_next_to_the_field(client, world):
    resp = page_login(client, "alpha", "admin", "not-the-password")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'class="field has-error"' in html and 'id="e-password"' in html


def test_disabled_account_loses_sessions_and_tokens(app, world):
    user_client, api = app.test_client(), app.test_client()
    assert page_login(user_client, "alpha", "vadmin").status_code == 302
    token = api_token(api, "alpha", "vadmin")
    assert user_client.get("/t/alpha/").status_code == 200
    assert api.get("/api/v1/t/alpha/me", headers=bearer(token)).status_code == 200
    admin = app.test_client()
    admin_token = api_token(admin, "alpha", "admin")
    resp = admin.post(f"/api/v1/t/alpha/staff/{world.a.user_id('village_admin')}/disable", headers=bearer(admin_token))
    assert resp.status_code == 200 and resp.get_json()["status"] == "disabled"
    assert user_client.get("/t/alpha/").status_code == 302
    assert api.get("/api/v1/t/alpha/me", headers=bearer(token)).status_code == 401
    assert page_login(app.test_client(), "alpha", "vadmin").status_code == 422
    # enabling does not bring the old sessions back
    admin.post(f"/api/v1/t/alpha/staff/{world.a.user_id('village_admin')}/enable", headers=bearer(admin_token))
    assert api.get("/api/v1/t/alpha/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_without_a_valid_csrf_token_are_refused_and_write_nothing(app, world, token):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    data = {"name": "新村", "code": "new"}
    if token:
        data["csrf_token"] = token
    resp = client.post("/t/alpha/villages/new", data=data)
    assert resp.status_code == 400
    assert "form expired" in resp.get_data(as_text=True) or "表单" in resp.get_data(as_text=True)

    def count():
        from jifen.tenants.villages.models import Village

        return db.session.execute(select(func.count()).select_from(Village)).scalar()

    assert _in_alpha(app, world, count) == 3


def test_login_form_needs_csrf_too(client, world):
    resp = client.post("/t/alpha/login", data={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 400


def test_login_rate_limit_per_account(app, world):
    client = app.test_client()
    for _ in range(5):
        assert page_login(client, "alpha", "admin", "wrong-password-x").status_code == 422
    # the right password is refused too while the account is throttled, from anywhere
    other = app.test_client()
    resp = page_login(other, "alpha", "admin")
    assert resp.status_code == 429
    # another account from the same place is not affected
    assert page_login(app.test_client(), "alpha", "vadmin").status_code == 302


def test_login_rate_limit_per_ip(make_app, migrated, world):
    app = make_app(LOGIN_LIMIT_PER_IP="3 per minute")
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        assert client.post("/api/v1/t/alpha/auth/token", json={"username": name, "password": "x"}).status_code == 401
    resp = client.post("/api/v1/t/alpha/auth/token", json={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 429
    assert resp.get_json()["status"] == "rate_limited"
    # a different address is still served
    resp = client.post("/api/v1/t/alpha/auth/token", json={"username": "admin", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert resp.status_code == 201


def _invite(client, headers, username="newbie"):
    resp = client.post("/api/v1/t/alpha/staff/", headers=headers, json={
        "username": username, "display_name": "新人", "roles": [{"role": "township_admin"}]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["setup_url"]


def test_setup_link_sets_password_once(app, world):
    admin = app.test_client()
    headers = bearer(api_token(admin, "alpha", "admin"))
    url = _invite(admin, headers)
    path = url.split("jifen.test", 1)[1]
    client = app.test_client()
    token = csrf_token(client, path)
    weak = client.post(path, data={"password": "123456789", "confirm": "123456789", "csrf_token": token})
    assert weak.status_code == 422 and 'id="e-password"' in weak.get_data(as_text=True)
    common = client.post(path, data={"password": "password1234", "confirm": "password1234", "csrf_token": token})
    assert common.status_code == 422
    mismatch = client.post(path, data={"password": "Bright-Hill-77", "confirm": "Bright-Hill-78", "csrf_token": token})
    assert mismatch.status_code == 422 and 'id="e-confirm"' in mismatch.get_data(as_text=True)
    ok = client.post(path, data={"password": "Bright-Hill-77", "confirm": "Bright-Hill-77", "csrf_token": token})
    assert ok.status_code == 302
    assert page_login(app.test_client(), "alpha", "newbie", "Bright-Hill-77").status_code == 302
    reused = client.post(path, data={"password": "Other-Hill-99", "confirm": "Other-Hill-99", "csrf_token": token})
    assert reused.status_code == 409
    assert "already been used" in reused.get_data(as_text=True) or "已" in reused.get_data(as_text=True)
    assert page_login(app.test_client(), "alpha", "newbie", "Other-Hill-99").status_code == 422


def test_expired_setup_link_is_refused(app, world):
    admin = app.test_client()
    headers = bearer(api_token(admin, "alpha", "admin"))
    path = _invite(admin, headers).split("jifen.test", 1)[1]

    def expire():
        for link in db.session.execute(select(SetupLink)).scalars():
            link.expires_at = clock.now() - timedelta(minutes=1)

    _in_alpha(app, world, expire)
    client = app.test_client()
    resp = client.get(path)
    assert resp.status_code == 422
    # a new link replaces the old one
    user_id = path.split("/")  # noqa: F841 - the id is not in the link; find the user by name
    staff = admin.get("/api/v1/t/alpha/staff/", headers=headers).get_json()
    newbie = next(u for u in staff if u["username"] == "newbie")
    fresh = admin.post(f"/api/v1/t/alpha/staff/{newbie['id']}/setup-link", headers=headers).get_json()["setup_url"]
    assert client.get(fresh.split("jifen.test", 1)[1]).status_code == 200


def test_setup_link_of_another_township_is_not_found(app, world):
    admin = app.test_client()
    path = _invite(admin, bearer(api_token(admin, "alpha", "admin"))).split("jifen.test", 1)[1]
    assert app.test_client().get(path.replace("/t/alpha/", "/t/beta/")).status_code == 404


def test_weak_password_rules():
    assert passwords.weakness("short") is not None
    assert passwords.weakness("woaini1314") is not None
    assert passwords.weakness("qwerty123456") is not None
    assert passwords.weakness("aaaaaaaaaaaa") is not None
    assert passwords.weakness("zhangsan-2026x", username="zhangsan") is not None
    assert passwords.weakness("Quiet-River-2026") is None


def test_api_tokens_are_stored_hashed_revocable_and_scoped_to_their_township(app, world):
    client = app.test_client()
    token = api_token(client, "alpha", "admin")
    headers = bearer(token)
    me = client.get("/api/v1/t/alpha/me", headers=headers).get_json()
    assert me["username"] == "admin" and me["roles"][0]["role"] == "township_admin"

    def stored_secrets():
        from jifen.platform.accounts.models import UserToken

        return [t.token_hash for t in db.session.execute(select(UserToken)).scalars()]

    hashes = _in_alpha(app, world, stored_secrets)
    assert token not in hashes and all(len(h) == 64 for h in hashes)
    # the same token on another township's API is a 404, not a way in
    assert client.get("/api/v1/t/beta/me", headers=headers).status_code == 404
    tokens = client.get("/api/v1/t/alpha/tokens", headers=headers).get_json()
    assert client.delete(f"/api/v1/t/alpha/tokens/{tokens[0]['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/t/alpha/me", headers=headers).status_code == 401


def test_api_without_token_is_401_with_json(client, world):
    resp = client.get("/api/v1/t/alpha/me")
    assert resp.status_code == 401
    assert resp.get_json()["status"] == "unauthenticated"
    resp = client.get("/api/v1/t/alpha/me", headers=bearer("jfu_garbage"))
    assert resp.status_code == 401


def test_pages_send_to_sign_in_and_back(client, world):
    resp = client.get("/t/alpha/villages/")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/t/alpha/login?next=/t/alpha/villages/")
    token = csrf_token(client, "/t/alpha/login?next=/t/alpha/villages/")
    resp = client.post("/t/alpha/login?next=/t/alpha/villages/",
                       data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert resp.headers["Location"] == "/t/alpha/villages/"


def test_open_redirect_is_refused(client, world):
    token = csrf_token(client, "/t/alpha/login")
    resp = client.post("/t/alpha/login?next=//evil.example/x",
                       data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert resp.headers["Location"] == "/t/alpha/"


def test_sign_in_is_audited_and_sessions_are_rows(app, world):
    page_login(app.test_client(), "alpha", "admin")

    def facts():
        return (db.session.execute(select(func.count()).select_from(UserSession)).scalar(),
                db.session.execute(select(func.count()).select_from(AuditEntry)
                                   .where(AuditEntry.action == "account.login")).scalar())

    sessions, logins = _in_alpha(app, world, facts)
    assert sessions == 1 and logins == 1


def test_production_cookie_flags(monkeypatch):
    monkeypatch.setenv("JIFEN_ENV", "production")
    monkeypatch.setenv("JIFEN_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("JIFEN_REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("JIFEN_DATABASE_URL", "postgresql://127.0.0.1/none")
    monkeypatch.setenv("JIFEN_ID_KEYS", '["' + "A" * 43 + '="]')  # production needs the ID number keys too
    monkeypatch.setenv("JIFEN_ID_HMAC_KEY", "h" * 40)
    from jifen import create_app

    app = create_app({"TESTING": True})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert app.config["CELERY"]["task_always_eager"] is False
    assert app.config["CELERY"]["task_acks_late"] is True


def test_account_page_changes_password_and_manages_tokens(app, world):
    client = app.test_client()
    page_login(client, "alpha", "vadmin")
    token = csrf_token(client, "/t/alpha/account")
    wrong = client.post("/t/alpha/account", data={"form": "password", "current": "nope", "password": "New-Field-2026",
                                                  "confirm": "New-Field-2026", "csrf_token": token})
    assert wrong.status_code == 422 and 'id="e-current"' in wrong.get_data(as_text=True)
    ok = client.post("/t/alpha/account", data={"form": "password", "current": PASSWORD, "password": "New-Field-2026",
                                               "confirm": "New-Field-2026", "csrf_token": token})
    assert ok.status_code == 200
    assert page_login(app.test_client(), "alpha", "vadmin", "New-Field-2026").status_code == 302
    made = client.post("/t/alpha/account", data={"form": "token", "name": "手机", "csrf_token": token})
    raw = re.search(r'(jfu_[A-Za-z0-9_-]+)', made.get_data(as_text=True)).group(1)
    assert app.test_client().get("/api/v1/t/alpha/me", headers=bearer(raw)).status_code == 200
    token_id = app.test_client().get("/api/v1/t/alpha/tokens", headers=bearer(raw)).get_json()[0]["id"]
    assert client.post("/t/alpha/account", data={"form": "revoke", "token_id": "garbage",
                                                 "csrf_token": token}).status_code == 404
    assert client.post("/t/alpha/account", data={"form": "revoke", "token_id": token_id,
                                                 "csrf_token": token}).status_code == 200
    assert app.test_client().get("/api/v1/t/alpha/me", headers=bearer(raw)).status_code == 401
    assert client.post("/t/alpha/account", data={"form": "other", "csrf_token": token}).status_code == 400


def test_language_pick_is_stored_on_the_account(app, world):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    token = csrf_token(client, "/t/alpha/")
    client.post("/t/alpha/lang", data={"locale": "en", "next": "/t/alpha/", "csrf_token": token})
    assert "Staff and roles" in client.get("/t/alpha/").get_data(as_text=True)
    fresh = app.test_client()  # another device: signs in and gets English from the account
    page_login(fresh, "alpha", "admin")
    assert "Staff and roles" in fresh.get("/t/alpha/").get_data(as_text=True)
    other = app.test_client()
    page_login(other, "alpha", "vadmin")
    assert "Staff and roles" not in other.get("/t/alpha/").get_data(as_text=True)
    assert "行政村" in other.get("/t/alpha/").get_data(as_text=True)


def test_language_picked_on_the_sign_in_page_survives_sign_in(app, world):
    client = app.test_client()
    token = csrf_token(client, "/t/alpha/login")
    client.post("/lang", data={"locale": "en", "next": "/t/alpha/login", "csrf_token": token})
    assert "Sign in" in client.get("/t/alpha/login").get_data(as_text=True)
    page_login(client, "alpha", "vadmin")
    assert "My account" in client.get("/t/alpha/").get_data(as_text=True)
    fresh = app.test_client()
    page_login(fresh, "alpha", "vadmin")
    assert "My account" in fresh.get("/t/alpha/").get_data(as_text=True)  # stored on the account


def test_staff_and_token_rules_are_in_the_api_document_and_data_conflicts_are_409(app, world):
    """What the staff service checks on the input alone is stated in the API document with its own
    constants (breaking it: 422 naming the field); a username taken, a scope naming nothing of the
    township or a role given twice is a 409 naming the field, and nothing is written."""
    from jifen.platform.accounts.models import MAX_TOKEN_NAME
    from jifen.platform.accounts.service import PHONE_PATTERN, USERNAME_RE
    from jifen.platform.roles.registry import ROLES
    from jifen.platform.staff import service as staff

    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    person = schemas["Staff"]["properties"]
    assert person["username"]["pattern"] == USERNAME_RE.pattern
    assert person["display_name"]["maxLength"] == staff.MAX_DISPLAY_NAME
    assert person["phone"]["pattern"] == PHONE_PATTERN and person["roles"]["minItems"] == 1
    kinds = person["roles"]["items"]["oneOf"]
    assert sorted(r for kind in kinds for r in kind["properties"]["role"]["enum"]) == sorted(ROLES)
    assert schemas["Token"]["properties"]["name"]["maxLength"] == MAX_TOKEN_NAME
    village = str(world.a.villages[0])

    def invite(**over):
        return client.post("/api/v1/t/alpha/staff/", headers=headers, json={
            "username": "newbie", "display_name": "新人", "roles": [{"role": "panel_member", "scope_ids": [village]}]}
            | over)

    def written() -> tuple[int, int]:
        return _in_alpha(app, world, lambda: (db.session.execute(select(func.count()).select_from(User)).scalar(),
                                              db.session.execute(select(func.count()).select_from(AuditEntry))
                                              .scalar()))

    before = written()
    for over, field in (({"display_name": " "}, "display_name"), ({"username": "Big Name"}, "username"),
                        ({"phone": "12-34"}, "phone"), ({"roles": []}, "roles")):
        resp = invite(**over)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.get_json()
    blank = client.post("/api/v1/t/alpha/tokens", json={"name": "  "}, headers=headers)
    assert blank.status_code == 422 and "name" in blank.get_json()["errors"]["json"]
    for over, field in (({"username": "admin"}, "username"),
                        ({"roles": [{"role": "panel_member", "scope_ids": [str(world.b.villages[0])]}]}, "roles"),
                        ({"roles": [{"role": "township_admin"}, {"role": "township_admin", "scope_ids": []}]},
                         "roles")):
        resp = invite(**over)
        assert resp.status_code == 409 and field in resp.get_json()["errors"]["json"], resp.get_json()
    assert written() == before
    assert invite().status_code == 201
