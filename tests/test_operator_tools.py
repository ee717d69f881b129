"""Operator tools (issue 12): setup links and password resets for any account of a township from
the CLI, the county console and its API; setting a password from a link over the API; idempotency
keys that expire and are purged nightly."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import select, update

from jifen.platform import clock
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.idempotency import IdempotencyKey
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import CountyRecord, Tenant
from jifen.platform.townships.offboarding import rows_of
from jifen.tenants.honours.models import RecommendationList
from tests.conftest import PASSWORD, api_token, bearer, csrf_token, page_login

NEW = "Bright-Hill-77"


def _path(url: str) -> str:
    return "/t/" + url.split("/t/", 1)[1]


def _secret(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _in(app, tenant_id, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, tenant_id)):
            out = fn()
            db.session.commit()
            return out


def _audit_actions(app, world, username):
    def read():
        return [a for (a,) in db.session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).all()]
    return _in(app, world.a.tenant_id, read)


# --- setting a password from a link over the API ----------------------------------------------

def test_setup_link_works_over_the_api_once(app, world):
    admin = app.test_client()
    headers = bearer(api_token(admin, "alpha", "admin"))
    resp = admin.post("/api/v1/t/alpha/staff/", headers=headers, json={
        "username": "newbie", "display_name": "新人", "roles": [{"role": "township_admin"}]})
    secret = _secret(resp.get_json()["setup_url"])
    client = app.test_client()
    weak = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": "123456789",
                                                            "confirm": "123456789"})
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]["json"]
    differ = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": NEW, "confirm": NEW + "x"})
    assert differ.status_code == 422 and "confirm" in differ.get_json()["errors"]["json"]
    missing = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret})
    assert missing.status_code == 422 and {"password", "confirm"} <= set(missing.get_json()["errors"]["json"])
    ok = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": NEW, "confirm": NEW})
    assert ok.status_code == 200 and ok.get_json() == {"username": "newbie"}
    assert client.post("/api/v1/t/alpha/auth/token", json={"username": "newbie", "password": NEW}).status_code == 201
    again = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": "Other-Hill-99",
                                                             "confirm": "Other-Hill-99"})
    assert again.status_code == 422 and "link" in again.get_json()["errors"]["json"]
    # the link is alpha's: beta does not know it
    assert client.post("/api/v1/t/beta/auth/setup", json={"secret": secret, "password": NEW,
                                                          "confirm": NEW}).status_code == 404
    assert client.post("/api/v1/t/alpha/auth/setup", json={"secret": "nope", "password": NEW,
                                                           "confirm": NEW}).status_code == 404


# --- reissuing setup links and resetting passwords --------------------------------------------

def test_cli_reissues_a_setup_link_and_resets_a_password(app, world, runner, client):
    vadmin = world.a.username("village_admin")
    old_token = api_token(client, "alpha", vadmin)
    result = runner.invoke(args=["reset-password", "--operator", "op", "--base-url", "https://jifen.example",
                                 "alpha", vadmin])
    assert result.exit_code == 0, result.output
    url = result.output.strip().rsplit(" ", 1)[1]
    assert url.startswith("https://jifen.example/t/alpha/setup/")
    # the old password and the old token stop working at once
    assert client.post("/api/v1/t/alpha/auth/token", json={"username": vadmin, "password": PASSWORD}).status_code == 401
    assert client.get("/api/v1/t/alpha/me", headers=bearer(old_token)).status_code == 401
    # a second link replaces the first; without --base-url it points where texts link to
    app.config["NOTIFY_LINK_BASE_URL"] = "https://cun.example/"
    result = runner.invoke(args=["reissue-setup-link", "--operator", "op", "--username", vadmin, "alpha"])
    assert result.exit_code == 0, result.output
    fresh = result.output.strip().rsplit(" ", 1)[1]
    assert fresh.startswith("https://cun.example/t/alpha/setup/")
    assert client.get(_path(url)).status_code == 404
    assert client.post("/api/v1/t/alpha/auth/setup", json={"secret": _secret(fresh), "password": NEW,
                                                           "confirm": NEW}).status_code == 200
    assert page_login(app.test_client(), "alpha", vadmin, NEW).status_code == 302
    actions = _audit_actions(app, world, vadmin)
    assert "staff.reset_password" in actions and "staff.new_setup_link" in actions
    # without --username: the first administrator
    result = runner.invoke(args=["reissue-setup-link", "--operator", "op", "alpha"])
    assert result.exit_code == 0 and "for admin of alpha" in result.output
    # errors: unknown account, and a township of another county (op2's) is not found
    bad = runner.invoke(args=["reset-password", "--operator", "op", "alpha", "nobody"])
    assert bad.exit_code != 0 and "username" in bad.output
    other = runner.invoke(args=["reset-password", "--operator", "op2", "alpha", vadmin])
    assert other.exit_code != 0 and ("未找到" in other.output or "not found" in other.output.lower())


def test_county_api_resets_a_password_and_other_counties_get_404(app, world):
    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    op2 = bearer(api_token(client, None, "op2"))
    vadmin = world.a.username("village_admin")
    base = "/api/v1/county/townships/alpha/accounts"
    assert client.post(f"{base}/reset-password", json={"username": vadmin}, headers=op2).status_code == 404
    assert client.post(f"{base}/setup-link", json={"username": vadmin}, headers=op2).status_code == 404
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 302  # nothing changed
    resp = client.post(f"{base}/reset-password", json={"username": "nobody"}, headers=op)
    assert resp.status_code == 409 and "username" in resp.get_json()["errors"]["json"]
    assert client.post(f"{base}/reset-password", json={}, headers=op).status_code == 422
    resp = client.post(f"{base}/reset-password", json={"username": vadmin}, headers=op)
    assert resp.status_code == 201 and resp.get_json()["username"] == vadmin
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 422  # the old password is gone
    resp = client.post(f"{base}/setup-link", json={"username": vadmin}, headers=op)
    assert resp.status_code == 201
    assert app.test_client().get(_path(resp.get_json()["setup_url"])).status_code == 200
    # a township user's token is not an operator's
    admin = bearer(api_token(client, "alpha", "admin"))
    assert client.post(f"{base}/setup-link", json={"username": vadmin}, headers=admin).status_code in (401, 403)


def test_county_console_resets_a_password_with_errors_next_to_the_field(app, world):
    client = app.test_client()
    assert page_login(client, None, "op").status_code == 302
    vadmin = world.a.username("village_admin")
    token = csrf_token(client, "/county/townships/alpha")
    bad = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": "nobody",
                                                                "do": "reset"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="e-username"' in html and 'value="nobody"' in html
    ok = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": vadmin, "do": "reset"})
    html = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "/t/alpha/setup/" in html
    link = html.split('id="setup-link"')[1].split(">", 1)[1].split("<", 1)[0].strip()
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 422
    assert app.test_client().get(_path(link)).status_code == 200
    other = app.test_client()
    assert page_login(other, None, "op2").status_code == 302
    token2 = csrf_token(other, "/county/")
    assert other.post("/county/townships/alpha/account", data={"csrf_token": token2, "username": vadmin,
                                                                "do": "link"}).status_code == 404
    assert other.get("/county/townships/alpha").status_code == 404


# --- idempotency keys expire and are purged -----------------------------------------------------

def _age_keys(app, world, hours, key=None):
    def age():
        stmt = update(IdempotencyKey).values(created_at=clock.now() - timedelta(hours=hours))
        if key:
            stmt = stmt.where(IdempotencyKey.key == key)
        db.session.execute(stmt)
    _in(app, world.a.tenant_id, age)


def _keys(app, tenant_id):
    return _in(app, tenant_id, lambda: sorted(k for (k,) in db.session.execute(select(IdempotencyKey.key)).all()))


def test_an_expired_key_is_a_new_request_and_the_nightly_job_purges_only_expired_keys(app, world, runner):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    beta = bearer(api_token(client, "beta", "admin"))

    def make(name, key, h=headers, slug="alpha"):  # recommendation lists: an idempotent create
        return client.post(f"/api/v1/t/{slug}/honours/lists", json={"name_zh": name},
                           headers=h | {"Idempotency-Key": key})

    first = make("one", "k-old")
    assert first.status_code == 201
    assert make("one", "k-old").get_json()["id"] == first.get_json()["id"]  # replayed within the day
    assert make("two", "k-old").status_code == 409  # another body, same key
    _age_keys(app, world, 25, "k-old")
    renewed = make("two", "k-old")  # expired: a new request, even with another body
    assert renewed.status_code == 201 and renewed.get_json()["id"] != first.get_json()["id"]
    assert make("two", "k-old").get_json()["id"] == renewed.get_json()["id"]
    assert make("three", "k-fresh").status_code == 201
    assert make("b", "k-beta", beta, "beta").status_code == 201
    _age_keys(app, world, 30, "k-old")  # alpha's k-old expired again; k-fresh is fresh
    _in(app, world.b.tenant_id, lambda: db.session.execute(
        update(IdempotencyKey).values(created_at=clock.now() - timedelta(hours=30))))
    result = runner.invoke(args=["run-job", "jifen.purge_idempotency_keys", "--tenant", "alpha"])
    assert result.exit_code == 0 and "'removed': 1" in result.output, result.output
    assert _keys(app, world.a.tenant_id) == ["k-fresh"]
    assert _keys(app, world.b.tenant_id) == ["k-beta"]  # another township's keys wait for its own run
    names = _in(app, world.a.tenant_id, lambda: sorted(n for (n,) in db.session.execute(
        select(RecommendationList.name_zh).where(RecommendationList.name_zh.in_(["one", "two", "three"]))).all()))
    assert names == ["one", "three", "two"]  # the replays made nothing more


# --- export and offboarding ----------------------------------------------------------------------

def _plant_formula(app, world):
    from jifen.tenants.households.models import Household

    def plant():
        db.session.get(Household, (world.a.tenant_id, world.a.household)).head_name = "=1+1"
    _in(app, world.a.tenant_id, plant)


def _zip_tables(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        tables = {name[:-4]: list(csv.reader(io.StringIO(zf.read(name).decode("utf-8-sig"))))
                  for name in zf.namelist() if name.endswith(".csv")}
        return tables | {"manifest": json.loads(zf.read("manifest.json"))}


def _records(app):
    with app.app_context():
        return [(r.action, r.tenant_slug, r.details) for r in
                db.session.execute(select(CountyRecord).order_by(CountyRecord.created_at)).scalars()]


def test_export_from_the_cli_the_console_and_the_api(app, world, runner, tmp_path):
    _plant_formula(app, world)
    out = tmp_path / "alpha.zip"
    result = runner.invoke(args=["export-township", "--operator", "op", "--out", str(out), "alpha"])
    assert result.exit_code == 0, result.output
    tables = _zip_tables(out.read_bytes())
    households = tables["households"]
    head_col = households[0].index("head_name")
    heads = {row[head_col] for row in households[1:]}
    assert "'=1+1" in heads  # neutralised for spreadsheets
    assert "password_hash" not in tables["users"][0] and "token_hash" not in tables["user_tokens"][0]
    assert {row[tables["users"][0].index("username")] for row in tables["users"][1:]} >= {"admin", "vadmin"}
    tenant_col = households[0].index("tenant_id")
    assert {row[tenant_col] for row in households[1:]} == {str(world.a.tenant_id)}  # alpha's rows only
    assert tables["manifest"]["tables"]["households"] == len(households) - 1
    assert tables["manifest"]["township"]["slug"] == "alpha"
    other = runner.invoke(args=["export-township", "--operator", "op2", "--out", str(tmp_path / "x.zip"), "alpha"])
    assert other.exit_code != 0 and not (tmp_path / "x.zip").exists()

    console = app.test_client()
    assert page_login(console, None, "op").status_code == 302
    token = csrf_token(console, "/county/townships/alpha")
    resp = console.post("/county/townships/alpha/export", data={"csrf_token": token})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "households" in _zip_tables(resp.data)
    client = app.test_client()
    resp = client.post("/api/v1/county/townships/alpha/export", headers=bearer(api_token(client, None, "op")))
    assert resp.status_code == 200 and _zip_tables(resp.data)["manifest"]["township"]["slug"] == "alpha"
    op2 = bearer(api_token(client, None, "op2"))
    assert client.post("/api/v1/county/townships/alpha/export", headers=op2).status_code == 404
    assert [a for a, slug, _d in _records(app)] == ["township.export"] * 3
    assert "township.export" in _audit_actions(app, world, "op")


def test_offboarding_suspends_then_deletes_every_row_after_the_grace_period(app, world, pw, runner):
    with app.app_context():
        beta_rows = rows_of(world.b.tenant_id)
        assert rows_of(world.a.tenant_id) > 20
    result = runner.invoke(args=["offboard-township", "--operator", "op", "--reason", "合并", "alpha"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        assert alpha.status == "suspended" and alpha.delete_after > clock.now() + timedelta(days=29)
    again = runner.invoke(args=["offboard-township", "--operator", "op", "alpha"])
    assert again.exit_code != 0
    assert app.test_client().get("/t/alpha/login").status_code in (403, 503)  # suspended at once
    assert runner.invoke(args=["offboard-due"]).output == ""  # the grace period has not ended
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.id == world.a.tenant_id)
                           .values(delete_after=clock.now() - timedelta(minutes=1)))
        db.session.commit()
    result = runner.invoke(args=["offboard-due"])
    assert result.exit_code == 0 and result.output.startswith("alpha: deleted"), result.output
    with app.app_context():
        assert db.session.get(Tenant, world.a.tenant_id) is None
        assert rows_of(world.a.tenant_id) == 0
        assert rows_of(world.b.tenant_id) == beta_rows  # the other township is untouched
    assert app.test_client().get("/t/alpha/login").status_code == 404
    actions = [(a, slug) for a, slug, _d in _records(app)]
    assert actions == [("township.offboard", "alpha"), ("township.delete", "alpha")]
    deleted = _records(app)[-1][2]["rows"]
    assert deleted["households"] >= 1 and deleted["audit_entries"] >= 1 and deleted["users"] >= 1
    verify = runner.invoke(args=["audit", "verify", "--tenant", "beta"])
    assert verify.exit_code == 0, verify.output


def test_offboarding_from_the_console_and_the_api_can_be_cancelled(app, world):
    console = app.test_client()
    assert page_login(console, None, "op").status_code == 302
    token = csrf_token(console, "/county/townships/beta")
    assert console.post("/county/townships/beta/offboard", data={"csrf_token": token}).status_code == 302
    html = console.get("/county/townships/beta").get_data(as_text=True)
    assert 'id="delete-after"' in html and "township.offboard" in html
    assert console.post("/county/townships/beta/offboard/cancel", data={"csrf_token": token}).status_code == 302
    html = console.get("/county/townships/beta").get_data(as_text=True)
    assert 'id="delete-after"' not in html
    assert "township.offboard_cancel" in console.get("/county/records").get_data(as_text=True)
    other = app.test_client()
    assert page_login(other, None, "op2").status_code == 302
    token2 = csrf_token(other, "/county/")
    assert other.post("/county/townships/beta/offboard", data={"csrf_token": token2}).status_code == 404
    assert "beta" not in other.get("/county/records").get_data(as_text=True)

    client = app.test_client()
    op, op2 = bearer(api_token(client, None, "op")), bearer(api_token(client, None, "op2"))
    assert client.post("/api/v1/county/townships/beta/offboard", json={}, headers=op2).status_code == 404
    resp = client.post("/api/v1/county/townships/beta/offboard", json={"reason": "合并"}, headers=op)
    assert resp.status_code == 200 and resp.get_json()["delete_after"] and resp.get_json()["status"] == "suspended"
    assert client.post("/api/v1/county/townships/beta/offboard", json={}, headers=op).status_code == 409
    resp = client.post("/api/v1/county/townships/beta/offboard/cancel", headers=op)
    assert resp.status_code == 200 and resp.get_json()["delete_after"] is None
    assert client.post("/api/v1/county/townships/beta/offboard/cancel", headers=op).status_code == 409
    # reactivating also ends an offboarding
    client.post("/api/v1/county/townships/beta/offboard", json={}, headers=op)
    resp = client.post("/api/v1/county/townships/beta/reactivate", headers=op)
    assert resp.get_json()["status"] == "active" and resp.get_json()["delete_after"] is None


# --- retention: notifications purged nightly, and what is kept shown to the township admin ------

def test_old_finished_notifications_are_purged_and_waiting_ones_kept(app, world, runner):
    from jifen.tenants.notifications.models import Notification, NotificationDelivery

    old = clock.now() - timedelta(days=400)

    def make():
        def note(key, delivery, created_at):
            n = Notification(household_id=world.a.household, kind="test", params={}, dedupe_key=key,
                             delivery=delivery, created_at=created_at)
            db.session.add(n)
            db.session.flush()
            return n
        note("old-inbox", "in_app", old)
        sent = note("old-sent", "queued", old)
        db.session.add(NotificationDelivery(notification_id=sent.id, household_id=world.a.household, channel="sms",
                                            state="sent", created_at=old))
        failing = note("old-retrying", "queued", old)
        db.session.add(NotificationDelivery(notification_id=failing.id, household_id=world.a.household,
                                            channel="sms", state="failed", created_at=old))
        note("old-pending", "pending", old)
        note("recent", "in_app", clock.now() - timedelta(days=10))
    _in(app, world.a.tenant_id, make)
    result = runner.invoke(args=["run-job", "jifen.purge_notifications", "--tenant", "alpha"])
    assert result.exit_code == 0 and "'removed': 2" in result.output, result.output
    left = _in(app, world.a.tenant_id, lambda: sorted(k for (k,) in db.session.execute(
        select(Notification.dedupe_key).where(Notification.kind == "test")).all()))
    assert left == ["old-pending", "old-retrying", "recent"]
    deliveries = _in(app, world.a.tenant_id, lambda: [s for (s,) in db.session.execute(
        select(NotificationDelivery.state).where(NotificationDelivery.household_id == world.a.household)).all()])
    assert deliveries == ["failed"]


def test_the_township_admin_sees_the_retention_rules(app, world):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    resp = client.get("/api/v1/t/alpha/audit/retention", headers=admin)
    assert resp.status_code == 200
    rules = {item["key"]: item["rule"] for item in resp.get_json()}
    assert {"notifications", "ranking_snapshots", "idempotency_keys", "credentials"} <= set(rules)
    assert "365 天" in rules["notifications"] and "7 天" in rules["ranking_snapshots"]  # the township's language
    assert "24 小时" in rules["idempotency_keys"]
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert client.get("/api/v1/t/alpha/audit/retention", headers=vadmin).status_code == 403
    pages = app.test_client()
    assert page_login(pages, "alpha", "admin").status_code == 302
    assert "/t/alpha/audit/retention" in pages.get("/t/alpha/").get_data(as_text=True)
    html = pages.get("/t/alpha/audit/retention").get_data(as_text=True)
    assert 'data-key="notifications"' in html and "365" in html and "数据保留" in html
